import type { DataSource, EntityManager } from 'typeorm';
import type { DeliveryChannel } from '@keyledger/contracts';

/** A key waiting for its owner's acknowledgement on one channel. Holds the sealed envelope, never the key. */
export interface PendingDelivery {
  readonly keyId: string;
  readonly channel: DeliveryChannel;
  readonly tenant: string;
  readonly owner: string;
  /** The owner public key the envelope is sealed to (base64, raw 32 bytes). */
  readonly publicKey: string;
  /** The sealed envelope as JSON text: the exact bytes every send carries. */
  readonly envelope: string;
  /** SHA-256 (hex) of the ack token sealed in the envelope. */
  readonly ackTokenHash: string;
  /** The HMAC digest (hex) of the sealed key, as KeyIssued records it: tells which key material the envelope holds. */
  readonly digest: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** Sends claimed so far on this channel. */
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly lastError: string | null;
}

export type NewPendingDelivery = Omit<PendingDelivery, 'lastError'>;

interface Row {
  key_id: string;
  channel: DeliveryChannel;
  tenant: string;
  owner: string;
  public_key: string;
  envelope: string;
  ack_token_hash: string;
  digest: string;
  created_at: Date;
  expires_at: Date;
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
}

/** The SQL types of a new row's values, in the order `upsert` passes them. */
const COLUMN_TYPES = ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'timestamptz', 'timestamptz', 'int', 'timestamptz'] as const;
const PARAMETERS_PER_ROW = COLUMN_TYPES.length;

const COLUMNS = 'key_id, channel, tenant, owner, public_key, envelope, ack_token_hash, digest, created_at, expires_at, attempts, next_attempt_at, last_error';

const toDelivery = (row: Row): PendingDelivery => ({
  keyId: row.key_id,
  channel: row.channel,
  tenant: row.tenant,
  owner: row.owner,
  publicKey: row.public_key,
  envelope: row.envelope,
  ackTokenHash: row.ack_token_hash,
  digest: row.digest,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  attempts: row.attempts,
  nextAttemptAt: row.next_attempt_at,
  lastError: row.last_error,
});

/**
 * The sealed copies of keys waiting for acknowledgement, in Postgres. Work is shared by
 * claiming: a claim takes due rows with `FOR UPDATE SKIP LOCKED` and moves their next attempt
 * forward in the same transaction, so replicas never claim one send twice, and a process that
 * dies after claiming leaves the row to be claimed again at that next attempt.
 */
export class PendingDeliveries {
  constructor(private readonly db: DataSource) {}

  /**
   * Stores the rows of a key about to be issued, before its KeyIssued is appended, so a crash
   * after the append loses nothing. A row left by an interrupted attempt of the same key (other
   * key material) is replaced, but only while `keyStreamId` has no event: once the key is
   * issued, only `storeIssued` by the winner of that append writes its rows.
   */
  async storeBeforeIssue(rows: readonly NewPendingDelivery[], keyStreamId: string): Promise<void> {
    await this.upsert(rows, `not exists (select 1 from events where stream_id = $${rows.length * PARAMETERS_PER_ROW + 1})`, [keyStreamId]);
  }

  /**
   * Stores (or replaces) the rows of a key that is issued with their material, unless the key's
   * delivery has ended (`delivery-<keyId>` records an acknowledgement or an expiry: the rotator
   * sent the rows stored before the KeyIssued, say, and the owner acknowledged them). Answers how
   * many rows it wrote: none when the delivery has ended.
   */
  async storeIssued(rows: readonly NewPendingDelivery[]): Promise<number> {
    return this.upsert(
      rows,
      `not exists (select 1 from events where stream_id = 'delivery-' || v.key_id and type in ('KeyDeliveryAcknowledged', 'KeyDeliveryExpired'))`,
      [],
    );
  }

  /**
   * Claims up to `limit` rows due at `now` and not expired (of one channel, if given), oldest due
   * first: each one's attempts go up by one and its next attempt becomes `nextAttemptAt(claimed
   * row, its place among the claimed)`, a lease until which no other claim takes it.
   */
  async claimDue(
    now: Date,
    limit: number,
    nextAttemptAt: (claimed: PendingDelivery, index: number) => Date,
    channel?: DeliveryChannel,
  ): Promise<PendingDelivery[]> {
    return this.claim(`next_attempt_at <= $1 and expires_at > $1 and ($3::text is null or channel = $3)`, [now, limit, channel ?? null], (row, index) => {
      const claimed = { ...row, attempts: row.attempts + 1 };
      return { ...claimed, nextAttemptAt: nextAttemptAt(claimed, index) };
    });
  }

  /**
   * Claims up to `limit` expired rows (not claimed by another replica until `leaseUntil`), for
   * the caller to record the expiry and remove them.
   */
  async claimExpired(now: Date, limit: number, leaseUntil: Date): Promise<PendingDelivery[]> {
    return this.claim(`expires_at <= $1 and next_attempt_at <= $1`, [now, limit], (row) => ({ ...row, nextAttemptAt: leaseUntil }));
  }

  /**
   * Just before a send: moves a claimed row's next attempt to `leaseUntil` (past the longest
   * the send may take), if the claim still holds: the row is there, and nobody claimed it since
   * (its attempts and next attempt are as claimed). Answers the row so leased, or undefined
   * when the claim was lost and the send must not be made.
   */
  async startAttempt(claimed: PendingDelivery, leaseUntil: Date): Promise<PendingDelivery | undefined> {
    return (await this.updateClaimed(claimed, leaseUntil, undefined)) ? { ...claimed, nextAttemptAt: leaseUntil } : undefined;
  }

