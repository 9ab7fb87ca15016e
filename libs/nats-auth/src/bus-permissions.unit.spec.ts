import type { BusNames, BusPermissions } from './bus-permissions.js';
import { DURABLE_CONSUMERS, PROGRAM_ROLES, SERVICE_ROLES, clientPermissions, parseClientAllow, servicePermissions } from './bus-permissions.js';

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

/** What NATS decides for a publish: allowed by some allow pattern and matched by no deny pattern (deny wins). */
function mayPublish(permissions: BusPermissions, subject: string): boolean {
  return permissions.publish.allow.some((pattern) => matches(pattern, subject)) && !permissions.publish.deny.some((pattern) => matches(pattern, subject));
}

const STREAMS = [names.eventStream, names.deadLetterStream, names.usageStream, names.deliveryStream, names.notificationStream];

/** Every identity but the operator: each program's user and a client of each kind. */
const identities: readonly (readonly [string, BusPermissions])[] = [
  ...PROGRAM_ROLES.map((role) => [role, servicePermissions(role, names)] as const),
  ['client verify', clientPermissions('c', [{ kind: 'verify' }], names)],
  ['client admin', clientPermissions('c', [{ kind: 'admin' }], names)],
  ['client deliveries', clientPermissions('c', [parseClientAllow('deliveries:acme/billing')], names)],
];

