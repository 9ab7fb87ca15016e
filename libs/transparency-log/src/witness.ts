import { parseCheckpoint } from './checkpoint.js';
import { verifyConsistency } from './merkle-tree.js';
import type { NoteSigner, NoteVerifierKey } from './signed-note.js';
import { openNote, splitNote } from './signed-note.js';
import { CheckpointFormatError, NoteError } from './transparency-log.errors.js';
import type { AddCheckpointRequest } from './witness-protocol.js';

/** What a witness remembers of one log: the latest checkpoint it cosigned. */
export interface WitnessedCheckpoint {
  readonly size: number;
  /** Base64. */
  readonly rootHash: string;
}

/** A witness's answer to `add-checkpoint` (c2sp.org/tlog-witness), with its new record of the log when it cosigned. */
export type WitnessAnswer =
  | { readonly status: 200; readonly body: string; readonly record: WitnessedCheckpoint }
  | { readonly status: 400 | 403 | 404 | 409 | 422; readonly body: string; readonly contentType?: string };

/**
 * A witness's decision on one `add-checkpoint` request, by c2sp.org/tlog-witness: the checkpoint
 * must be signed by a key the witness trusts for its origin (404 for an unknown origin, 403 when
 * no trusted signature verifies), extend what the witness last cosigned for that origin (409 with
 * that size when the request starts elsewhere, or the same size with another root), by a
 * consistency proof that verifies (422). Then the witness cosigns it (c2sp.org/tlog-cosignature
 * v1) at `now` and remembers it; the caller persists that record before answering, atomically
 * with the check against the record it read.
 */
export function witnessAddCheckpoint(
  request: AddCheckpointRequest,
  logKeys: readonly NoteVerifierKey[],
  last: WitnessedCheckpoint | undefined,
  witness: Pick<NoteSigner, 'cosign'>,
  now: Date,
): WitnessAnswer {
  let origin: string;
  try {
    origin = parseCheckpoint(splitNote(request.note).text).origin;
  } catch (error) {
    if (error instanceof NoteError || error instanceof CheckpointFormatError) return { status: 400, body: `not a checkpoint: ${error.message}\n` };
    throw error;
  }
  // By c2sp.org/tlog-checkpoint a log's key is named after its origin.
  const known = logKeys.filter((key) => key.name === origin);
  if (known.length === 0) return { status: 404, body: 'unknown log origin\n' };
  let text: string;
  try {
    text = openNote(request.note, known).text;
  } catch (error) {
    if (error instanceof NoteError) return { status: 403, body: `the checkpoint is not signed by a trusted key of its log: ${error.message}\n` };
    throw error;
  }
  const checkpoint = parseCheckpoint(text);
  if (request.oldSize > checkpoint.size) return { status: 400, body: 'the old size exceeds the checkpoint size\n' };
  const lastSize = last?.size ?? 0;
  if (request.oldSize !== lastSize) return { status: 409, body: `${lastSize}\n`, contentType: 'text/x.tlog.size' };
  const root = checkpoint.rootHash.toString('base64');
  if (last && checkpoint.size === last.size && root !== last.rootHash) return { status: 409, body: `${lastSize}\n`, contentType: 'text/x.tlog.size' };
  if (lastSize === 0 ? request.proof.length > 0 : !verifyConsistency(lastSize, checkpoint.size, Buffer.from(last!.rootHash, 'base64'), checkpoint.rootHash, request.proof))
    return { status: 422, body: 'the consistency proof does not verify\n' };
  return { status: 200, body: witness.cosign(text, BigInt(Math.floor(now.getTime() / 1000))), record: { size: checkpoint.size, rootHash: root } };
}
