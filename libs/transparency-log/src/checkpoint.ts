import { HASH_BYTES } from './merkle-tree.js';
import { CheckpointFormatError } from './transparency-log.errors.js';

/** A tree head as c2sp.org/tlog-checkpoint writes it: which log, how many leaves, and their root. */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Buffer;
}

/** The note text of a checkpoint: origin, decimal tree size, base64 root hash, each ending in a newline. No extension lines. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  if (checkpoint.origin.length === 0 || /[\n+\s]/u.test(checkpoint.origin)) throw new CheckpointFormatError(`origin ${JSON.stringify(checkpoint.origin)} must be non-empty, without spaces or +`);
  if (!Number.isSafeInteger(checkpoint.size) || checkpoint.size < 0) throw new CheckpointFormatError(`tree size ${checkpoint.size} is not a non-negative integer`);
  if (checkpoint.rootHash.length !== HASH_BYTES) throw new CheckpointFormatError('the root hash is not 32 bytes');
  return `${checkpoint.origin}\n${checkpoint.size}\n${checkpoint.rootHash.toString('base64')}\n`;
}

/**
 * Parses a checkpoint's note text (the part before the signatures): at least three non-empty
 * lines; extension lines are returned, not interpreted. Throws CheckpointFormatError.
 */
export function parseCheckpoint(text: string): Checkpoint & { readonly extensions: readonly string[] } {
  if (!text.endsWith('\n')) throw new CheckpointFormatError('the text does not end in a newline');
  const [origin, size, root, ...extensions] = text.slice(0, -1).split('\n');
  if (!origin) throw new CheckpointFormatError('the origin line is empty');
  if (size === undefined || !/^(0|[1-9][0-9]*)$/.test(size) || !Number.isSafeInteger(Number(size)))
    throw new CheckpointFormatError('the second line is not a tree size (a decimal without leading zeroes)');
  const rootHash = root === undefined || !/^[A-Za-z0-9+/]{43}=$/.test(root) ? undefined : Buffer.from(root, 'base64');
  if (rootHash?.length !== HASH_BYTES) throw new CheckpointFormatError('the third line is not the base64 of a 32-byte root hash');
  if (extensions.some((line) => line.length === 0)) throw new CheckpointFormatError('an extension line is empty');
  return { origin, size: Number(size), rootHash, extensions };
}
