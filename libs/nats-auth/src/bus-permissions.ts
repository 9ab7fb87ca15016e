import {
  DURABLE_CONSUMER_NAMES,
  apiSubject,
  auditCheckpointsSubject,
  deadLetterSubject,
  deliveryAckSubject,
  deliverySubject,
  eventSubjectFilter,
  relayHeartbeatSubject,
  securityAlertSubject,
  usageSubject,
  verifierAppliedSubject,
  verifierConsumptionSubject,
} from '@keyledger/contracts';

/**
 * The NATS names of one installation that permissions are written against: its subject prefix
 * and its streams. `busTopology()` (libs/event-bus) returns an object of this shape.
 */
export interface BusNames {
  readonly subjectPrefix: string;
  readonly eventStream: string;
  readonly deadLetterStream: string;
  readonly usageStream: string;
  readonly deliveryStream: string;
  readonly notificationStream: string;
}

/** What a user may publish and subscribe to, and whether it may answer requests (`allow_responses`). */
export interface BusPermissions {
  readonly publish: { readonly allow: readonly string[]; readonly deny: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[]; readonly deny: readonly string[] };
  /** Answers requests: may publish once to the reply subject of each request it received, within a minute. */
  readonly respond: boolean;
}

/**
 * The NATS identities: the services, one user each; `migrate`, the migration job, the one that
 * configures the streams (create and update, nothing else); and `operator`, the one that may
 * administer them (delete, purge).
 */
export const BUS_ROLES = ['issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector', 'relay', 'migrate', 'operator'] as const;
export type BusRole = (typeof BUS_ROLES)[number];
/** The identities of Keyledger's programs, each run with its own `.creds`: the services and the migrate job. */
export type ProgramRole = Exclude<BusRole, 'operator'>;
export const PROGRAM_ROLES: readonly ProgramRole[] = BUS_ROLES.filter((role): role is ProgramRole => role !== 'operator');
export type ServiceRole = Exclude<ProgramRole, 'migrate'>;
export const SERVICE_ROLES: readonly ServiceRole[] = PROGRAM_ROLES.filter((role): role is ServiceRole => role !== 'migrate');

/** What an internal client may do: `verify` keys, receive one owner's `deliveries`, or call the `admin` API. */
export type ClientAllow =
  { readonly kind: 'verify' } | { readonly kind: 'admin' } | { readonly kind: 'deliveries'; readonly tenant: string; readonly owner: string };

/**
 * Each identity receives its replies on its own inbox prefix, `_INBOX.<user name>`, and may
 * subscribe to nothing else under `_INBOX`: no user can read another's replies (issued keys,
 * verify answers). The connection derives the prefix from the user name in its credentials.
 */
export function inboxPrefixOf(userName: string): string {
  return `_INBOX.${userName}`;
}

/** The NATS user name of a client: `client-<name>`, never a service's name. */
export function clientUserName(name: string): string {
  return `client-${name}`;
}

/** Nobody but the operator identity deletes or purges a stream or deletes a stored message. */
const STREAM_ADMINISTRATION = ['$JS.API.STREAM.DELETE.>', '$JS.API.STREAM.PURGE.>', '$JS.API.STREAM.MSG.DELETE.>', '$JS.API.CONSUMER.DELETE.>'];

/**
 * Nobody but the migrate job (and the operator identity) creates a stream or changes one's
 * configuration: a service that could would shrink the event stream's limits, or add subjects
 * such as `<prefix>.v1.keys.>` to it so that JetStream keeps the keys sent for verification.
 */
const STREAM_CONFIGURATION = ['$JS.API.STREAM.CREATE.>', '$JS.API.STREAM.UPDATE.>'];

function installationStreams(names: BusNames): string[] {
  return [names.eventStream, names.deadLetterStream, names.usageStream, names.deliveryStream, names.notificationStream];
}

/** The admin API: every request/reply operation but verify answers and the rotator's internal `usage.last-used`. */
function adminApi(prefix: string): string[] {
  return [
    `${apiSubject(prefix, 'keys')}.*`,
    `${apiSubject(prefix, 'rotation-policy')}.*`,
    `${apiSubject(prefix, 'incident-policy')}.*`,
    `${apiSubject(prefix, 'anomaly-thresholds')}.*`,
    `${apiSubject(prefix, 'networks')}.*`,
    `${apiSubject(prefix, 'owners')}.*`,
    `${apiSubject(prefix, 'tenants')}.*`,
    apiSubject(prefix, 'usage.key'),
    apiSubject(prefix, 'usage.tenant'),
    apiSubject(prefix, 'usage.rotation'),
    ...AUDIT_LOG_OPERATIONS.map((operation) => apiSubject(prefix, operation)),
    ...KEY_HISTORY_OPERATIONS.map((operation) => apiSubject(prefix, operation)),
    ...ANOMALY_FINDING_OPERATIONS.map((operation) => apiSubject(prefix, operation)),
    apiSubject(prefix, 'anomalies.ack'),
    apiSubject(prefix, 'status'),
  ];
}

