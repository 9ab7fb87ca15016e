import type { DataSource } from 'typeorm';
import type {
  KeyUsage,
  KeyUsageSummary,
  RotationSource,
  SourceUsage,
  TenantUsage,
  UsageBatch,
  UsageBucket,
  UsageGranularity,
  UsageBatchV3,
  UsageTotals,
  VerifyCode,
} from '@keyledger/contracts';
import { NO_VALUE, toColumnarUsageBatch } from '@keyledger/contracts';
import { retryDeadlocks, sqlStateOf } from './deadlock-retry.js';
import { RETENTION_LOCK_TIMEOUT_MS } from './migrations/usage-ledger.migrations.js';

/** SQLSTATE of a lock not granted within lock_timeout. */
const LOCK_NOT_AVAILABLE = '55P03';

/** The retention drop did not get its locks within RETENTION_LOCK_TIMEOUT_MS; nothing was dropped. */
export class RetentionPutOffError extends Error {
  constructor(cause: unknown) {
    super(`usage retention put off: the usage tables stayed busy for ${RETENTION_LOCK_TIMEOUT_MS} ms`, { cause });
    this.name = 'RetentionPutOffError';
  }
}

const DAY_MS = 86_400_000;
// A list of scopes travels to Postgres as one string, split there: a unit separator never
// occurs in a requestable scope, and the recorder keeps records free of NUL.
const SCOPE_SEPARATOR = '\u001f';

/** What one ingest did. */
export interface IngestResult {
  /** Batches stored now. */
  readonly stored: number;
  /** Batches that were already stored (redeliveries): nothing of them was counted again. */
  readonly duplicates: number;
  /** The ids of those batches. */
  readonly duplicateIds: readonly string[];
  readonly records: number;
}

/** One key's usage as the permission audit reads it (`UsageLedger.permissionUsage`). */
export interface PermissionUsage {
  readonly validCalls: number;
  readonly requestedScopes: readonly string[];
  readonly lastValidAt: number | undefined;
  readonly lastPresentedAt: number | undefined;
}

/** A window of time, both ends as ms since the epoch; `until` exclusive. */
export interface UsageWindow {
  readonly since: number;
  readonly until: number;
}

/**
 * The auditor's usage store in Postgres. `ingest` writes batches idempotently in one
 * statement: their ids into `usage_batches` (a batch already there is skipped whole), marked
 * pending, and the records of known keys into the day-partitioned `usage_records`.
 * Verifications of strings that named no key (a batch's tallies, and records without a key id
 * from verifiers that do not tally them) are only counted, in `usage_unknown_minutes` (per
 * minute, source, fingerprint, tenant asked for, code and transport, never a row per request)
 * and in the source hours, by the same statement.
 *
 * `aggregatePending` folds the pending batches' records into the aggregates (per key and
 * minute, per source and hour, each key's last use) and marks them done, in one transaction:
 * every few seconds rather than with each ingest, so a key busy every second is updated once
 * per fold rather than once per ingest (in the ledger alone, a fold of 10 s of records costs
 * Postgres 2.0-3.4 µs a record, `bench/usage-fold.ts`).
 * A crash between the two loses nothing (the batches stay pending), and a fold counts each
 * batch once (folds take turns under an advisory lock). Every query folds what is pending first, so it
 * answers from everything stored.
 * Stores, folds and the partition functions lock the tables in one order; a statement Postgres
 * rolls back to break a deadlock with anything else runs again (`retryDeadlocks`).
 */
