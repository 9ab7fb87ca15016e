import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { eventMetadataSchema } from '@keyledger/contracts';
import type { EventRow } from '@keyledger/event-store';
import { GENESIS_HASH, SELECT_EVENT, eventHash, toEnvelope } from '@keyledger/event-store';
import { parseCheckpoint } from './checkpoint.js';
import type { LeafEvent } from './event-leaf.js';
import { eventLeafHash } from './event-leaf.js';
import { inclusionProof, proofNodes, verifyInclusion } from './merkle-tree.js';
import { NotInLogError, readTreeNodes } from './postgres-transparency-log.js';
import type { NoteVerifierKey } from './signed-note.js';
import { openNote } from './signed-note.js';

/** The version of the bundle document. */
export const AUDIT_BUNDLE_FORMAT = 'keyledger-audit-bundle/v1';

const base64Hash = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be the base64 of 32 bytes');

const bundleEventSchema = z
  .object({
    leafIndex: z.number().int().min(0),
    position: z.string().regex(/^[1-9][0-9]{0,18}$/),
    event: z
      .object({
        eventId: z.string(),
        streamId: z.string(),
        streamVersion: z.number().int().min(1),
        type: z.string(),
        schemaVersion: z.number().int().min(1),
        occurredAt: z.string(),
        data: z.unknown(),
        metadata: eventMetadataSchema,
        hash: z.string().regex(/^[0-9a-f]{64}$/),
      })
      .strict(),
    proof: z.array(base64Hash).max(64),
  })
  .strict();

/**
 * An offline audit bundle: a signed checkpoint, and events of the log with each one's inclusion
 * proof in it. Whoever holds the log's verifier key checks it with nothing else
 * (`verifyAuditBundle`, `keyledger audit verify --bundle`).
 */
export const auditBundleSchema = z
  .object({
    format: z.literal(AUDIT_BUNDLE_FORMAT),
    checkpoint: z.string(),
    events: z.array(bundleEventSchema),
  })
  .strict();

export type AuditBundle = z.infer<typeof auditBundleSchema>;

interface LeafRow extends EventRow {
  leaf_index: string;
}

/**
 * Writes the bundle of the events from `since` (a position, or an instant their occurredAt is
 * at or after) up to the latest stored checkpoint, each with its inclusion proof in it.
 * Throws NotInLogError when the log has no checkpoint. Reads in pages.
 */
export async function exportAuditBundle(db: DataSource, since: { position: string } | { occurredAt: Date }, pageSize = 2000): Promise<AuditBundle> {
  const [latest] = await db.query<{ tree_size: string; note: string }[]>(`select tree_size::text, note from tlog_checkpoints order by tlog_checkpoints.tree_size desc limit 1`);
  if (!latest) throw new NotInLogError('the log has signed no checkpoint yet');
  const size = Number(latest.tree_size);
  const [first] = await db.query<{ leaf_index: string | null }[]>(
    'position' in since
      ? `select min(leaf_index)::text as leaf_index from tlog_leaves where position >= $1::bigint`
      : `select min(l.leaf_index)::text as leaf_index from tlog_leaves l join events e on e.position = l.position where e.occurred_at >= $1`,
    ['position' in since ? since.position : since.occurredAt],
  );
  const events: AuditBundle['events'] = [];
  let from = first?.leaf_index === null || first?.leaf_index === undefined ? size : Number(first.leaf_index);
  while (from < size) {
    const rows = await db.query<LeafRow[]>(
      `select l.leaf_index::text, e.* from tlog_leaves l
         join lateral (select ${SELECT_EVENT} from events where events.position = l.position) e on true
        where l.leaf_index >= $1 and l.leaf_index < $2 order by l.leaf_index limit $3`,
      [from, size, pageSize],
    );
    if (rows.length === 0) break;
    const indices = rows.map((row) => Number(row.leaf_index));
    const lookup = await readTreeNodes(db, indices.flatMap((index) => proofNodes({ inclusion: { index, size } })));
    for (const [i, row] of rows.entries()) {
      const envelope = toEnvelope(row);
      const event: LeafEvent = {
        eventId: envelope.eventId,
        streamId: envelope.streamId,
        streamVersion: envelope.streamVersion,
        type: envelope.type,
        schemaVersion: envelope.schemaVersion,
        occurredAt: envelope.occurredAt,
        data: envelope.data,
        metadata: envelope.metadata,
        hash: envelope.hash,
      };
      events.push({ leafIndex: indices[i]!, position: envelope.position, event, proof: inclusionProof(indices[i]!, size, lookup).map((hash) => hash.toString('base64')) });
    }
    from = indices[indices.length - 1]! + 1;
  }
  return { format: AUDIT_BUNDLE_FORMAT, checkpoint: latest.note, events };
}

