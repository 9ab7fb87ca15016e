import { z } from 'zod';
import { eventIdSchema } from './event-envelope.js';

/**
 * The auditor's transparency log over NATS (`<prefix>.v1.audit.checkpoint`, `audit.inclusion`,
 * `audit.consistency`) and HTTP (`GET /v1/audit/checkpoint`, `/v1/audit/inclusion`,
 * `/v1/audit/consistency`). Every answer holds hashes and signed checkpoints only, never an
 * event's content: whoever asks about an event already holds it and recomputes its leaf.
 * Hashes are base64; a checkpoint is its C2SP signed note, as text.
 */

const treeSize = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const position = z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a positive decimal event position');

/** The latest checkpoint; with `refresh`, the tree is first brought up to the store and a checkpoint signed if it grew. */
export const auditCheckpointRequestSchema = z.object({ refresh: z.boolean().optional() }).strict();

/** The inclusion proof of one event, by id or by position, in the checkpoint of `treeSize` (default: the latest). */
export const auditInclusionRequestSchema = z
  .object({ eventId: eventIdSchema.optional(), position: position.optional(), treeSize: treeSize.optional() })
  .strict()
  .refine((request) => (request.eventId === undefined) !== (request.position === undefined), { message: 'give exactly one of eventId and position' });

/** The consistency proof between the trees of `oldSize` and `newSize` leaves (newSize at most the latest checkpoint's). */
export const auditConsistencyRequestSchema = z
  .object({ oldSize: treeSize, newSize: treeSize })
  .strict()
  .refine((request) => request.oldSize <= request.newSize, { message: 'oldSize must not exceed newSize', path: ['oldSize'] });

export type AuditInclusionRequest = z.infer<typeof auditInclusionRequestSchema>;
export type AuditConsistencyRequest = z.infer<typeof auditConsistencyRequestSchema>;

export interface AuditCheckpoint {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: string;
  readonly signedAt: string;
  /** The signed note (c2sp.org/tlog-checkpoint). */
  readonly note: string;
}

export interface AuditInclusionProof {
  readonly eventId: string;
  readonly position: string;
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leafHash: string;
  readonly proof: readonly string[];
  /** The signed checkpoint the proof leads to. */
  readonly checkpoint: string;
}

export interface AuditConsistencyProof {
  readonly oldSize: number;
  readonly newSize: number;
  readonly proof: readonly string[];
  /** The signed checkpoints of those sizes, when the log signed one of that size. */
  readonly oldCheckpoint?: string | undefined;
  readonly newCheckpoint?: string | undefined;
}
