import { parseAllDocuments, parse } from 'yaml';
import { SERVICE_ROLES } from './bus-permissions.js';
import { newOperatorSeeds, serverJwts } from './identities.js';
import { natsHelmAuthValues, serviceCredsSecrets } from './kubernetes-manifests.js';

describe('Kubernetes manifests from the operator', () => {
  it('gives the NATS chart the operator, the system account and the preloaded accounts', async () => {
    const jwts = await serverJwts(newOperatorSeeds(), {});
    expect(parse(natsHelmAuthValues(jwts))).toEqual({
      config: {
        merge: {
          operator: jwts.operatorJwt,
          system_account: jwts.systemAccount,
          resolver: 'MEMORY',
          resolver_preload: { [jwts.systemAccount]: jwts.systemAccountJwt, [jwts.account]: jwts.accountJwt },
        },
      },
    });
  });

  it('makes one Secret per service holding exactly its creds, whatever characters they hold', () => {
    const documents = parseAllDocuments(serviceCredsSecrets((role) => `creds of ${role}\n"quoted": value\n`, 'keyledger')).map(
      (document) => document.toJS() as { metadata: { name: string }; stringData: Record<string, string> },
    );
    expect(documents.map((secret) => secret.metadata.name)).toEqual(SERVICE_ROLES.map((role) => `keyledger-nats-${role}`));
    expect(documents.map((secret) => secret.stringData)).toEqual(SERVICE_ROLES.map((role) => ({ 'user.creds': `creds of ${role}\n"quoted": value\n` })));
  });
});
