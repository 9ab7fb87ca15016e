import type { DataSource, EntityManager } from 'typeorm';
import type { GlobalPosition } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { formatCheckpoint, parseCheckpoint } from './checkpoint.js';
import { eventLeafHash } from './event-leaf.js';
import type { NodeLookup, TreeNode } from './merkle-tree.js';
import { CompactRange, ProofRangeError, consistencyProof, inclusionProof, proofNodes, rootNodes, treeRoot, verifyConsistency } from './merkle-tree.js';
import type { NoteSigner } from './signed-note.js';
import { openNote, parseVerifierKey } from './signed-note.js';
import { InconsistentTreeError } from './transparency-log.errors.js';

/** Anything that can run SQL: a DataSource or a transaction's manager. */
type Queryable = Pick<EntityManager, 'query'>;

/** A checkpoint the log signed, as stored. */
export interface StoredCheckpoint {
  readonly treeSize: number;
  readonly rootHash: Buffer;
  /** The signed note (c2sp.org/tlog-checkpoint), as published. */
  readonly note: string;
  readonly signedAt: Date;
}

/** A leaf of the log: which event it is and where. */
export interface LogLeaf {
  readonly leafIndex: number;
  readonly position: string;
  readonly eventId: string;
  readonly leafHash: Buffer;
}

export interface InclusionAnswer {
  readonly leaf: LogLeaf;
  readonly checkpoint: StoredCheckpoint;
  /** Sibling hashes from the leaf up to the checkpoint's root (RFC 9162 §2.1.3). */
  readonly proof: readonly Buffer[];
}

export interface ConsistencyAnswer {
  readonly oldSize: number;
  readonly newSize: number;
  readonly proof: readonly Buffer[];
  /** The stored checkpoints of those sizes, when there are. */
  readonly oldCheckpoint?: StoredCheckpoint | undefined;
  readonly newCheckpoint?: StoredCheckpoint | undefined;
}

/** A proof asked for what the log does not hold (an event that is not a leaf, a size past the latest checkpoint). */
export class NotInLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotInLogError';
  }
}

export interface TransparencyLogOptions {
  /** Events read from the store per transaction while the tree grows. */
  readonly batchSize?: number;
  readonly clock?: () => Date;
}

interface CheckpointRow {
  tree_size: string;
  root_hash: Buffer;
  note: string;
  signed_at: Date;
}

const toCheckpoint = (row: CheckpointRow): StoredCheckpoint => ({
  treeSize: Number(row.tree_size),
  rootHash: row.root_hash,
  note: row.note,
  signedAt: row.signed_at,
});

/** Reads the stored hashes of complete subtrees: leaves from tlog_leaves, level ≥ 1 from tlog_nodes. */
export async function readTreeNodes(db: Queryable, nodes: readonly TreeNode[]): Promise<NodeLookup> {
  const leaves = nodes.filter((node) => node.level === 0).map((node) => node.index);
  const inner = nodes.filter((node) => node.level > 0);
  const rows =
    nodes.length === 0
      ? []
      : await db.query<{ level: number; node_index: string; hash: Buffer }[]>(
          `select 0 as level, leaf_index::text as node_index, leaf_hash as hash from tlog_leaves where leaf_index = any($1::bigint[])
           union all
           select n.level, n.node_index::text, n.hash from tlog_nodes n
             join unnest($2::smallint[], $3::bigint[]) as wanted(level, node_index) using (level, node_index)`,
          [leaves, inner.map((node) => node.level), inner.map((node) => node.index)],
        );
  const found = new Map(rows.map((row) => [`${row.level}/${row.node_index}`, row.hash]));
  return (node) => {
    const hash = found.get(`${node.level}/${node.index}`);
    // A node the tree should have and does not: rows were removed behind the auditor's back.
    if (!hash) throw new NotInLogError(`the stored tree has no node ${node.level}/${node.index}`);
    return hash;
  };
}

/**
 * The auditor's Merkle tree over the global event log (RFC 6962), kept in Postgres, and the
 * checkpoints it signs (c2sp.org/tlog-checkpoint, signed notes).
 *
 * The tree follows the store itself, in the order every global reader uses ((transaction_id,
 * position), never past a transaction still running: `PostgresEventStore.readAll`), rather
 * than the order JetStream delivers, which a redelivery with backoff can change: a leaf's index
 * is its event's place in the log, for good. Each pass locks the one head row, appends the
 * leaves after it with every subtree they complete, and moves the head, in one transaction:
 * two auditors, or a pass retried after a crash, add each event once. A row the store refuses
 * (no valid MAC: written by SQL) is reported by the store, as every read does, and becomes no leaf.
 */
