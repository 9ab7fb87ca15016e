import type { BusNames } from './bus-permissions.js';
import { SERVICE_ROLES, clientPermissions, parseClientAllow, servicePermissions } from './bus-permissions.js';

const names: BusNames = {
  subjectPrefix: 'kl',
  eventStream: 'EV',
  deadLetterStream: 'EV_DLQ',
  usageStream: 'EV_USAGE',
  deliveryStream: 'EV_DELIVERY',
  notificationStream: 'EV_NOTIFICATIONS',
};

/** NATS subject matching: `*` one token, `>` the rest. */
function matches(pattern: string, subject: string): boolean {
  const want = pattern.split('.');
  const have = subject.split('.');
  for (const [index, token] of want.entries()) {
    if (token === '>') return have.length > index;
    if (token !== '*' && token !== have[index]) return false;
  }
  return want.length === have.length;
}

describe('the permission table', () => {
  it('lets only the relay publish events', () => {
    for (const role of SERVICE_ROLES) expect(servicePermissions(role, names).publish.allow.includes('kl.events.>')).toBe(role === 'relay');
  });

  it("lets only the relay announce the store's head, and the projections that judge freshness by it hear it", () => {
    for (const role of SERVICE_ROLES) {
      const permissions = servicePermissions(role, names);
      expect(permissions.publish.allow.includes('kl.v1.relay.heartbeat')).toBe(role === 'relay');
      expect(permissions.subscribe.allow.includes('kl.v1.relay.heartbeat')).toBe(role === 'verifier' || role === 'issuer');
    }
  });

  it('lets only the verifier publish what verifiers tell each other and the usage batches', () => {
    for (const role of SERVICE_ROLES) {
      const publish = servicePermissions(role, names).publish.allow;
      expect(publish.some((subject) => subject.startsWith('kl.v1.verifiers.') || subject.startsWith('kl.usage.'))).toBe(role === 'verifier');
    }
  });

  it('lets only the auditor answer usage.last-used, and only the verifier receive keys.verify', () => {
    for (const role of SERVICE_ROLES) {
      const subscribe = servicePermissions(role, names).subscribe.allow;
      expect(subscribe.includes('kl.v1.usage.last-used')).toBe(role === 'auditor');
      expect(subscribe.some((pattern) => matches(pattern, 'kl.v1.keys.verify'))).toBe(role === 'verifier');
    }
  });

  it('denies every service the deletion and purge of streams, which only the operator identity may do', () => {
    for (const role of SERVICE_ROLES) {
      const { publish } = servicePermissions(role, names);
      expect(publish.deny).toEqual(expect.arrayContaining(['$JS.API.STREAM.DELETE.>', '$JS.API.STREAM.PURGE.>']));
      expect(publish.allow.some((subject) => subject.includes('.DELETE.') || subject.includes('.PURGE.') || subject === '>' || subject === '$JS.API.>')).toBe(
        false,
      );
    }
    expect(servicePermissions('operator', names).publish.allow).toEqual(['>']);
  });

  it('gives each identity its own inbox and no other', () => {
    expect(servicePermissions('rotator', names).subscribe.allow).toContain('_INBOX.rotator.>');
    expect(clientPermissions('billing', [{ kind: 'verify' }], names).subscribe.allow).toEqual(['_INBOX.client-billing.>']);
  });

  it('lets a verify client publish keys.verify and nothing else', () => {
    expect(clientPermissions('billing', [parseClientAllow('verify')], names).publish.allow).toEqual(['kl.v1.keys.verify']);
  });

  it("limits a deliveries client's consumer to its owner's delivery subject", () => {
    const allow = clientPermissions('app', [parseClientAllow('deliveries:acme/billing')], names).publish.allow;
    expect(allow).toContain('$JS.API.CONSUMER.CREATE.EV_DELIVERY.*.kl.v1.delivery.acme.billing');
    expect(allow).toContain('kl.v1.deliveries.ack');
    expect(allow.filter((subject) => subject.startsWith('$JS.API.CONSUMER.CREATE.'))).toHaveLength(1);
  });

  it('refuses an unknown permission with a message naming it', () => {
    expect(() => parseClientAllow('everything')).toThrow('unknown permission "everything"');
    expect(() => parseClientAllow('deliveries:a.b/c')).toThrow('is not a valid tenant');
  });
});