/** The auditor's transparency log: checkpoints and proofs, answered by the auditor. */
const AUDIT_LOG_OPERATIONS = ['audit.checkpoint', 'audit.inclusion', 'audit.consistency'] as const;

/** A key's history from the store (trail, state and verdict at an instant), the trail search and the permission audit, answered by the auditor to admin keys. */
const KEY_HISTORY_OPERATIONS = ['audit.trail', 'audit.at', 'audit.check', 'audit.search', 'audit.report'] as const;

/** Anomaly findings, listed and explained by the auditor from the store (`anomalies.ack` is the issuer's: it appends). */
const ANOMALY_FINDING_OPERATIONS = ['anomalies.list', 'anomalies.explain'] as const;

/** Every service checks the installation's streams at start (EventStreamNotReady, libs/event-bus): it reads their configuration. */
function streamInfo(names: BusNames): string[] {
  return ['$JS.API.INFO', ...installationStreams(names).map((stream) => `$JS.API.STREAM.INFO.${stream}`)];
}

/** The migrate job creates the streams and brings their configuration up to date, and may do nothing else. */
function streamConfiguration(names: BusNames): string[] {
  return [...streamInfo(names), ...installationStreams(names).flatMap((stream) => [`$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.UPDATE.${stream}`])];
}

/** A durable consumer: the stream it reads (a stream of BusNames) and its name. */
export interface DurableConsumerName {
  readonly stream: 'eventStream' | 'usageStream' | 'notificationStream';
  readonly durable: string;
}

/**
 * THE list of durable consumers and the one service that owns each (DURABLE_CONSUMER_NAMES, the
 * names libs/audit-trail, libs/key-incidents (two), libs/usage-ledger, libs/security-alerts and libs/anomaly-watch give the consumer runtime). The owner may
 * create, read, pull from and acknowledge its durables; every other identity is denied exactly
 * that on each of them, so its wider grants (an ordered consumer's wildcard name) cannot reach one.
 */
export const DURABLE_CONSUMERS: { readonly [R in ServiceRole]: readonly DurableConsumerName[] } = {
  issuer: [],
  verifier: [],
  rotator: [
    { stream: 'eventStream', durable: DURABLE_CONSUMER_NAMES.rotatorIncidents },
    // Tenants' notifications, POSTed to their webhooks.
    { stream: 'notificationStream', durable: DURABLE_CONSUMER_NAMES.rotatorNotificationWebhooks },
  ],
  auditor: [
    { stream: 'eventStream', durable: DURABLE_CONSUMER_NAMES.auditTrail },
    { stream: 'usageStream', durable: DURABLE_CONSUMER_NAMES.auditorUsage },
    // The services' SecurityAlerts, kept in Postgres for the SIEM export.
    { stream: 'notificationStream', durable: DURABLE_CONSUMER_NAMES.auditorSecurityAlerts },
  ],
  'anomaly-detector': [{ stream: 'usageStream', durable: DURABLE_CONSUMER_NAMES.anomalyUsage }],
  relay: [],
};