export class PostgresTransparencyLog {
  private readonly batchSize: number;
  private readonly clock: () => Date;
  /** The key name is the origin line (c2sp.org/tlog-checkpoint: the log's key name SHOULD match it). */
  readonly origin: string;

  constructor(
    private readonly db: DataSource,
    private readonly store: PostgresEventStore,
    private readonly signer: NoteSigner,
    options: TransparencyLogOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 1000;
    this.clock = options.clock ?? (() => new Date());
    this.origin = signer.name;
  }

  /** Appends every event the store holds beyond the tree; returns how many leaves were added. */
  async extend(): Promise<number> {
    return (await this.extendToEnd()).added;
  }

  /** As extend, also telling the store position the tree covers once done. */
  async extendToEnd(): Promise<{ added: number; end: GlobalPosition }> {
    let added = 0;
    for (;;) {
      const { rows, leaves, end } = await this.db.transaction((tx) => this.extendOnce(tx));
      added += leaves;
      if (rows < this.batchSize) return { added, end };
    }
  }

  private async extendOnce(tx: EntityManager): Promise<{ rows: number; leaves: number; end: GlobalPosition }> {
    const [head] = await tx.query<{ size: string; transaction_id: string; position: string }[]>(
      `select size::text, transaction_id::text, position::text from tlog_head where id for update`,
    );
    if (!head) throw new Error('tlog_head has no row: the transparency log migration did not run');
    const after: GlobalPosition = { transactionId: head.transaction_id, position: head.position };
    const page = await this.store.readAll(after, this.batchSize);
    if (!page.end) return { rows: 0, leaves: 0, end: after };
    const size = Number(head.size);
    const edge = await readTreeNodes(tx, rootNodes(size));
    const range = new CompactRange(size, rootNodes(size).map(edge));
    const leaves: { index: number; position: string; transactionId: string; eventId: string; hash: Buffer }[] = [];
    const nodes: { level: number; index: number; hash: Buffer }[] = [];
    for (const event of page.events) {
      const hash = eventLeafHash(event);
      leaves.push({ index: range.size, position: event.position, transactionId: event.transactionId, eventId: event.eventId, hash });
      for (const closed of range.append(hash)) nodes.push({ ...closed.node, hash: closed.hash });
    }
    if (leaves.length > 0) {
      await tx.query(
        `insert into tlog_leaves (leaf_index, position, transaction_id, event_id, leaf_hash)
         select * from unnest($1::bigint[], $2::bigint[], $3::text[]::xid8[], $4::uuid[], $5::bytea[])`,
        [
          leaves.map((l) => l.index),
          leaves.map((l) => l.position),
          leaves.map((l) => l.transactionId),
          leaves.map((l) => l.eventId),
          leaves.map((l) => l.hash),
        ],
      );
    }
    if (nodes.length > 0) {
      await tx.query(`insert into tlog_nodes (level, node_index, hash) select * from unnest($1::smallint[], $2::bigint[], $3::bytea[])`, [
        nodes.map((n) => n.level),
        nodes.map((n) => n.index),
        nodes.map((n) => n.hash),
      ]);
    }
    await tx.query(`update tlog_head set size = $1, transaction_id = $2::xid8, position = $3 where id`, [
      range.size,
      page.end.transactionId,
      page.end.position,
    ]);
    return { rows: page.rows, leaves: leaves.length, end: page.end };
  }

  /** Leaves in the tree now. */
  async size(): Promise<number> {
    const [row] = await this.db.query<{ size: string }[]>(`select size::text from tlog_head where id`);
    return Number(row?.size ?? 0);
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const [row] = await this.db.query<CheckpointRow[]>(
      `select tree_size::text, root_hash, note, signed_at from tlog_checkpoints order by tlog_checkpoints.tree_size desc limit 1`,
    );
    return row && toCheckpoint(row);
  }

  async checkpointOfSize(size: number): Promise<StoredCheckpoint | undefined> {
    const [row] = await this.db.query<CheckpointRow[]>(`select tree_size::text, root_hash, note, signed_at from tlog_checkpoints where tree_size = $1`, [size]);
    return row && toCheckpoint(row);
  }