/** What is wrong with a bundle, and where. */
export type BundleProblem =
  | { readonly kind: 'malformed'; readonly detail: string }
  | { readonly kind: 'checkpoint'; readonly detail: string }
  /** The event, as the bundle has it, is not the one the signed tree holds at that leaf. */
  | { readonly kind: 'not-in-checkpoint'; readonly leafIndex: number; readonly position: string }
  /** The event does not chain onto its stream's previous event in the bundle. */
  | { readonly kind: 'chain-break'; readonly leafIndex: number; readonly position: string };

export interface BundleReport {
  readonly ok: boolean;
  readonly checkpoint?: { readonly origin: string; readonly treeSize: number; readonly rootHash: string } | undefined;
  readonly eventsChecked: number;
  readonly problems: readonly BundleProblem[];
}

/**
 * Checks a bundle offline with the log's verifier key(s) alone: the checkpoint's signature, each
 * event's leaf (recomputed from its content and chain hash) against its inclusion proof in the
 * checkpoint, and each stream's chain where the bundle holds consecutive events (or its first).
 */
export function verifyAuditBundle(input: unknown, keys: readonly NoteVerifierKey[]): BundleReport {
  const parsed = auditBundleSchema.safeParse(input);
  if (!parsed.success) return { ok: false, eventsChecked: 0, problems: [{ kind: 'malformed', detail: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }] };
  let checkpoint: ReturnType<typeof parseCheckpoint>;
  try {
    checkpoint = parseCheckpoint(openNote(parsed.data.checkpoint, keys).text);
  } catch (error) {
    return { ok: false, eventsChecked: 0, problems: [{ kind: 'checkpoint', detail: (error as Error).message }] };
  }
  const problems: BundleProblem[] = [];
  const heads = new Map<string, { version: number; hash: string }>();
  for (const { leafIndex, position, event, proof } of parsed.data.events) {
    let leaf: Buffer | undefined;
    try {
      leaf = eventLeafHash(event);
    } catch {
      leaf = undefined;
    }
    const proved = leaf !== undefined && verifyInclusion(leafIndex, checkpoint.size, leaf, proof.map((hash) => Buffer.from(hash, 'base64')), checkpoint.rootHash);
    if (!proved) problems.push({ kind: 'not-in-checkpoint', leafIndex, position });
    const previous = heads.get(event.streamId);
    const chainedFrom = event.streamVersion === 1 ? GENESIS_HASH : previous?.version === event.streamVersion - 1 ? Buffer.from(previous.hash, 'hex') : undefined;
    if (proved && chainedFrom && eventHash(chainedFrom, event).toString('hex') !== event.hash) problems.push({ kind: 'chain-break', leafIndex, position });
    heads.set(event.streamId, { version: event.streamVersion, hash: event.hash });
  }
  return {
    ok: problems.length === 0,
    checkpoint: { origin: checkpoint.origin, treeSize: checkpoint.size, rootHash: checkpoint.rootHash.toString('base64') },
    eventsChecked: parsed.data.events.length,
    problems,
  };
}