export class UsageLedger {
  /** UTC days (ms at midnight) whose partitions exist. */
  private readonly partitionDays = new Set<number>();
  /** Records folded into the aggregates by this process, and its folds that failed (metrics). */
  foldedRecords = 0;
  foldFailures = 0;
  /** Statements and transactions Postgres rolled back to break a deadlock, run again (a metric). */
  deadlockRetries = 0;
  private readonly retried = (): void => {
    this.deadlockRetries += 1;
  };
  private queuedFold: Promise<number> | undefined;
  private lastFold: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: DataSource) {}

  /** Creates the daily partitions of the days of these instants (ms) that do not exist yet. */
  async ensurePartitions(instants: Iterable<number>): Promise<void> {
    const days = new Set<number>();
    for (const instant of instants) days.add(Math.floor(instant / DAY_MS) * DAY_MS);
    for (const day of days) {
      if (this.partitionDays.has(day)) continue;
      await retryDeadlocks(() => this.db.query(`select usage_create_partitions($1::date)`, [new Date(day).toISOString().slice(0, 10)]), this.retried);
      this.partitionDays.add(day);
    }
  }

  /**
   * Drops every daily partition of a day before `before` (retention); returns how many tables
   * went. Throws RetentionPutOffError when the tables stayed busy for RETENTION_LOCK_TIMEOUT_MS
   * (a long query holding one): nothing was dropped, and the next pass tries again.
   */
  async dropPartitionsBefore(before: number): Promise<number> {
    let row: { dropped: number } | undefined;
    try {
      [row] = await retryDeadlocks(
        () => this.db.query<{ dropped: number }[]>(`select usage_drop_partitions($1::date) as dropped`, [new Date(before).toISOString().slice(0, 10)]),
        this.retried,
      );
    } catch (error) {
      if (sqlStateOf(error) === LOCK_NOT_AVAILABLE) throw new RetentionPutOffError(error);
      throw error;
    }
    for (const day of this.partitionDays) if (day < before) this.partitionDays.delete(day);
    return row?.dropped ?? 0;
  }

  /** Stores batches (validated, of any version) once each, whatever how often they are delivered. */
  async ingest(batches: readonly UsageBatch[]): Promise<IngestResult> {
    if (batches.length === 0) return { stored: 0, duplicates: 0, duplicateIds: [], records: 0 };
    // Every batch as columns (version 3 as it came): the statement takes the batches' columns
    // end to end, each table's entries once and each group's fields as indexes into them, so a
    // record costs its offset and a group a few integers, whatever strings they name.
    const columnar = batches.map(toColumnarUsageBatch);
    const input = new IngestColumns(columnar);
    const days = new Set<number>();
    columnar.forEach((batch, index) => {
      input.add(batch, index + 1);
      let latest = 0;
      for (const offset of batch.at) if (offset > latest) latest = offset;
      const instants = [batch.createdAt, batch.since, batch.since + latest];
      // Only a version 1 batch may span more than two days (versions 2 and 3 span an hour at most).
      if (latest >= DAY_MS) for (const offset of batch.at) instants.push(batch.since + offset);
      for (const instant of instants) days.add(instant - (instant % DAY_MS));
      for (const tally of batch.tallies ?? []) days.add(tally.minute - (tally.minute % DAY_MS));
    });
    await this.ensurePartitions(days);
    const { tables, groups, tallies } = input;
    const [row] = await retryDeadlocks(
      () =>
        this.db.query<{ stored: string[]; records: number }[]>(
          `with batch_input as (
         select * from unnest($1::text[], $2::float8[], $3::text[], $4::int[], $5::float8[], $6::int[])
                  with ordinality as b(id, created, instance, records, base, first_at, ord)
       ),
       new_batches as (
         insert into usage_batches (batch_id, created_at, instance, records, aggregated, stored_in)
         select id, to_timestamp(created / 1000.0), instance, records, false, pg_current_xact_id() from batch_input
         on conflict do nothing
         returning batch_id
       ),
       fresh as (
         select ord, id, instance, base, first_at from batch_input where id in (select batch_id from new_batches)
       ),
       input as (
         select to_timestamp((f.base + r.after_base) / 1000.0) as at, f.id as batch_id, (r.n - f.first_at)::int as seq,
                $7::jsonb ->> ($15::int[])[r.grp] as key_id, $8::jsonb ->> ($16::int[])[r.grp] as fingerprint,
                $9::jsonb ->> ($17::int[])[r.grp] as tenant, $10::jsonb ->> ($18::int[])[r.grp] as ip,
                string_to_array($11::jsonb ->> ($19::int[])[r.grp], E'\\x1f') as scopes, $12::jsonb ->> ($20::int[])[r.grp] as code,
                ($22::int[])[r.grp] as cost, $13::jsonb ->> ($21::int[])[r.grp] as transport, f.instance
         from unnest($23::int[], $24::int8[]) with ordinality as r(grp, after_base, n)
         join fresh f on f.ord = ($14::int[])[r.grp]
       ),
       records as (
         insert into usage_records (at, batch_id, seq, key_id, fingerprint, tenant, ip, scopes, code, cost, transport, instance)
         select * from input where key_id is not null
       ),
       tallies as (
         select to_timestamp(t.minute / 1000.0) as minute, t.ip, t.fingerprint, t.tenant, t.code, t.transport, t.calls
         from unnest($25::int[], $26::float8[], $27::text[], $28::text[], $29::text[], $30::text[], $31::text[], $32::int[])
              as t(batch, minute, ip, fingerprint, tenant, code, transport, calls)
         join fresh f on f.ord = t.batch
       ),
       unknown as (
         select date_trunc('minute', at) as minute, ip, fingerprint, tenant, code, transport, 1 as calls from input where key_id is null
         union all
         select minute, ip, fingerprint, tenant, code, transport, calls from tallies
       ),
       unknown_minutes as (
         insert into usage_unknown_minutes as u (minute, ip, fingerprint, tenant, code, transport, calls)
         select minute, coalesce(ip, ''), coalesce(fingerprint, ''), coalesce(tenant, ''), code, transport, sum(calls)
         from unknown
         group by 1, 2, 3, 4, 5, 6
         on conflict (minute, ip, fingerprint, tenant, code, transport) do update set calls = u.calls + excluded.calls
       ),
       sources as (
         ${upsertSourceHours(`select tenant, null as key_id, ip, minute as at, code, calls from unknown`)}
       )
       select array(select batch_id from new_batches) as stored, (select count(*) from input)::int as records`,
          [
            columnar.map((b) => b.batchId),
            columnar.map((b) => b.createdAt),
            columnar.map((b) => b.instance),
            columnar.map((b) => b.at.length),
            columnar.map((b) => b.since),
            intArray(input.firstAt),
            jsonTable(tables.keyIds),
            jsonTable(tables.fingerprints),
            jsonTable(tables.tenants),
            jsonTable(tables.ips),
            jsonTable(tables.scopeLists),
            jsonTable(tables.codes),
            jsonTable(tables.transports),
            groups.batch.buffer,
            groups.keyId.buffer,
            groups.fingerprint.buffer,
            groups.tenant.buffer,
            groups.ip.buffer,
            groups.scopes.buffer,
            groups.code.buffer,
            groups.transport.buffer,
            groups.cost.buffer,
            input.group.buffer,
            input.at.buffer,
            tallies.batches,
            tallies.minutes,
            tallies.ips,
            tallies.fingerprints,
            tallies.tenants,
            tallies.codes,
            tallies.transports,
            tallies.calls,
          ],
        ),
      this.retried,
    );
    const stored = new Set(row?.stored ?? []);
    const duplicateIds = batches.filter((batch) => !stored.has(batch.batchId)).map((batch) => batch.batchId);
    return { stored: stored.size, duplicates: duplicateIds.length, duplicateIds, records: row?.records ?? 0 };
  }

  /**
   * Folds the records of the batches stored (committed) before this call and not yet
   * aggregated into the aggregates, up to `batchesPerFold` batches per transaction until none is
   * left; returns the records folded. With `wait` false, returns at once when another fold is
   * running (a timer's pass); with `wait`, waits for it, then folds what is still pending.
   */
  async aggregatePending(wait = true, batchesPerFold = 250): Promise<number> {
    // Batches stored later are the next fold's: a fold ends however fast batches keep coming.
    const [now] = await this.db.query<{ horizon: string }[]>(`select pg_snapshot_xmax(pg_current_snapshot())::text as horizon`);
    const horizon = now!.horizon;
    let total = 0;
    try {
      for (;;) {
        const folded = await retryDeadlocks(
          () =>
            this.db.transaction(async (tx) => {
              // Taken before the statement below starts, whose snapshot then sees the previous fold's work.
              const [lock] = await tx.query<{ locked: boolean }[]>(
                wait
                  ? `select true as locked from pg_advisory_xact_lock(hashtext(current_schema() || '.usage_aggregates'))`
                  : `select pg_try_advisory_xact_lock(hashtext(current_schema() || '.usage_aggregates')) as locked`,
              );
              if (!lock?.locked) return undefined;
              const [row] = await tx.query<{ batches: number; records: number }[]>(FOLD_PENDING, [batchesPerFold, horizon]);
              return row;
            }),
          this.retried,
        );
        if (!folded) return total;
        total += folded.records;
        this.foldedRecords += folded.records;
        if (folded.batches < batchesPerFold) return total;
      }
    } catch (error) {
      this.foldFailures += 1;
      throw error;
    }
  }

  /**
   * What a query folds before it reads: everything stored before it was asked. Queries that
   * arrive while one such fold waits to start share it, so a burst of queries takes one
   * connection's turn at the lock, not one each.
   */
  private foldStored(): Promise<number> {
    if (this.queuedFold) return this.queuedFold;
    const queued: Promise<number> = this.lastFold.then(() => {
      if (this.queuedFold === queued) this.queuedFold = undefined;
      return this.aggregatePending(true);
    });
    this.queuedFold = queued;
    this.lastFold = queued.catch(() => undefined);
    return queued;
  }

  /** The tenant a key's usage was recorded under; undefined if it was never used. */
  async lastUse(keyId: string): Promise<{ tenant: string; lastUsedAt: string } | undefined> {
    await this.foldStored();
    return this.storedLastUse(keyId);
  }

  private async storedLastUse(keyId: string): Promise<{ tenant: string; lastUsedAt: string } | undefined> {
    const [row] = await this.db.query<{ tenant: string; last_used_at: Date }[]>(`select tenant, last_used_at from usage_keys where key_id = $1`, [keyId]);
    return row && { tenant: row.tenant, lastUsedAt: row.last_used_at.toISOString() };
  }

  /** The last recorded use of each of these keys (any outcome); a key never used is absent. */
  async lastUses(keyIds: readonly string[]): Promise<Map<string, number>> {
    await this.foldStored();
    return this.storedLastUses(keyIds);
  }

  private async storedLastUses(keyIds: readonly string[]): Promise<Map<string, number>> {
    const rows = await this.db.query<{ key_id: string; last_used_at: Date }[]>(`select key_id, last_used_at from usage_keys where key_id = any($1::text[])`, [
      keyIds,
    ]);
    return new Map(rows.map((row) => [row.key_id, row.last_used_at.getTime()]));
  }

  /**
   * What the permission audit needs of these keys' usage: their VALID verifications since
   * `since` (ms) with the scopes those asked for, read from the records (exact to the instant);
   * their last VALID use still retained (by minute); their last use of any outcome, which
   * `usage_keys` keeps past retention. A key with none of these is absent.
   */
  async permissionUsage(keyIds: readonly string[], since: number): Promise<Map<string, PermissionUsage>> {
    const from = new Date(since);
    await this.foldStored();
    const [counts, scopes, last, presented] = await Promise.all([
      this.db.query<{ key_id: string; calls: string }[]>(
        `select key_id, count(*) as calls from usage_records where key_id = any($1::text[]) and code = 'VALID' and at >= $2 group by key_id`,
        [keyIds, from],
      ),
      this.db.query<{ key_id: string; scope: string }[]>(
        `select distinct r.key_id, s.scope from usage_records r, unnest(r.scopes) as s(scope)
         where r.key_id = any($1::text[]) and r.code = 'VALID' and r.at >= $2`,
        [keyIds, from],
      ),
      this.db.query<{ key_id: string; last_valid: Date }[]>(
        `select key_id, max(minute) as last_valid from usage_key_minutes where key_id = any($1::text[]) and code = 'VALID' group by key_id`,
        [keyIds],
      ),
      this.storedLastUses(keyIds),
    ]);
    const usage = new Map<string, { validCalls: number; requestedScopes: string[]; lastValidAt: number | undefined; lastPresentedAt: number | undefined }>();
    const entry = (keyId: string) => {
      let found = usage.get(keyId);
      if (!found) usage.set(keyId, (found = { validCalls: 0, requestedScopes: [], lastValidAt: undefined, lastPresentedAt: undefined }));
      return found;
    };
    for (const row of counts) entry(row.key_id).validCalls = Number(row.calls);
    for (const row of scopes) entry(row.key_id).requestedScopes.push(row.scope);
    for (const row of last) entry(row.key_id).lastValidAt = row.last_valid.getTime();
    for (const [keyId, at] of presented) entry(keyId).lastPresentedAt = at;
    return usage;
  }

  /**
   * The source addresses that used a key since `since` (ms), most recently seen first, with
   * their calls counted from the hour of `since` (sources are counted per hour) and their last
   * call. An address whose last call in that stretch was before `since` is left out; one
   * stored before last calls were recorded is kept, with `lastSeenAt` null.
   */
  async sourcesSince(keyId: string, tenant: string, since: number, limit = 100): Promise<RotationSource[]> {
    await this.foldStored();
    const rows = await this.db.query<{ ip: string; calls: string; invalid: string; last_seen_at: Date | null }[]>(
      `select ip, sum(calls) as calls, sum(invalid) as invalid, max(last_seen_at) as last_seen_at from usage_source_hours
       where tenant = $1 and key_id = $2 and hour >= date_trunc('hour', $3::timestamptz, 'UTC')
       group by ip having max(last_seen_at) >= $3::timestamptz or max(last_seen_at) is null
       order by max(last_seen_at) desc nulls last, sum(calls) desc, ip limit $4`,
      [tenant, keyId, new Date(since), limit],
    );
    return rows.map((row) => ({ ip: row.ip, calls: Number(row.calls), invalid: Number(row.invalid), lastSeenAt: row.last_seen_at?.toISOString() ?? null }));
  }

  /** One key's usage in a window, bucketed; its top sources (by hour, so the window is widened to whole hours). */
  async keyUsage(keyId: string, tenant: string | null, window: UsageWindow, by: UsageGranularity, topSources = 10): Promise<KeyUsage> {
    const range = [new Date(window.since), new Date(window.until)];
    await this.foldStored();
    const rows = await this.db.query<{ start: Date; code: VerifyCode; calls: string; cost: string }[]>(
      `select date_trunc($4, minute, 'UTC') as start, code, sum(calls) as calls, sum(cost) as cost
       from usage_key_minutes where key_id = $1 and minute >= $2 and minute < $3
       group by 1, 2 order by 1, 2`,
      [keyId, ...range, by],
    );
    const buckets = new Map<
      number,
      { start: string; calls: number; valid: number; invalid: number; cost: number; codes: Partial<Record<VerifyCode, number>> }
    >();
    for (const row of rows) {
      const start = row.start.getTime();
      let bucket = buckets.get(start);
      if (!bucket) buckets.set(start, (bucket = { start: row.start.toISOString(), calls: 0, valid: 0, invalid: 0, cost: 0, codes: {} }));
      const calls = Number(row.calls);
      bucket.calls += calls;
      bucket[row.code === 'VALID' ? 'valid' : 'invalid'] += calls;
      bucket.cost += Number(row.cost);
      bucket.codes[row.code] = calls;
    }
    const sources = await this.db.query<{ ip: string; calls: string; invalid: string }[]>(
      `select ip, sum(calls) as calls, sum(invalid) as invalid from usage_source_hours
       where tenant = coalesce($5, tenant) and key_id = $1 and hour >= date_trunc('hour', $2::timestamptz, 'UTC') and hour < $3
       group by ip order by 2 desc, 1 limit $4`,
      [keyId, ...range, topSources, tenant],
    );
    const last = await this.storedLastUse(keyId);
    const list: UsageBucket[] = [...buckets.values()];
    return {
      keyId,
      tenant: tenant ?? last?.tenant ?? null,
      since: range[0]!.toISOString(),
      until: range[1]!.toISOString(),
      by,
      totals: totalsOf(list),
      buckets: list,
      lastUsedAt: last?.lastUsedAt ?? null,
      topSources: sources.map(sourceOf),
    };
  }

  /** A tenant's usage in a window: totals over its keys, its most used keys, its top sources (unknown keys included). */
  async tenantUsage(tenant: string, window: UsageWindow, limit = 10): Promise<TenantUsage> {
    const range = [new Date(window.since), new Date(window.until)];
    await this.foldStored();
    const keys = await this.db.query<{ key_id: string; calls: string; valid: string; cost: string; last_used_at: Date | null }[]>(
      `select m.key_id, sum(m.calls) as calls, coalesce(sum(m.calls) filter (where m.code = 'VALID'), 0) as valid, sum(m.cost) as cost,
              (select last_used_at from usage_keys k where k.key_id = m.key_id) as last_used_at
       from usage_key_minutes m where m.tenant = $1 and m.minute >= $2 and m.minute < $3
       group by m.key_id order by 2 desc, 1`,
      [tenant, ...range],
    );
    const summaries: KeyUsageSummary[] = keys.map((row) => {
      const calls = Number(row.calls);
      const valid = Number(row.valid);
      return { keyId: row.key_id, calls, valid, invalid: calls - valid, cost: Number(row.cost), lastUsedAt: row.last_used_at?.toISOString() ?? null };
    });
    const sources = await this.db.query<{ ip: string; calls: string; invalid: string }[]>(
      `select ip, sum(calls) as calls, sum(invalid) as invalid from usage_source_hours
       where tenant = $1 and hour >= date_trunc('hour', $2::timestamptz, 'UTC') and hour < $3
       group by ip order by 2 desc, 1 limit $4`,
      [tenant, ...range, limit],
    );
    return {
      tenant,
      since: range[0]!.toISOString(),
      until: range[1]!.toISOString(),
      totals: totalsOf(summaries),
      topKeys: summaries.slice(0, limit),
      topSources: sources.map(sourceOf),
    };
  }
}

