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
  UsageRecordFields,
  UsageTotals,
  VerifyCode,
} from '@keyledger/contracts';
import { forEachUsageRecord, usageBatchRecordCount } from '@keyledger/contracts';

const DAY_MS = 86_400_000;
// Scopes travel to Postgres as one string per record, split there: a unit separator never
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
 * statement: their ids into `usage_batches` (a batch already there is skipped whole), the
 * records of known keys into the day-partitioned `usage_records`, and the aggregates (per key
 * and minute, per source and hour, each key's last use) from the same rows. Verifications of
 * strings that named no key (a batch's tallies, and records without a key id from verifiers that
 * do not tally them) are only counted, in `usage_unknown_minutes`: per minute, source,
 * fingerprint, tenant asked for, code and transport, never a row per request. Queries read the aggregates.
 */
export class UsageLedger {
  /** UTC days (ms at midnight) whose partitions exist. */
  private readonly partitionDays = new Set<number>();

  constructor(private readonly db: DataSource) {}

  /** Creates the daily partitions of the days of these instants (ms) that do not exist yet. */
  async ensurePartitions(instants: Iterable<number>): Promise<void> {
    const days = new Set<number>();
    for (const instant of instants) days.add(Math.floor(instant / DAY_MS) * DAY_MS);
    for (const day of days) {
      if (this.partitionDays.has(day)) continue;
      await this.db.query(`select usage_create_partitions($1::date)`, [new Date(day).toISOString().slice(0, 10)]);
      this.partitionDays.add(day);
    }
  }

  /** Drops every daily partition of a day before `before` (retention); returns how many tables went. */
  async dropPartitionsBefore(before: number): Promise<number> {
    const [row] = await this.db.query<{ dropped: number }[]>(`select usage_drop_partitions($1::date) as dropped`, [
      new Date(before).toISOString().slice(0, 10),
    ]);
    for (const day of this.partitionDays) if (day < before) this.partitionDays.delete(day);
    return row?.dropped ?? 0;
  }

  /** Stores batches (validated, of either version) once each, whatever how often they are delivered. */
  async ingest(batches: readonly UsageBatch[]): Promise<IngestResult> {
    if (batches.length === 0) return { stored: 0, duplicates: 0, duplicateIds: [], records: 0 };
    // The days touched: usually one or two, whatever the batch size.
    const days = new Set<number>();
    const count = batches.reduce((sum, batch) => sum + usageBatchRecordCount(batch), 0);
    // A record names its batch by position (from 1, as `with ordinality` counts) and its time as
    // ms after the batch's base: small integers, which cost a fraction of a batch id or an epoch
    // time to write into the statement's text, and the batch's id, instance and base go once.
    const bases = batches.map((batch) => (batch.schemaVersion === 2 ? batch.since : batch.createdAt));
    const batchOf = new Array<number>(count);
    const after = new Array<number>(count);
    const seqs = new Array<number>(count);
    const keyIds = new Array<string | null>(count);
    const fingerprints = new Array<string | null>(count);
    const tenants = new Array<string | null>(count);
    const ips = new Array<string | null>(count);
    const scopes = new Array<string>(count);
    const codes = new Array<string>(count);
    const costs = new Array<number>(count);
    const transports = new Array<string>(count);
    const tallies = {
      batches: [] as number[],
      minutes: [] as number[],
      ips: [] as (string | null)[],
      fingerprints: [] as (string | null)[],
      tenants: [] as (string | null)[],
      codes: [] as string[],
      transports: [] as string[],
      calls: [] as number[],
    };
    let i = 0;
    batches.forEach((batch, index) => {
      const position = index + 1;
      const base = bases[index]!;
      days.add(batch.createdAt - (batch.createdAt % DAY_MS));
      // The records of a version 2 group share their fields: their scopes are joined once.
      let joinedFor: UsageRecordFields | undefined;
      let joined = '';
      forEachUsageRecord(batch, (record, instant, seq) => {
        if (record !== joinedFor) {
          joinedFor = record;
          joined = record.scopes.join(SCOPE_SEPARATOR);
        }
        days.add(instant - (instant % DAY_MS));
        batchOf[i] = position;
        after[i] = instant - base;
        seqs[i] = seq;
        keyIds[i] = record.keyId ?? null;
        fingerprints[i] = record.fingerprint ?? null;
        tenants[i] = record.tenant ?? null;
        ips[i] = record.ip ?? null;
        scopes[i] = joined;
        codes[i] = record.code;
        costs[i] = record.cost;
        transports[i] = record.transport;
        i += 1;
      });
      if (batch.schemaVersion === 2)
        for (const tally of batch.tallies ?? []) {
          days.add(tally.minute - (tally.minute % DAY_MS));
          tallies.batches.push(position);
          tallies.minutes.push(tally.minute);
          tallies.ips.push(tally.ip ?? null);
          tallies.fingerprints.push(tally.fingerprint ?? null);
          tallies.tenants.push(tally.tenant ?? null);
          tallies.codes.push(tally.code);
          tallies.transports.push(tally.transport);
          tallies.calls.push(tally.calls);
        }
    });
    await this.ensurePartitions(days);
    const [row] = await this.db.query<{ stored: string[]; records: number }[]>(
      `with batch_input as (
         select * from unnest($1::text[], $2::float8[], $3::text[], $4::int[], $5::float8[]) with ordinality as b(id, created, instance, records, base, ord)
       ),
       new_batches as (
         insert into usage_batches (batch_id, created_at, instance, records)
         select id, to_timestamp(created / 1000.0), instance, records from batch_input
         on conflict do nothing
         returning batch_id
       ),
       fresh as (
         select ord, id, instance, base from batch_input where id in (select batch_id from new_batches)
       ),
       input as (
         select to_timestamp((f.base + r.after_base) / 1000.0) as at, f.id as batch_id, r.seq, r.key_id, r.fingerprint, r.tenant, r.ip,
                string_to_array(r.scopes, E'\\x1f') as scopes, r.code, r.cost, r.transport, f.instance
         from unnest($6::int[], $7::float8[], $8::int[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::int[], $16::text[])
              as r(batch, after_base, seq, key_id, fingerprint, tenant, ip, scopes, code, cost, transport)
         join fresh f on f.ord = r.batch
       ),
       records as (
         insert into usage_records (at, batch_id, seq, key_id, fingerprint, tenant, ip, scopes, code, cost, transport, instance)
         select * from input where key_id is not null
       ),
       tallies as (
         select to_timestamp(t.minute / 1000.0) as minute, t.ip, t.fingerprint, t.tenant, t.code, t.transport, t.calls
         from unnest($17::int[], $18::float8[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::int[])
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
       minutes as (
         insert into usage_key_minutes as m (key_id, minute, code, tenant, calls, cost)
         select key_id, date_trunc('minute', at), code, coalesce(min(tenant), ''), count(*), sum(cost)
         from input where key_id is not null
         group by key_id, date_trunc('minute', at), code
         on conflict (key_id, minute, code) do update set calls = m.calls + excluded.calls, cost = m.cost + excluded.cost
       ),
       sources as (
         insert into usage_source_hours as s (tenant, key_id, ip, hour, calls, invalid, last_seen_at)
         select coalesce(tenant, ''), coalesce(key_id, ''), coalesce(ip, ''), date_trunc('hour', at, 'UTC'), sum(calls),
                coalesce(sum(calls) filter (where code <> 'VALID'), 0), max(at)
         from (select tenant, key_id, ip, at, code, 1 as calls from input where key_id is not null
               union all
               select tenant, null, ip, minute, code, calls from unknown) as used
         group by 1, 2, 3, 4
         on conflict (tenant, key_id, ip, hour) do update set calls = s.calls + excluded.calls, invalid = s.invalid + excluded.invalid,
                                                             last_seen_at = greatest(s.last_seen_at, excluded.last_seen_at)
       ),
       keys as (
         insert into usage_keys as k (key_id, tenant, first_used_at, last_used_at)
         select key_id, coalesce(min(tenant), ''), min(at), max(at)
         from input where key_id is not null
         group by key_id
         on conflict (key_id) do update set first_used_at = least(k.first_used_at, excluded.first_used_at),
                                            last_used_at = greatest(k.last_used_at, excluded.last_used_at)
       )
       select array(select batch_id from new_batches) as stored, (select count(*) from input)::int as records`,
      [
        batches.map((b) => b.batchId),
        batches.map((b) => b.createdAt),
        batches.map((b) => b.instance),
        batches.map(usageBatchRecordCount),
        bases,
        batchOf,
        after,
        seqs,
        keyIds,
        fingerprints,
        tenants,
        ips,
        scopes,
        codes,
        costs,
        transports,
        tallies.batches,
        tallies.minutes,
        tallies.ips,
        tallies.fingerprints,
        tallies.tenants,
        tallies.codes,
        tallies.transports,
        tallies.calls,
      ],
    );
    const stored = new Set(row?.stored ?? []);
    const duplicateIds = batches.filter((batch) => !stored.has(batch.batchId)).map((batch) => batch.batchId);
    return { stored: stored.size, duplicates: duplicateIds.length, duplicateIds, records: row?.records ?? 0 };
  }

  /** The tenant a key's usage was recorded under; undefined if it was never used. */
  async lastUse(keyId: string): Promise<{ tenant: string; lastUsedAt: string } | undefined> {
    const [row] = await this.db.query<{ tenant: string; last_used_at: Date }[]>(`select tenant, last_used_at from usage_keys where key_id = $1`, [keyId]);
    return row && { tenant: row.tenant, lastUsedAt: row.last_used_at.toISOString() };
  }

  /** The last recorded use of each of these keys (any outcome); a key never used is absent. */
  async lastUses(keyIds: readonly string[]): Promise<Map<string, number>> {
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
      this.lastUses(keyIds),
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
    const last = await this.lastUse(keyId);
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
