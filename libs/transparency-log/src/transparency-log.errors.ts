/** Why a note or a key was refused. */
export type NoteErrorCode = 'MALFORMED_NOTE' | 'MALFORMED_KEY' | 'BAD_SIGNATURE' | 'NO_KNOWN_SIGNATURE';

/** A signed note or note key that is malformed or does not verify. */
export class NoteError extends Error {
  constructor(
    readonly code: NoteErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NoteError';
  }
}

/** A checkpoint text that is not origin, tree size and root hash lines. */
export class CheckpointFormatError extends Error {
  constructor(message: string) {
    super(`not a checkpoint: ${message}`);
    this.name = 'CheckpointFormatError';
  }
}

/**
 * Refused to sign: the tree now is not an extension of the last checkpoint signed (no
 * consistency proof leads from one to the other). Someone changed the stored tree; nothing is
 * signed until an operator has looked (`keyledger audit verify`).
 */
export class InconsistentTreeError extends Error {
  constructor(
    readonly previousSize: number,
    readonly size: number,
  ) {
    super(`refusing to sign: the tree of ${size} leaves is not consistent with the checkpoint of ${previousSize} leaves signed before`);
    this.name = 'InconsistentTreeError';
  }
}