/**
 * Inserts or adds to the source hours the rows of `rows` (tenant, key_id, ip, at, code, calls),
 * each key's own (`key_id` '' for strings that named no key).
 */
function upsertSourceHours(rows: string): string {
  return `insert into usage_source_hours as s (tenant, key_id, ip, hour, calls, invalid, last_seen_at)
         select coalesce(tenant, ''), coalesce(key_id, ''), coalesce(ip, ''), date_trunc('hour', at, 'UTC'), sum(calls),
                coalesce(sum(calls) filter (where code <> 'VALID'), 0), max(at)
         from (${rows}) as used
         group by 1, 2, 3, 4
         on conflict (tenant, key_id, ip, hour) do update set calls = s.calls + excluded.calls, invalid = s.invalid + excluded.invalid,
                                                             last_seen_at = greatest(s.last_seen_at, excluded.last_seen_at)`;
}

/**
 * One fold: up to $1 pending batches stored by transactions below $2 (in the order stored),
 * marked done (the only ones it counts: those no other fold marked first), their records read
 * back through the export index (per storing transaction, so each day partition is looked into
 * once per transaction, not once per batch), and added to the aggregates; returns how many
 * batches and records it took. The records are grouped once, by key, tenant, source, minute and
 * code (a busy key's records of a fold come down to a few rows), and the three aggregates are
 * summed from those groups. Grouping the records once rather than once per aggregate took a
 * fold of 10 s of records from 3.2-5.0 to 2.0-3.4 µs of Postgres CPU a record (mean 4.0 to 2.8)
 * when keys are used from a few addresses each, and changed nothing measurable when every
 * record comes from an address of its own (`bench/usage-fold.ts`, docs/benchmarks.md).
 */