describe('the permission table', () => {
  it('matches subjects as NATS does, so the checks below can fail', () => {
    expect(matches('$JS.API.CONSUMER.CREATE.EV.*', '$JS.API.CONSUMER.CREATE.EV.auditor-trail')).toBe(true);
    expect(matches('$JS.API.STREAM.UPDATE.>', '$JS.API.STREAM.UPDATE.EV')).toBe(true);
    expect(mayPublish({ publish: { allow: ['a.*'], deny: ['a.b'] }, subscribe: { allow: [], deny: [] }, respond: false }, 'a.b')).toBe(false);
    expect(mayPublish({ publish: { allow: ['a.*'], deny: ['a.b'] }, subscribe: { allow: [], deny: [] }, respond: false }, 'a.c')).toBe(true);
  });

  it('lets only the migrate job create or update a stream; the services only read their configuration', () => {
    for (const [identity, permissions] of identities) {
      for (const stream of STREAMS) {
        for (const operation of ['CREATE', 'UPDATE'])
          expect([identity, operation, stream, mayPublish(permissions, `$JS.API.STREAM.${operation}.${stream}`)]).toEqual([
            identity,
            operation,
            stream,
            identity === 'migrate',
          ]);
        if (identity !== 'client verify' && identity !== 'client admin' && identity !== 'client deliveries')
          expect([identity, stream, mayPublish(permissions, `$JS.API.STREAM.INFO.${stream}`)]).toEqual([identity, stream, true]);
      }
      // A stream of another name (one that would capture other subjects) is nobody's to create.
      expect([identity, mayPublish(permissions, '$JS.API.STREAM.CREATE.CAPTURE')]).toEqual([identity, false]);
    }
  });

  it('lets the migrate job configure the streams and do nothing else', () => {
    const migrate = servicePermissions('migrate', names);
    expect([...migrate.publish.allow].sort()).toEqual(
      ['$JS.API.INFO', ...STREAMS.flatMap((stream) => ['INFO', 'CREATE', 'UPDATE'].map((operation) => `$JS.API.STREAM.${operation}.${stream}`))].sort(),
    );
    for (const subject of ['$JS.API.STREAM.DELETE.EV', '$JS.API.STREAM.PURGE.EV', '$JS.API.STREAM.MSG.DELETE.EV', '$JS.API.CONSUMER.DELETE.EV.auditor-trail'])
      expect([subject, mayPublish(migrate, subject)]).toEqual([subject, false]);
    expect(migrate.subscribe.allow).toEqual(['_INBOX.migrate.>']);
    expect(migrate.respond).toBe(false);
  });

  it("lets only a durable consumer's owner create, read, pull from or acknowledge it, whatever wildcards others hold", () => {
    const durables = Object.entries(DURABLE_CONSUMERS).flatMap(([owner, list]) => list.map((durable) => ({ owner, ...durable })));
    expect(durables.map(({ durable }) => durable).sort()).toEqual([
      'anomaly-detector-usage',
      'auditor-security-alerts',
      'auditor-trail',
      'auditor-usage',
      'rotator-incidents',
      'rotator-notification-webhooks',
    ]);
    for (const { owner, stream: streamOf, durable } of durables) {
      const stream = names[streamOf];
      const operations = [
        `$JS.API.CONSUMER.CREATE.${stream}.${durable}`,
        `$JS.API.CONSUMER.CREATE.${stream}.${durable}.kl.events.>`,
        `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
        `$JS.API.CONSUMER.INFO.${stream}.${durable}`,
        `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
        `$JS.ACK.${stream}.${durable}.1.10.10.1700000000000000000.0`,
      ];
      for (const [identity, permissions] of identities)
        for (const subject of operations) expect([identity, subject, mayPublish(permissions, subject)]).toEqual([identity, subject, identity === owner]);
    }
  });

  it('still lets the key projections tail the event stream through ordered consumers of their own naming', () => {
    for (const role of ['issuer', 'verifier', 'rotator', 'auditor'] as const) {
      const permissions = servicePermissions(role, names);
      for (const subject of ['$JS.API.CONSUMER.CREATE.EV.oc_abc_1', '$JS.API.CONSUMER.INFO.EV.oc_abc_1', '$JS.API.CONSUMER.MSG.NEXT.EV.oc_abc_1'])
        expect([role, subject, mayPublish(permissions, subject)]).toEqual([role, subject, true]);
    }
  });

  it('lets only the relay publish events', () => {
    for (const role of SERVICE_ROLES) expect(servicePermissions(role, names).publish.allow.includes('kl.events.>')).toBe(role === 'relay');
  });

  it("lets only the relay announce the store's head, and the projections that judge freshness by it hear it", () => {
    for (const role of SERVICE_ROLES) {
      const permissions = servicePermissions(role, names);
      expect(permissions.publish.allow.includes('kl.v1.relay.heartbeat')).toBe(role === 'relay');
      expect(permissions.subscribe.allow.includes('kl.v1.relay.heartbeat')).toBe(role === 'verifier' || role === 'issuer' || role === 'auditor');
    }
  });

  it('lets only the verifier publish what verifiers tell each other and the usage batches', () => {
    for (const role of SERVICE_ROLES) {
      const publish = servicePermissions(role, names).publish.allow;
      expect(publish.some((subject) => subject.startsWith('kl.v1.verifiers.') || subject.startsWith('kl.usage.'))).toBe(role === 'verifier');
    }
  });

  it('lets only the auditor answer usage.last-used, and only the verifier receive keys.verify and keys.verify-batch', () => {
    for (const role of SERVICE_ROLES) {
      const subscribe = servicePermissions(role, names).subscribe.allow;
      expect(subscribe.includes('kl.v1.usage.last-used')).toBe(role === 'auditor');
      expect(subscribe.some((pattern) => matches(pattern, 'kl.v1.keys.verify'))).toBe(role === 'verifier');
      expect(subscribe.some((pattern) => matches(pattern, 'kl.v1.keys.verify-batch'))).toBe(role === 'verifier');
    }
  });

  it("lets only the auditor answer a key's history and the permission audit, and an admin client, not a verify client, ask them", () => {
    const history = ['kl.v1.audit.trail', 'kl.v1.audit.at', 'kl.v1.audit.check', 'kl.v1.audit.report'];
    for (const role of SERVICE_ROLES) {
      const subscribe = servicePermissions(role, names).subscribe.allow;
      for (const subject of history)
        expect([role, subject, subscribe.some((pattern) => matches(pattern, subject))]).toEqual([role, subject, role === 'auditor']);
    }
    const admin = clientPermissions('ops', [parseClientAllow('admin')], names);
    const verify = clientPermissions('billing', [parseClientAllow('verify')], names);
    for (const subject of history) {
      expect([subject, mayPublish(admin, subject)]).toEqual([subject, true]);
      expect([subject, mayPublish(verify, subject)]).toEqual([subject, false]);
    }
  });

  it('lets only the auditor answer anomalies.list and anomalies.explain, only the issuer anomalies.ack, and an admin client, not a verify client, ask them', () => {
    const answerer: Record<string, string> = { 'kl.v1.anomalies.list': 'auditor', 'kl.v1.anomalies.explain': 'auditor', 'kl.v1.anomalies.ack': 'issuer' };
    for (const role of SERVICE_ROLES) {
      const subscribe = servicePermissions(role, names).subscribe.allow;
      for (const [subject, owner] of Object.entries(answerer))
        expect([role, subject, subscribe.some((pattern) => matches(pattern, subject))]).toEqual([role, subject, role === owner]);
    }
    const admin = clientPermissions('ops', [parseClientAllow('admin')], names);
    const verify = clientPermissions('billing', [parseClientAllow('verify')], names);
    for (const subject of Object.keys(answerer)) {
      expect([subject, mayPublish(admin, subject)]).toEqual([subject, true]);
      expect([subject, mayPublish(verify, subject)]).toEqual([subject, false]);
    }
  });

  it('denies every service and the migrate job the deletion and purge of streams, which only the operator identity may do', () => {
    for (const role of PROGRAM_ROLES) {
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

  it('lets a verify client publish keys.verify and keys.verify-batch and nothing else', () => {
    expect(clientPermissions('billing', [parseClientAllow('verify')], names).publish.allow).toEqual(['kl.v1.keys.verify', 'kl.v1.keys.verify-batch']);
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
