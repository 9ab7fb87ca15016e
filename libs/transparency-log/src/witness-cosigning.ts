import type { DataSource } from 'typeorm';
import type { PostgresTransparencyLog, StoredCheckpoint } from './postgres-transparency-log.js';
import type { NoteVerifierKey } from './signed-note.js';
import { openNote } from './signed-note.js';
import { NoteError } from './transparency-log.errors.js';
import { TLOG_SIZE_CONTENT_TYPE, WitnessRequestError, formatAddCheckpoint, parseCosignatureLines } from './witness-protocol.js';

/** A witness the log asks for cosignatures: its cosigner key (type 0x04, or 0x01) and its submission prefix. */
export interface WitnessEndpoint {
  readonly key: NoteVerifierKey;
  /** c2sp.org/tlog-witness submission prefix: `add-checkpoint` is POSTed to `<url>/add-checkpoint`. */
  readonly url: string;
}

/** What asking one witness about the latest checkpoint came to. */
export interface CosigningOutcome {
  readonly witness: string;
  readonly treeSize: number;
  readonly outcome: 'cosigned' | 'held' | 'refused' | 'unreachable';
  /** Why, when not cosigned. */
  readonly detail?: string;
}

export interface WitnessCosigningOptions {
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** `<name>+<hex key id>`: how a witness is named in the table and in outcomes. */
export function witnessId(key: NoteVerifierKey): string {
  return `${key.name}+${key.keyId.toString(16).padStart(8, '0')}`;
}

/**
 * Gathers witnesses' cosignatures of the log's checkpoints (c2sp.org/tlog-witness, the log's
 * side): for each configured witness that has not cosigned the latest checkpoint, POSTs
 * `add-checkpoint` with a consistency proof from the last checkpoint that witness cosigned
 * (asking again from the size it names when it answers 409), checks what it answers with its
 * key, and stores the line. Checkpoints are served with the stored lines that still verify
 * under a configured witness key: a line edited in the database is dropped, never served.
 */
export class WitnessCosigning {
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(
    private readonly db: Pick<DataSource, 'query'>,
    private readonly log: Pick<PostgresTransparencyLog, 'latestCheckpoint' | 'consistency'>,
    readonly witnesses: readonly WitnessEndpoint[],
    options: WitnessCosigningOptions = {},
  ) {
    this.fetch = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Asks each witness that lacks it for a cosignature of the latest checkpoint. */
  async cosignLatest(): Promise<CosigningOutcome[]> {
    const latest = await this.log.latestCheckpoint();
    if (!latest || latest.treeSize === 0 || this.witnesses.length === 0) return [];
    // Only a stored line that verifies counts as held: a row written by SQL must not silence a witness.
    const rows = await this.db.query<{ witness: string; line: string }[]>(`select witness, line from tlog_cosignatures where tree_size = $1`, [latest.treeSize]);
    const held = new Set(
      rows.filter((row) => this.witnesses.some((witness) => witnessId(witness.key) === row.witness && verifies(latest.note + row.line, witness.key))).map((row) => row.witness),
    );
    return Promise.all(
      this.witnesses.map((witness) =>
        held.has(witnessId(witness.key)) ? Promise.resolve({ witness: witnessId(witness.key), treeSize: latest.treeSize, outcome: 'held' as const }) : this.ask(witness, latest),
      ),
    );
  }

  /** The checkpoint's note with every stored cosignature that verifies under a configured witness key. */
  async withCosignatures(checkpoint: StoredCheckpoint): Promise<string> {
    if (this.witnesses.length === 0) return checkpoint.note;
    const rows = await this.db.query<{ witness: string; line: string }[]>(`select witness, line from tlog_cosignatures where tree_size = $1 order by witness`, [checkpoint.treeSize]);
    let note = checkpoint.note;
    for (const row of rows) {
      const witness = this.witnesses.find((candidate) => witnessId(candidate.key) === row.witness);
      if (witness && verifies(note + row.line, witness.key)) note += row.line;
    }
    return note;
  }

  private async ask(witness: WitnessEndpoint, checkpoint: StoredCheckpoint, oldSize?: number): Promise<CosigningOutcome> {
    const id = witnessId(witness.key);
    const outcome = (result: CosigningOutcome['outcome'], detail?: string): CosigningOutcome => ({ witness: id, treeSize: checkpoint.treeSize, outcome: result, ...(detail ? { detail } : {}) });
    const from = oldSize ?? (await this.lastCosigned(id, checkpoint.treeSize));
    if (from > checkpoint.treeSize) return outcome('refused', `the witness has cosigned a larger tree (${from}) than the latest checkpoint (${checkpoint.treeSize})`);
    const proof = from > 0 && from < checkpoint.treeSize ? (await this.log.consistency(from, checkpoint.treeSize)).proof : [];
    let response: Response;
    try {
      response = await this.fetch(`${witness.url.replace(/\/+$/, '')}/add-checkpoint`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: formatAddCheckpoint({ oldSize: from, proof: [...proof], note: checkpoint.note }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      return outcome('unreachable', (error as Error).message);
    }
    const body = await response.text();
    if (response.status === 409 && oldSize === undefined && response.headers.get('content-type')?.startsWith(TLOG_SIZE_CONTENT_TYPE)) {
      // The witness last cosigned another size: once more, from there.
      const size = /^(0|[1-9][0-9]{0,15})\n$/.test(body) ? Number(body) : Number.NaN;
      if (Number.isSafeInteger(size)) return this.ask(witness, checkpoint, size);
    }
    if (response.status !== 200) return outcome('refused', `HTTP ${response.status}: ${body.trim().slice(0, 200)}`);
    let lines: string[];
    try {
      lines = parseCosignatureLines(body);
    } catch (error) {
      if (error instanceof WitnessRequestError) return outcome('refused', error.message);
      throw error;
    }
    const line = lines.find((candidate) => verifies(checkpoint.note + candidate, witness.key));
    if (!line) return outcome('refused', 'no cosignature in the answer verifies under the witness key');
    // A row already there that did not verify (written by SQL) gives way to the witness's line.
    await this.db.query(`insert into tlog_cosignatures (tree_size, witness, line) values ($1, $2, $3) on conflict (tree_size, witness) do update set line = excluded.line`, [
      checkpoint.treeSize,
      id,
      line,
    ]);
    return outcome('cosigned');
  }

  /**
   * The size this witness last cosigned, as far as our rows say; a guess, never trusted: a wrong
   * one (a row written by SQL) costs one 409, whose answer names the size the witness holds.
   */
  private async lastCosigned(witness: string, below: number): Promise<number> {
    const [row] = await this.db.query<{ size: string | null }[]>(`select max(tree_size)::text as size from tlog_cosignatures where witness = $1 and tree_size <= $2`, [
      witness,
      below,
    ]);
    return Number(row?.size ?? 0);
  }
}

/** Whether the note carries a signature by this key that verifies. */
function verifies(note: string, key: NoteVerifierKey): boolean {
  try {
    return openNote(note, [key]).verified.some((signature) => signature.name === key.name && signature.keyId === key.keyId);
  } catch (error) {
    if (error instanceof NoteError) return false;
    throw error;
  }
}