const FOLD_PENDING = `
  with pending as (
    select batch_id, created_at from usage_batches
    where not aggregated and stored_in < $2::xid8
    order by stored_in, batch_id limit $1
  ),
  done as (
    update usage_batches b set aggregated = true from pending p
    where b.batch_id = p.batch_id and b.created_at = p.created_at and not b.aggregated
    returning b.batch_id, b.stored_in
  ),
  transactions as (
    select stored_in, array_agg(batch_id) as batch_ids from done group by stored_in
  ),
  used as (
    select r.key_id, r.tenant, r.ip, date_trunc('minute', r.at) as minute, r.code,
           count(*)::int as calls, sum(r.cost)::bigint as cost, min(r.at) as first_at, max(r.at) as last_at
    from transactions t
    cross join lateral (
      select at, key_id, tenant, ip, code, cost from usage_records r where r.stored_in = t.stored_in and r.batch_id = any(t.batch_ids)
    ) r
    group by 1, 2, 3, 4, 5
  ),
  minutes as (
    insert into usage_key_minutes as m (key_id, minute, code, tenant, calls, cost)
    select key_id, minute, code, coalesce(min(tenant), ''), sum(calls), sum(cost)
    from used
    group by key_id, minute, code
    on conflict (key_id, minute, code) do update set calls = m.calls + excluded.calls, cost = m.cost + excluded.cost
  ),
  sources as (
    ${upsertSourceHours(`select tenant, key_id, ip, last_at as at, code, calls from used`)}
  ),
  keys as (
    insert into usage_keys as k (key_id, tenant, first_used_at, last_used_at)
    select key_id, coalesce(min(tenant), ''), min(first_at), max(last_at)
    from used
    group by key_id
    on conflict (key_id) do update set first_used_at = least(k.first_used_at, excluded.first_used_at),
                                       last_used_at = greatest(k.last_used_at, excluded.last_used_at)
  )
  select (select count(*) from pending)::int as batches, coalesce((select sum(calls) from used), 0)::int as records`;