  /**
   * Signs a checkpoint of the tree as it is, unless the latest one already has its size (then
   * that one is returned, `signed: false`). Before signing it checks the latest checkpoint's
   * own signature and a consistency proof from it to the tree now, made from the stored
   * subtrees: a tree changed behind the auditor's back throws InconsistentTreeError and nothing
   * is signed (c2sp.org/tlog-checkpoint: a log MUST NOT sign a checkpoint inconsistent with one it signed).
   */
  async signCheckpoint(): Promise<{ checkpoint: StoredCheckpoint; signed: boolean }> {
    return this.db.transaction(async (tx) => {
      // The head row's lock also keeps the tree from growing under the signature.
      const [head] = await tx.query<{ size: string }[]>(`select size::text from tlog_head where id for update`);
      const size = Number(head?.size ?? 0);
      const [latestRow] = await tx.query<CheckpointRow[]>(
        `select tree_size::text, root_hash, note, signed_at from tlog_checkpoints order by tlog_checkpoints.tree_size desc limit 1`,
      );
      const latest = latestRow && toCheckpoint(latestRow);
      if (latest?.treeSize === size) return { checkpoint: latest, signed: false };
      if (latest && latest.treeSize > size) throw new InconsistentTreeError(latest.treeSize, size);
      const consistency = latest && latest.treeSize > 0 ? { oldSize: latest.treeSize, newSize: size } : undefined;
      const lookup = await readTreeNodes(tx, [...rootNodes(size), ...(consistency ? proofNodes({ consistency }) : [])]);
      const root = treeRoot(size, lookup);
      if (latest && consistency) {
        const signedRoot = this.openOwn(latest.note).rootHash;
        const proof = consistencyProof(consistency.oldSize, size, lookup);
        if (!signedRoot.equals(latest.rootHash) || !verifyConsistency(latest.treeSize, size, signedRoot, root, proof))
          throw new InconsistentTreeError(latest.treeSize, size);
      }
      const note = this.signer.sign(formatCheckpoint({ origin: this.origin, size, rootHash: root }));
      const signedAt = this.clock();
      await tx.query(`insert into tlog_checkpoints (tree_size, root_hash, note, signed_at) values ($1, $2, $3, $4)`, [size, root, note, signedAt]);
      return { checkpoint: { treeSize: size, rootHash: root, note, signedAt }, signed: true };
    });
  }

  /** A stored note of ours, opened with our own key: a row edited by SQL is not believed. */
  private openOwn(note: string): ReturnType<typeof parseCheckpoint> {
    const opened = openNote(note, [parseVerifierKey(this.signer.verifierKey())]);
    return parseCheckpoint(opened.text);
  }

  async leaf(of: { eventId: string } | { position: string }): Promise<LogLeaf | undefined> {
    const [row] = await this.db.query<{ leaf_index: string; position: string; event_id: string; leaf_hash: Buffer }[]>(
      `select leaf_index::text, position::text, event_id::text, leaf_hash from tlog_leaves where ${'eventId' in of ? 'event_id = $1::uuid' : 'position = $1::bigint'}`,
      ['eventId' in of ? of.eventId : of.position],
    );
    return row && { leafIndex: Number(row.leaf_index), position: row.position, eventId: row.event_id, leafHash: row.leaf_hash };
  }

  /**
   * The inclusion proof of an event in a stored checkpoint: the one of `treeSize`, else the
   * latest. Throws NotInLogError for an event that is not a leaf (yet), a size no checkpoint
   * has, or a checkpoint that does not cover the event.
   */
  async inclusion(of: { eventId: string } | { position: string }, treeSize?: number): Promise<InclusionAnswer> {
    const leaf = await this.leaf(of);
    if (!leaf) throw new NotInLogError(`${'eventId' in of ? `event ${of.eventId}` : `position ${of.position}`} is not in the log (yet)`);
    const checkpoint = treeSize === undefined ? await this.latestCheckpoint() : await this.checkpointOfSize(treeSize);
    if (!checkpoint) throw new NotInLogError(treeSize === undefined ? 'the log has signed no checkpoint yet' : `no checkpoint has tree size ${treeSize}`);
    if (leaf.leafIndex >= checkpoint.treeSize) throw new NotInLogError(`leaf ${leaf.leafIndex} is not in the checkpoint of size ${checkpoint.treeSize}`);
    const lookup = await readTreeNodes(this.db, proofNodes({ inclusion: { index: leaf.leafIndex, size: checkpoint.treeSize } }));
    return { leaf, checkpoint, proof: inclusionProof(leaf.leafIndex, checkpoint.treeSize, lookup) };
  }

  /** The consistency proof between two tree sizes up to the latest checkpoint's. Throws NotInLogError past it. */
  async consistency(oldSize: number, newSize: number): Promise<ConsistencyAnswer> {
    const latest = await this.latestCheckpoint();
    if (!latest || newSize > latest.treeSize) throw new NotInLogError(`no checkpoint covers tree size ${newSize} (the latest has ${latest?.treeSize ?? 0})`);
    if (oldSize > newSize) throw new ProofRangeError(`old size ${oldSize} is larger than new size ${newSize}`);
    const lookup = await readTreeNodes(this.db, proofNodes({ consistency: { oldSize, newSize } }));
    return {
      oldSize,
      newSize,
      proof: consistencyProof(oldSize, newSize, lookup),
      oldCheckpoint: await this.checkpointOfSize(oldSize),
      newCheckpoint: await this.checkpointOfSize(newSize),
    };
  }
}
