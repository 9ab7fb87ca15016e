import { z } from 'zod';
import { eventIdSchema } from './event-envelope.js';

/** Why an event was refused: not authentic, not of its type's shape, or not an event at all. */
export const EVENT_REJECTION_REASONS = [
  /** Its MAC does not match: forged or edited without the event key. */
  'bad-mac',
  /** Sealed with an event key version this process does not hold. */
  'unknown-key-version',
  /** A stored row without a MAC (inserted by SQL, or from before event MACs and never sealed), or a usage batch without a seal. */
  'unsealed',
  /** Authentic, but its data does not fit its type's schema. */
  'bad-schema',
  /** A type outside the closed set, or a schema version without a schema. */
  'unknown-type',
  /** Published on a subject other than its own type's. */
  'wrong-subject',
  /** Not JSON, or not an event envelope with a seal. */
  'malformed',
] as const;
export type EventRejectionReason = (typeof EVENT_REJECTION_REASONS)[number];

/** Where a rejected event was met: a message from NATS, or a row read from the event store. */
export const EVENT_REJECTION_SOURCES = ['bus', 'store'] as const;
export type EventRejectionSource = (typeof EVENT_REJECTION_SOURCES)[number];

/**
 * What a service publishes on `<prefix>.v1.notifications._security` when it refuses events: the
 * first refusal of an interval as it happens, and at most a few alerts per interval after it;
 * `rejected` counts every refusal since the previous alert (this one included), so a flood
 * of forgeries is reported in full without flooding the subject. Never carries the event's data.
 */
export const securityAlertSchema = z
  .object({
    kind: z.literal('events-rejected'),
    /** The service and instance that refused them. */
    service: z.string().min(1).max(200),
    at: z.iso.datetime({ offset: true }),
    /** The latest refusal. */
    source: z.enum(EVENT_REJECTION_SOURCES),
    reason: z.enum(EVENT_REJECTION_REASONS),
    eventId: eventIdSchema.optional(),
    streamId: z.string().max(250).optional(),
    subject: z.string().max(500).optional(),
    position: z.string().regex(/^\d{1,20}$/).optional(),
    /** Refusals since the previous alert, this one included (at least 1). */
    rejected: z.number().int().positive(),
  })
  .strict();

export type SecurityAlert = z.infer<typeof securityAlertSchema>;
