/**
 * NATS subject layout. Every subject starts with a configurable prefix so that several
 * installations (or test runs) can share one NATS server without seeing each other.
 *
 *   <prefix>.events.<category>.<EventType>   every stored event, published by the relay
 *   <prefix>.dlq.<consumer>                  messages a consumer gave up on
 *   <prefix>.usage.v1.batches                usage records (KeyUsed) in batches, from the verifiers
 *   <prefix>.v1.notifications.<tenant>       incidents on the tenant's keys and what was done, from the rotator
 *   <prefix>.v1.notifications._security      SecurityAlerts: events a service refused (forged, edited, malformed)
 *   <prefix>.v1.relay.heartbeat              the store's head and its time, sealed, every second from the relay leader (core NATS, in no stream)
 *   <prefix>.v1.audit.checkpoints            each checkpoint the auditor signs (a C2SP signed note, as text)
 */
import { utf8Base64url } from './web-globals.js';

const TOKEN = /^[A-Za-z0-9_-]+$/;

function token(value: string, what: string): string {
  if (!TOKEN.test(value)) {
    throw new RangeError(`${what} is not a valid NATS subject token: ${JSON.stringify(value)}`);
  }
  return value;
}

/** Validates a subject prefix such as `keyledger` or `kl_test_1a2b.keyledger`. */
export function assertSubjectPrefix(prefix: string): string {
  prefix.split('.').forEach((part) => token(part, 'subject prefix'));
  return prefix;
}

export function eventSubject(prefix: string, category: string, eventType: string): string {
  return `${prefix}.events.${token(category, 'stream category')}.${token(eventType, 'event type')}`;
}

/** Matches every event of one category (or all events when category is omitted). */
export function eventSubjectFilter(prefix: string, category?: string): string {
  return category === undefined ? `${prefix}.events.>` : `${prefix}.events.${token(category, 'stream category')}.>`;
}

/**
 * The durable JetStream consumers, by name. Each belongs to one service, which alone may create,
 * read, pull from and acknowledge it (DURABLE_CONSUMERS in libs/nats-auth, the permission table).
 */
export const DURABLE_CONSUMER_NAMES = {
  auditTrail: 'auditor-trail',
  auditorUsage: 'auditor-usage',
  auditorSecurityAlerts: 'auditor-security-alerts',
  rotatorIncidents: 'rotator-incidents',
  rotatorNotificationWebhooks: 'rotator-notification-webhooks',
  anomalyUsage: 'anomaly-detector-usage',
} as const;

export function deadLetterSubject(prefix: string, consumer: string): string {
  return `${prefix}.dlq.${token(consumer, 'consumer name')}`;
}

export function deadLetterFilter(prefix: string): string {
  return `${prefix}.dlq.>`;
}

/** Request/reply API subjects, versioned: `<prefix>.v1.keys.verify`. */
export function apiSubject(prefix: string, operation: string): string {
  return `${prefix}.v1.${operation
    .split('.')
    .map((part) => token(part, 'operation'))
    .join('.')}`;
}

/** Where every live verifier announces the store position it has applied (revocation fences). */
/** Where verifiers tell each other how much of each rate-limit window they have used. */
export function verifierConsumptionSubject(prefix: string): string {
  return `${assertSubjectPrefix(prefix)}.v1.verifiers.consumption`;
}

export function verifierAppliedSubject(prefix: string): string {
  return `${prefix}.v1.verifiers.applied`;
}

/**
 * Where the relay leader announces the store's newest position and when it read it, so key
 * projections can tell from the data whether they are current. Core NATS: a heartbeat is only
 * worth its age, so no stream keeps one.
 */
export function relayHeartbeatSubject(prefix: string): string {
  return `${assertSubjectPrefix(prefix)}.v1.relay.heartbeat`;
}

const OWNER_TOKEN = /^[A-Za-z0-9-][A-Za-z0-9_-]*$/;

/**
 * An owner as one subject token: itself when it is letters, digits, `-` and `_` (not first),
 * else `_` and its UTF-8 in base64url, so every owner has exactly one token and no two share one.
 */
export function ownerSubjectToken(owner: string): string {
  return OWNER_TOKEN.test(owner) ? owner : `_${utf8Base64url(owner)}`;
}

/** Where keys sealed to an owner's public key are published: `<prefix>.v1.delivery.<tenant>.<owner token>`. */
export function deliverySubject(prefix: string, tenant: string, owner: string): string {
  return `${assertSubjectPrefix(prefix)}.v1.delivery.${token(tenant, 'tenant')}.${ownerSubjectToken(owner)}`;
}

/** Every delivery subject of an installation (the delivery stream's subjects). */
export function deliverySubjectFilter(prefix: string): string {
  return `${assertSubjectPrefix(prefix)}.v1.delivery.>`;
}

/**
 * Where clients acknowledge delivered keys (request/reply): `<prefix>.v1.deliveries.ack`. Not
 * under `<prefix>.v1.delivery.>`, which the delivery stream captures: a request there would be
 * stored and answered by JetStream instead of the rotator.
 */
export function deliveryAckSubject(prefix: string): string {
  return `${assertSubjectPrefix(prefix)}.v1.deliveries.ack`;
}

/** Where verifiers publish their batches of usage records (the usage stream's subjects). */
export function usageSubject(prefix: string): string {
  return `${prefix}.usage.v1.batches`;
}

/** Every usage message of an installation. */
export function usageSubjectFilter(prefix: string): string {
  return `${prefix}.usage.>`;
}

/** Where the rotator tells a tenant about incidents on its keys: `<prefix>.v1.notifications.<tenant>`. */
export function notificationSubject(prefix: string, tenant: string): string {
  return `${assertSubjectPrefix(prefix)}.v1.notifications.${token(tenant, 'tenant')}`;
}

/** Every notification subject of an installation (the notification stream's subjects). */
export function notificationSubjectFilter(prefix: string): string {
  return `${assertSubjectPrefix(prefix)}.v1.notifications.>`;
}

/**
 * Where services raise SecurityAlerts (events they refused): `<prefix>.v1.notifications._security`.
 * Under the notification stream's subjects, so alerts are kept; `_` cannot start a tenant id,
 * so no tenant's notifications share it.
 */
export function securityAlertSubject(prefix: string): string {
  return `${assertSubjectPrefix(prefix)}.v1.notifications._security`;
}

/**
 * Where the auditor publishes each checkpoint of its transparency log as it signs it: the signed
 * note's text (c2sp.org/tlog-checkpoint), for monitors and witnesses to keep and cosign.
 */
export function auditCheckpointsSubject(prefix: string): string {
  return `${assertSubjectPrefix(prefix)}.v1.audit.checkpoints`;
}