/** What only a durable's owner may do on it: create or update it, read it, pull from it, acknowledge its messages. */
function durableOperations(stream: string, durable: string): string[] {
  return [
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.INFO.${stream}.${durable}`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `$JS.ACK.${stream}.${durable}.>`,
  ];
}

/** A durable pull consumer of the consumer runtime: its own operations, reading the stream's messages, and dead-lettering its failures. */
function durableConsumer(names: BusNames, { stream, durable }: DurableConsumerName): string[] {
  return [...durableOperations(names[stream], durable), `$JS.API.STREAM.MSG.GET.${names[stream]}`, deadLetterSubject(names.subjectPrefix, durable)];
}

/** Every durable's operations but those of the durables `owner` owns (none for a client or the migrate job): deny entries, which win over any allow. */
function othersDurables(names: BusNames, owner: BusRole | undefined): string[] {
  return SERVICE_ROLES.filter((role) => role !== owner).flatMap((role) =>
    DURABLE_CONSUMERS[role].flatMap(({ stream, durable }) => durableOperations(names[stream], durable)),
  );
}

/**
 * An ordered consumer (the key projections' tail of the event stream): the client names it
 * itself (`oc_<nuid>_<n>`), so the name is a wildcard; without a filter, or with `filter`.
 */
function orderedConsumer(stream: string, filter?: string): string[] {
  return [
    filter === undefined ? `$JS.API.CONSUMER.CREATE.${stream}.*` : `$JS.API.CONSUMER.CREATE.${stream}.*.${filter}`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
  ];
}

/** The issuer answers every key operation but `keys.verify` and `keys.verify-batch`: it never sees a key presented for verification. */
const ISSUER_KEY_OPERATIONS = ['issue', 'get', 'list', 'update', 'topup', 'suspend', 'resume', 'revoke', 'rotate', 'report-leak', 'report-anomaly'];

interface Grant {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  readonly respond: boolean;
}

/**
 * THE permission table: what each service's NATS user may publish and subscribe to, derived
 * from what its code does (the subjects of libs/contracts, the streams of libs/event-bus; the
 * durable consumers of DURABLE_CONSUMERS are added to their owners). Local start-up and the
 * Kubernetes manifests both mint their users from here. Every service also answers
 * `<prefix>.v1.status` and reads the streams' configuration.
 */
const SERVICE_GRANTS: { readonly [R in ServiceRole]: (names: BusNames) => Grant } = {
  relay: (n) => ({
    publish: [eventSubjectFilter(n.subjectPrefix), `$JS.API.STREAM.MSG.GET.${n.eventStream}`, relayHeartbeatSubject(n.subjectPrefix)],
    subscribe: [],
    respond: false,
  }),
  verifier: (n) => ({
    publish: [
      ...orderedConsumer(n.eventStream),
      verifierAppliedSubject(n.subjectPrefix),
      verifierConsumptionSubject(n.subjectPrefix),
      usageSubject(n.subjectPrefix),
    ],
    // Verifiers hear each other's consumption and applied positions (credits wait until every live verifier applied them).
    subscribe: [
      apiSubject(n.subjectPrefix, 'keys.verify'),
      apiSubject(n.subjectPrefix, 'keys.verify-batch'),
      verifierConsumptionSubject(n.subjectPrefix),
      verifierAppliedSubject(n.subjectPrefix),
      relayHeartbeatSubject(n.subjectPrefix),
    ],
    respond: true,
  }),
  issuer: (n) => ({
    publish: [...orderedConsumer(n.eventStream), `${n.subjectPrefix}.v1.delivery.>`],
    subscribe: [
      ...ISSUER_KEY_OPERATIONS.map((operation) => apiSubject(n.subjectPrefix, `keys.${operation}`)),
      `${apiSubject(n.subjectPrefix, 'rotation-policy')}.*`,
      `${apiSubject(n.subjectPrefix, 'incident-policy')}.*`,
      `${apiSubject(n.subjectPrefix, 'anomaly-thresholds')}.*`,
      `${apiSubject(n.subjectPrefix, 'networks')}.*`,
      `${apiSubject(n.subjectPrefix, 'owners')}.*`,
      `${apiSubject(n.subjectPrefix, 'tenants')}.*`,
      apiSubject(n.subjectPrefix, 'anomalies.ack'),
      verifierAppliedSubject(n.subjectPrefix),
      relayHeartbeatSubject(n.subjectPrefix),
    ],
    respond: true,
  }),
  rotator: (n) => ({
    publish: [
      ...orderedConsumer(n.eventStream),
      `${n.subjectPrefix}.v1.delivery.>`,
      `${n.subjectPrefix}.v1.notifications.>`,
      apiSubject(n.subjectPrefix, 'usage.last-used'),
    ],
    subscribe: [deliveryAckSubject(n.subjectPrefix)],
    respond: true,
  }),
  auditor: (n) => ({
    publish: [...orderedConsumer(n.eventStream), auditCheckpointsSubject(n.subjectPrefix)],
    // The relay's heartbeats: its key projection authenticates admin keys, fresh by them as the issuer's.
    subscribe: [
      ...[
        'usage.key',
        'usage.tenant',
        'usage.rotation',
        'usage.last-used',
        ...AUDIT_LOG_OPERATIONS,
        ...KEY_HISTORY_OPERATIONS,
        ...ANOMALY_FINDING_OPERATIONS,
      ].map((operation) => apiSubject(n.subjectPrefix, operation)),
      relayHeartbeatSubject(n.subjectPrefix),
    ],
    respond: true,
  }),
  // Tells a tenant of an enumeration from a source network, on its notification subject.
  'anomaly-detector': (n) => ({ publish: [`${n.subjectPrefix}.v1.notifications.>`], subscribe: [], respond: false }),
};

function dedupe(subjects: readonly string[]): string[] {
  return [...new Set(subjects)];
}

/** The permissions of a service's user, of the migrate job's, or of the operator identity (everything). */
export function servicePermissions(role: BusRole, names: BusNames): BusPermissions {
  if (role === 'operator') return { publish: { allow: ['>'], deny: [] }, subscribe: { allow: ['>'], deny: [] }, respond: true };
  if (role === 'migrate') {
    return {
      publish: { allow: streamConfiguration(names), deny: dedupe([...STREAM_ADMINISTRATION, ...othersDurables(names, role)]) },
      subscribe: { allow: [`${inboxPrefixOf(role)}.>`], deny: [] },
      respond: false,
    };
  }
  const grant = SERVICE_GRANTS[role](names);
  return {
    publish: {
      allow: dedupe([
        ...streamInfo(names),
        // Every service checks the events it reads, and alerts on those it refuses.
        securityAlertSubject(names.subjectPrefix),
        ...grant.publish,
        ...DURABLE_CONSUMERS[role].flatMap((durable) => durableConsumer(names, durable)),
      ]),
      deny: dedupe([...STREAM_ADMINISTRATION, ...STREAM_CONFIGURATION, ...othersDurables(names, role)]),
    },
    subscribe: { allow: dedupe([apiSubject(names.subjectPrefix, 'status'), `${inboxPrefixOf(role)}.>`, ...grant.subscribe]), deny: [] },
    // Every service answers `status`, so every one may reply.
    respond: true,
  };
}

/** The permissions of an internal client's user (`keyledger clients add`). */
export function clientPermissions(name: string, allows: readonly ClientAllow[], names: BusNames): BusPermissions {
  const prefix = names.subjectPrefix;
  const publish = allows.flatMap((allow): string[] => {
    switch (allow.kind) {
      case 'verify':
        return [apiSubject(prefix, 'keys.verify'), apiSubject(prefix, 'keys.verify-batch')];
      case 'admin':
        return adminApi(prefix);
      case 'deliveries':
        // The live-key client: find the delivery stream, tail only this owner's subject, acknowledge.
        return [
          '$JS.API.INFO',
          '$JS.API.STREAM.NAMES',
          `$JS.API.STREAM.INFO.${names.deliveryStream}`,
          ...orderedConsumer(names.deliveryStream, deliverySubject(prefix, allow.tenant, allow.owner)),
          deliveryAckSubject(prefix),
        ];
      default:
        return allow satisfies never;
    }
  });
  // An admin client may also follow the checkpoints as the auditor publishes them (a monitor, a witness).
  const hears = allows.some((allow) => allow.kind === 'admin') ? [auditCheckpointsSubject(prefix)] : [];
  return {
    publish: { allow: dedupe(publish), deny: dedupe([...STREAM_ADMINISTRATION, ...STREAM_CONFIGURATION, ...othersDurables(names, undefined)]) },
    subscribe: { allow: [`${inboxPrefixOf(clientUserName(name))}.>`, ...hears], deny: [] },
    respond: false,
  };
}

const CLIENT_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Why a client name is not acceptable, or undefined. */
export function clientNameProblem(name: string): string | undefined {
  return CLIENT_NAME.test(name)
    ? undefined
    : `client name ${JSON.stringify(name)} must be 1-40 lowercase letters, digits and '-', starting with a letter or digit`;
}

/** Parses `verify`, `admin` or `deliveries:<tenant>/<owner>`; a RangeError says what is wrong. */
export function parseClientAllow(text: string): ClientAllow {
  if (text === 'verify' || text === 'admin') return { kind: text };
  const match = /^deliveries:([^/]+)\/(.+)$/.exec(text);
  if (match?.[1] !== undefined && match[2] !== undefined) {
    if (!TOKEN.test(match[1])) throw new RangeError(`tenant ${JSON.stringify(match[1])} in ${JSON.stringify(text)} is not a valid tenant`);
    return { kind: 'deliveries', tenant: match[1], owner: match[2] };
  }
  throw new RangeError(`unknown permission ${JSON.stringify(text)}: expected verify, admin or deliveries:<tenant>/<owner>`);
}

export function formatClientAllow(allow: ClientAllow): string {
  return allow.kind === 'deliveries' ? `deliveries:${allow.tenant}/${allow.owner}` : allow.kind;
}
