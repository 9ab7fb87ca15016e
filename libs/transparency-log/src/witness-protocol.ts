import { HASH_BYTES } from './merkle-tree.js';
import { splitNote } from './signed-note.js';

/** c2sp.org/tlog-witness: at most this many consistency proof lines in a request. */
export const MAX_PROOF_LINES = 63;
/** The media type of a witness's 409 answer: the size it last cosigned. */
export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size';

/** An `add-checkpoint` request (c2sp.org/tlog-witness): the size the witness last cosigned, a consistency proof from it, the checkpoint. */
export interface AddCheckpointRequest {
  readonly oldSize: number;
  readonly proof: readonly Buffer[];
  /** The signed checkpoint note, with every signature it carries. */
  readonly note: string;
}

/** A request body that is not an `add-checkpoint` request: the witness answers 400. */
export class WitnessRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WitnessRequestError';
  }
}

/** The request body: `old <size>`, the proof hashes in base64, a blank line, the note. */
export function formatAddCheckpoint(request: AddCheckpointRequest): string {
  if (request.proof.length > MAX_PROOF_LINES) throw new WitnessRequestError(`a consistency proof has at most ${MAX_PROOF_LINES} hashes`);
  return `old ${request.oldSize}\n${request.proof.map((hash) => `${hash.toString('base64')}\n`).join('')}\n${request.note}`;
}

const SIZE = /^(0|[1-9][0-9]{0,15})$/;
const HASH = /^[A-Za-z0-9+/]{43}=$/;

/** Parses an `add-checkpoint` body; throws WitnessRequestError saying what does not fit. */
export function parseAddCheckpoint(body: string): AddCheckpointRequest {
  const blank = body.indexOf('\n\n');
  if (blank < 0) throw new WitnessRequestError('no blank line between the proof and the checkpoint');
  const [first, ...hashes] = body.slice(0, blank).split('\n');
  const size = first?.startsWith('old ') ? first.slice(4) : undefined;
  if (size === undefined || !SIZE.test(size) || !Number.isSafeInteger(Number(size))) throw new WitnessRequestError('the first line is not "old <size>"');
  if (hashes.length > MAX_PROOF_LINES) throw new WitnessRequestError(`more than ${MAX_PROOF_LINES} consistency proof lines`);
  const proof = hashes.map((line) => {
    if (!HASH.test(line)) throw new WitnessRequestError('a consistency proof line is not the base64 of a 32-byte hash');
    return Buffer.from(line, 'base64');
  });
  if (proof.some((hash) => hash.length !== HASH_BYTES)) throw new WitnessRequestError('a consistency proof line is not 32 bytes');
  const note = body.slice(blank + 2);
  // Only its shape here; its signatures are the witness's to check.
  splitNote(note);
  return { oldSize: Number(size), proof, note };
}

/** The signature lines of a witness's 200 answer, each `— <name> <base64>` and a newline. */
export function parseCosignatureLines(body: string): string[] {
  if (body.length === 0 || !body.endsWith('\n')) throw new WitnessRequestError('the witness answered no signature lines');
  const lines = body.slice(0, -1).split('\n');
  if (lines.some((line) => !line.startsWith('— '))) throw new WitnessRequestError('the witness answered something other than signature lines');
  return lines.map((line) => `${line}\n`);
}