  /**
   * After a send (or a look that found nothing to send yet): schedules the row's next attempt
   * and remembers why the send failed, if it did, while the claim (as `startAttempt` answered
   * it, or as claimed) still holds.
   */
  async finishAttempt(claimed: PendingDelivery, nextAttemptAt: Date, error?: string): Promise<void> {
    await this.updateClaimed(claimed, nextAttemptAt, error);
  }

  /** The rows of one key (one per channel). */
  async rowsOf(keyId: string): Promise<PendingDelivery[]> {
    const rows = await this.db.query<Row[]>(`select ${COLUMNS} from pending_deliveries where key_id = $1 order by channel`, [keyId]);
    return rows.map(toDelivery);
  }

  /** Deletes the rows of a key (only those of one key material when `digest` is given); returns how many. */
  async remove(keyId: string, digest?: string): Promise<number> {
    const [row] = await this.db.query<{ count: number }[]>(
      `with deleted as (delete from pending_deliveries where key_id = $1 and ($2::text is null or digest = $2) returning 1) select count(*)::int as count from deleted`,
      [keyId, digest ?? null],
    );
    return row?.count ?? 0;
  }

  private async updateClaimed(claimed: PendingDelivery, nextAttemptAt: Date, error: string | undefined): Promise<boolean> {
    const [row] = await this.db.query<{ count: number }[]>(
      `with updated as (
         update pending_deliveries set next_attempt_at = $5, last_error = coalesce($6, last_error)
          where key_id = $1 and channel = $2 and attempts = $3 and next_attempt_at = $4
         returning 1)
       select count(*)::int as count from updated`,
      [claimed.keyId, claimed.channel, claimed.attempts, claimed.nextAttemptAt, nextAttemptAt, error?.slice(0, 500) ?? null],
    );
    return (row?.count ?? 0) > 0;
  }

  /** Remembers why the last send on a channel failed (for operators; never a secret). */
  async recordFailure(keyId: string, channel: DeliveryChannel, error: string): Promise<void> {
    await this.db.query(`update pending_deliveries set last_error = $3 where key_id = $1 and channel = $2`, [keyId, channel, error.slice(0, 500)]);
  }

  /** Keys waiting for acknowledgement. */
  async countKeys(): Promise<number> {
    const [row] = await this.db.query<{ count: number }[]>(`select count(distinct key_id)::int as count from pending_deliveries`);
    return row?.count ?? 0;
  }

  /** Inserts or replaces the rows for which `condition` (over the new row, `v`) holds; answers how many. */
  private async upsert(rows: readonly NewPendingDelivery[], condition: string, extra: unknown[]): Promise<number> {
    if (rows.length === 0) return 0;
    const values: unknown[] = [];
    const tuples = rows.map((row, index) => {
      values.push(
        row.keyId,
        row.channel,
        row.tenant,
        row.owner,
        row.publicKey,
        row.envelope,
        row.ackTokenHash,
        row.digest,
        row.createdAt,
        row.expiresAt,
        row.attempts,
        row.nextAttemptAt,
      );
      return `(${COLUMN_TYPES.map((type, i) => `$${index * PARAMETERS_PER_ROW + i + 1}::${type}`).join(', ')})`;
    });
    // Selected from the values, so a row the condition refuses is neither inserted nor replaced.
    const [written] = await this.db.query<{ count: number }[]>(
      `with written as (
         insert into pending_deliveries (key_id, channel, tenant, owner, public_key, envelope, ack_token_hash, digest, created_at, expires_at, attempts, next_attempt_at)
         select * from (values ${tuples.join(', ')})
           as v(key_id, channel, tenant, owner, public_key, envelope, ack_token_hash, digest, created_at, expires_at, attempts, next_attempt_at)
          where ${condition}
         on conflict (key_id, channel) do update set tenant = excluded.tenant, owner = excluded.owner, public_key = excluded.public_key,
           envelope = excluded.envelope, ack_token_hash = excluded.ack_token_hash, digest = excluded.digest, created_at = excluded.created_at,
           expires_at = excluded.expires_at, attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, last_error = null
         returning 1)
       select count(*)::int as count from written`,
      [...values, ...extra],
    );
    return written?.count ?? 0;
  }

  /** Claims the rows `where` selects ($1: now, $2: the limit, then `parameters`' others). */
  private async claim(where: string, parameters: unknown[], next: (row: PendingDelivery, index: number) => PendingDelivery): Promise<PendingDelivery[]> {
    return this.db.transaction(async (manager: EntityManager) => {
      const rows = await manager.query<Row[]>(
        `select ${COLUMNS} from pending_deliveries where ${where} order by next_attempt_at limit $2 for update skip locked`,
        parameters,
      );
      const claimed = rows.map((row, index) => next(toDelivery(row), index));
      if (claimed.length === 0) return claimed;
      await manager.query(
        `update pending_deliveries as d set attempts = v.attempts, next_attempt_at = v.next_attempt_at
           from unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[]) as v(key_id, channel, attempts, next_attempt_at)
          where d.key_id = v.key_id and d.channel = v.channel`,
        [claimed.map((row) => row.keyId), claimed.map((row) => row.channel), claimed.map((row) => row.attempts), claimed.map((row) => row.nextAttemptAt)],
      );
      return claimed;
    });
  }
}