function totalsOf(parts: readonly UsageTotals[]): UsageTotals {
  const totals = { calls: 0, valid: 0, invalid: 0, cost: 0 };
  for (const part of parts) {
    totals.calls += part.calls;
    totals.valid += part.valid;
    totals.invalid += part.invalid;
    totals.cost += part.cost;
  }
  return totals;
}

function sourceOf(row: { ip: string; calls: string; invalid: string }): SourceUsage {
  return { ip: row.ip, calls: Number(row.calls), invalid: Number(row.invalid) };
}

/**
 * The columns of several version 3 batches end to end, as `ingest`'s statement takes them: each
 * table's entries after those of the batches before it, behind a null at 0, and a group's indexes
 * moved past them (NO_VALUE becomes 0, the null); each record's group, counted from 1 over all the
 * batches, and its offset; each batch's first record's place among them, from 1 too.
 */
class IngestColumns {
  readonly tables = {
    keyIds: [null] as (string | null)[],
    fingerprints: [null] as (string | null)[],
    tenants: [null] as (string | null)[],
    ips: [null] as (string | null)[],
    scopeLists: [null] as (string | null)[],
    codes: [null] as (string | null)[],
    transports: [null] as (string | null)[],
  };
  readonly groups: Record<'batch' | 'keyId' | 'fingerprint' | 'tenant' | 'ip' | 'scopes' | 'code' | 'transport' | 'cost', BinaryIntArray>;
  readonly tallies = {
    batches: [] as number[],
    minutes: [] as number[],
    ips: [] as (string | null)[],
    fingerprints: [] as (string | null)[],
    tenants: [] as (string | null)[],
    codes: [] as string[],
    transports: [] as string[],
    calls: [] as number[],
  };
  readonly firstAt: number[] = [];
  /** Each record's group. */
  readonly group: BinaryIntArray;
  /** Each record's offset: int8, as a version 1 batch, as columns, may span more than int's milliseconds. */
  readonly at: BinaryIntArray;
  private groupCount = 0;
  private recordCount = 0;

