import { parseAllDocuments, parse } from 'yaml';
import { PROGRAM_ROLES } from './bus-permissions.js';
import { MAX_CONTROL_LINE, newOperatorSeeds, newUserSeed, serverJwts, userCreds } from './identities.js';
import { servicePermissions } from './bus-permissions.js';
import { natsHelmAuthValues, serviceCredsSecrets } from './kubernetes-manifests.js';

describe('Kubernetes manifests from the operator', () => {
  it("keeps every service's user JWT, under a long subject prefix, well inside the server's control line", async () => {
    const prefix = `kl_t_${'x'.repeat(40)}.keyledger`;
    const names = { subjectPrefix: prefix, eventStream: 'E'.repeat(64), deadLetterStream: 'D'.repeat(64), usageStream: 'U'.repeat(64), deliveryStream: 'V'.repeat(64), notificationStream: 'N'.repeat(64) };
    const seeds = newOperatorSeeds();
    for (const role of PROGRAM_ROLES) {
      const creds = await userCreds(seeds, role, newUserSeed(), servicePermissions(role, names));
      const jwt = /-----BEGIN NATS USER JWT-----\s+(\S+)/.exec(creds)?.[1] ?? '';
      // The CONNECT line adds a signature, a name and options: about 500 bytes.
      expect({ role, bytes: jwt.length + 1000 < MAX_CONTROL_LINE }).toEqual({ role, bytes: true });
    }
  });

  it('gives the NATS chart the operator, the system account and the preloaded accounts', async () => {
    const jwts = await serverJwts(newOperatorSeeds(), {});
    expect(parse(natsHelmAuthValues(jwts))).toEqual({
      config: {
        merge: {
          max_control_line: MAX_CONTROL_LINE,
          operator: jwts.operatorJwt,
          system_account: jwts.systemAccount,
          resolver: 'MEMORY',
          resolver_preload: { [jwts.systemAccount]: jwts.systemAccountJwt, [jwts.account]: jwts.accountJwt },
        },
      },
    });
  });

  it('makes one Secret per service and one for the migrate job, each holding exactly its creds, whatever characters they hold', () => {
    const documents = parseAllDocuments(serviceCredsSecrets((role) => `creds of ${role}\n"quoted": value\n`, 'keyledger')).map(
      (document) => document.toJS() as { metadata: { name: string }; stringData: Record<string, string> },
    );
    expect(documents.map((secret) => secret.metadata.name)).toEqual(PROGRAM_ROLES.map((role) => `keyledger-nats-${role}`));
    expect(documents.map((secret) => secret.stringData)).toEqual(PROGRAM_ROLES.map((role) => ({ 'user.creds': `creds of ${role}\n"quoted": value\n` })));
  });
});
