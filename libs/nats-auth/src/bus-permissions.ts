import {
  apiSubject,
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

/** The services, one NATS user each, plus `operator`: the one identity that may administer streams (delete, purge). */
export const BUS_ROLES = ['issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector', 'relay', 'operator'] as const;
export type BusRole = (typeof BUS_ROLES)[number];
export type ServiceRole = Exclude<BusRole, 'operator'>;
export const SERVICE_ROLES: readonly ServiceRole[] = BUS_ROLES.filter((role): role is ServiceRole => role !== 'operator');

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

/** The admin API: every request/reply operation but verify answers and the rotator's internal `usage.last-used`. */
function adminApi(prefix: string): string[] {
  return [
    `${apiSubject(prefix, 'keys')}.*`,
    `${apiSubject(prefix, 'rotation-policy')}.*`,
    `${apiSubject(prefix, 'incident-policy')}.*`,
    `${apiSubject(prefix, 'owners')}.*`,
    apiSubject(prefix, 'usage.key'),
    apiSubject(prefix, 'usage.tenant'),
    apiSubject(prefix, 'usage.rotation'),
    apiSubject(prefix, 'status'),
  ];
}

/** Every service creates or updates the installation's streams at start (any may start first) and reads their info. */
function streamUpkeep(names: BusNames): string[] {
  const streams = [names.eventStream, names.deadLetterStream, names.usageStream, names.deliveryStream, names.notificationStream];
  return [
    '$JS.API.INFO',
    ...streams.flatMap((stream) => [`$JS.API.STREAM.INFO.${stream}`, `$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.UPDATE.${stream}`]),
  ];
}

/** A durable pull consumer of the consumer runtime: create or update it, read it, pull, ack, and dead-letter its failures. */
function durableConsumer(names: BusNames, stream: string, durable: string): string[] {
  return [
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.INFO.${stream}.${durable}`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `$JS.ACK.${stream}.${durable}.>`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    deadLetterSubject(names.subjectPrefix, durable),
  ];
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

/** The issuer answers every key operation but `keys.verify`: it never sees a key presented for verification. */
const ISSUER_KEY_OPERATIONS = ['issue', 'get', 'list', 'update', 'topup', 'suspend', 'resume', 'revoke', 'rotate', 'report-leak', 'report-anomaly'];

interface Grant {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  readonly respond: boolean;
}

/**
 * THE permission table: what each service's NATS user may publish and subscribe to, derived
 * from what its code does (the subjects of libs/contracts, the streams of libs/event-bus, the
 * durable consumers each module adds). Local start-up and the Kubernetes manifests both mint
 * their users from here. Every service also answers `<prefix>.v1.status` and keeps the streams up to date.
 */
const SERVICE_GRANTS: { readonly [R in ServiceRole]: (names: BusNames) => Grant } = {
  relay: (n) => ({ publish: [eventSubjectFilter(n.subjectPrefix), `$JS.API.STREAM.MSG.GET.${n.eventStream}`, relayHeartbeatSubject(n.subjectPrefix)], subscribe: [], respond: false }),
  verifier: (n) => ({
    publish: [
      ...orderedConsumer(n.eventStream),
      verifierAppliedSubject(n.subjectPrefix),
      verifierConsumptionSubject(n.subjectPrefix),
      usageSubject(n.subjectPrefix),
    ],
    // Verifiers hear each other's consumption and applied positions (credits wait until every live verifier applied them).
    subscribe: [apiSubject(n.subjectPrefix, 'keys.verify'), verifierConsumptionSubject(n.subjectPrefix), verifierAppliedSubject(n.subjectPrefix), relayHeartbeatSubject(n.subjectPrefix)],
    respond: true,
  }),
  issuer: (n) => ({
    publish: [...orderedConsumer(n.eventStream), `${n.subjectPrefix}.v1.delivery.>`],
    subscribe: [
      ...ISSUER_KEY_OPERATIONS.map((operation) => apiSubject(n.subjectPrefix, `keys.${operation}`)),
      `${apiSubject(n.subjectPrefix, 'rotation-policy')}.*`,
      `${apiSubject(n.subjectPrefix, 'incident-policy')}.*`,
      `${apiSubject(n.subjectPrefix, 'owners')}.*`,
      verifierAppliedSubject(n.subjectPrefix),
      relayHeartbeatSubject(n.subjectPrefix),
    ],
    respond: true,
  }),
  rotator: (n) => ({
    publish: [
      ...orderedConsumer(n.eventStream),
      ...durableConsumer(n, n.eventStream, 'rotator-incidents'),
      `${n.subjectPrefix}.v1.delivery.>`,
      `${n.subjectPrefix}.v1.notifications.>`,
      apiSubject(n.subjectPrefix, 'usage.last-used'),
    ],
    subscribe: [deliveryAckSubject(n.subjectPrefix)],
    respond: true,
  }),
  auditor: (n) => ({
    publish: [...orderedConsumer(n.eventStream), ...durableConsumer(n, n.eventStream, 'auditor-trail'), ...durableConsumer(n, n.usageStream, 'auditor-usage')],
    subscribe: ['usage.key', 'usage.tenant', 'usage.rotation', 'usage.last-used'].map((operation) => apiSubject(n.subjectPrefix, operation)),
    respond: true,
  }),
  'anomaly-detector': () => ({ publish: [], subscribe: [], respond: false }),
};

function dedupe(subjects: readonly string[]): string[] {
  return [...new Set(subjects)];
}

/** The permissions of a service's user, or of the operator identity (everything). */
export function servicePermissions(role: BusRole, names: BusNames): BusPermissions {
  if (role === 'operator') return { publish: { allow: ['>'], deny: [] }, subscribe: { allow: ['>'], deny: [] }, respond: true };
  const grant = SERVICE_GRANTS[role](names);
  return {
    // Every service checks the events it reads, and alerts on those it refuses.
    publish: { allow: dedupe([...streamUpkeep(names), securityAlertSubject(names.subjectPrefix), ...grant.publish]), deny: STREAM_ADMINISTRATION },
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
        return [apiSubject(prefix, 'keys.verify')];
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
  return {
    publish: { allow: dedupe(publish), deny: STREAM_ADMINISTRATION },
    subscribe: { allow: [`${inboxPrefixOf(clientUserName(name))}.>`], deny: [] },
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