  constructor(batches: readonly UsageBatchV3[]) {
    let [groups, records] = [0, 0];
    for (const batch of batches) {
      groups += batch.groups.records.length;
      records += batch.at.length;
    }
    const column = () => new BinaryIntArray(groups, 'int4');
    this.groups = {
      batch: column(),
      keyId: column(),
      fingerprint: column(),
      tenant: column(),
      ip: column(),
      scopes: column(),
      code: column(),
      transport: column(),
      cost: column(),
    };
    this.group = new BinaryIntArray(records, 'int4');
    this.at = new BinaryIntArray(records, 'int8');
  }

  add(batch: UsageBatchV3, position: number): void {
    const { tables, groups } = this;
    const from = this.groupCount;
    // Column by column, so that each loop reads and writes one array.
    for (const [column, table] of TABLES) setIndexes(groups[column], from, batch.groups[column], append(tables[table], batch[table]));
    const scopeLists = batch.scopeLists.map((scopes) => scopes.join(SCOPE_SEPARATOR));
    setIndexes(groups.scopes, from, batch.groups.scopes, append(tables.scopeLists, scopeLists));
    this.firstAt.push(this.recordCount + 1);
    batch.groups.cost.forEach((cost, g) => groups.cost.set(from + g, cost));
    batch.groups.records.forEach((records, g) => {
      groups.batch.set(from + g, position);
      for (let i = 0; i < records; i += 1) this.group.set(this.recordCount + i, from + g + 1);
      this.recordCount += records;
    });
    this.groupCount += batch.groups.records.length;
    const first = this.recordCount - batch.at.length;
    batch.at.forEach((offset, i) => this.at.set(first + i, offset));
    for (const tally of batch.tallies ?? []) {
      const { tallies } = this;
      tallies.batches.push(position);
      tallies.minutes.push(tally.minute);
      tallies.ips.push(tally.ip ?? null);
      tallies.fingerprints.push(tally.fingerprint ?? null);
      tallies.tenants.push(tally.tenant ?? null);
      tallies.codes.push(tally.code);
      tallies.transports.push(tally.transport);
      tallies.calls.push(tally.calls);
    }
  }
}

/**
 * An int4[] or int8[] parameter in Postgres's binary array format (one dimension, no nulls),
 * which the driver sends as it is, being a Buffer: each number written in place, where a text
 * literal is a string to build and for Postgres to parse back. int8 entries are at most 2^53.
 */
class BinaryIntArray {
  readonly buffer: Buffer;
  private readonly view: DataView;
  private readonly width: number;

  constructor(length: number, type: 'int4' | 'int8') {
    this.width = type === 'int4' ? 4 : 8;
    this.buffer = Buffer.alloc(20 + length * (4 + this.width));
    // A DataView writes a few times faster than Buffer's writeInt32BE (big-endian by default).
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.length);
    this.view.setInt32(0, 1); // dimensions
    this.view.setInt32(4, 0); // no nulls
    this.view.setInt32(8, type === 'int4' ? INT4_OID : INT8_OID);
    this.view.setInt32(12, length);
    this.view.setInt32(16, 1); // lower bound
  }

  set(index: number, value: number): void {
    const at = 20 + index * (4 + this.width);
    this.view.setInt32(at, this.width);
    if (this.width === 4) this.view.setInt32(at + 4, value);
    else {
      this.view.setInt32(at + 4, Math.floor(value / 2 ** 32));
      this.view.setUint32(at + 8, value >>> 0);
    }
  }
}

const [INT4_OID, INT8_OID] = [23, 20];

/** The group columns that name a string table entry, and their tables (scopes aside: their lists are joined first). */
const TABLES = [
  ['keyId', 'keyIds'],
  ['fingerprint', 'fingerprints'],
  ['tenant', 'tenants'],
  ['ip', 'ips'],
  ['code', 'codes'],
  ['transport', 'transports'],
] as const;

/** Sets a batch's indexes into a table, moved by `shift` (NO_VALUE becomes 0, the null), from entry `from` on. */
function setIndexes(to: BinaryIntArray, from: number, indexes: readonly number[], shift: number): void {
  indexes.forEach((index, g) => to.set(from + g, index === NO_VALUE ? 0 : index + shift));
}

/** Appends `values` to `to`; answers how far an index into `values` moves in `to`. */
function append<T>(to: T[], values: readonly T[]): number {
  const shift = to.length;
  for (const value of values) to.push(value);
  return shift;
}

/**
 * A table as a jsonb parameter: Postgres finds an entry of a jsonb array by its index at once
 * (`->>`), where an entry of a text[] is found by walking the entries before it. A lone surrogate
 * becomes U+FFFD, as UTF-8 writes it, which jsonb would refuse as an escape.
 */
function jsonTable(values: readonly (string | null)[]): string {
  return JSON.stringify(values.map((value) => (value === null || value.isWellFormed() ? value : value.toWellFormed())));
}

/**
 * An array parameter of integers as Postgres's array literal: `{1,2,3}`. The driver would quote
 * and escape every element of a JS array, where the literal of integers needs none: a join.
 */
function intArray(values: readonly number[]): string {
  return `{${values.join(',')}}`;
}
