import type { DataSource } from 'typeorm';
import type { EventEnvelope } from '@keyledger/contracts';
import { NO_STREAM } from '@keyledger/event-store';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { AuditTrailPartitions, trailMonthsAhead } from './audit-trail-partitions.js';
import { AuditTrailProjection } from './audit-trail.projection.js';

const keyId = (n: number): string => `key_${String(n).padStart(26, '0')}`;
const monthOf = (instant: number): string => new Date(instant).toISOString().slice(0, 7).replace('-', '');

/**
 * The trail's monthly partitions on real Postgres, as the auditor's own login keeps and fills
 * them: each row in its month's partition, a month without one in the default partition until
 * its partition is made, and no table made or dropped by that login itself.
 */
describe('audit trail partitions', () => {
  let ctx: TestContext;
  let auditor: DataSource;
  let partitions: AuditTrailPartitions;
  let issued = 0;

  /** A stored KeyIssued of `tenant`, as the trail records it had it happened at `occurredAt`. */
  async function recordAt(occurredAt: string, tenant = 'acme'): Promise<EventEnvelope> {
    issued += 1;
    const stream = `key-${keyId(issued)}`;
    await ctx.store.append(stream, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId(issued), tenant), metadata: testMetadata() }]);
    const [stored] = await ctx.store.readStream(stream);
    const event = { ...stored!, occurredAt };
    await auditor.transaction((tx) => new AuditTrailProjection().apply(event, tx));
    return event;
  }

  const partitionOf = async (eventId: string): Promise<string | undefined> =>
    (await ctx.ownerDb.query<{ partition: string }[]>(`select tableoid::regclass::text as partition from audit_trail where event_id = $1`, [eventId]))[0]
      ?.partition;
  const partitionNames = async (): Promise<string[]> =>
    (
      await ctx.ownerDb.query<{ name: string }[]>(
        `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'audit_trail'::regclass order by 1`,
      )
    ).map((row) => row.name);

  beforeAll(async () => {
    ctx = await createTestContext('trailparts');
    auditor = await ctx.connectAs('auditor');
    partitions = new AuditTrailPartitions(auditor);
  });

  afterAll(async () => {
    await ctx.close();
  });

  /** The 15th of the month `months` from this one, noon UTC, as ISO text. */
  const monthsFromNow = (months: number): string => {
    const now = new Date();
    return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + months, 15, 12)).toISOString();
  };

  it('starts with a default partition and those of this month and the next', async () => {
    const [thisMonth, nextMonth] = trailMonthsAhead(Date.now()).map((day) => monthOf(Date.parse(day)));
    expect(await partitionNames()).toEqual([`audit_trail_${thisMonth}`, `audit_trail_${nextMonth}`, 'audit_trail_default']);
  });

  it("puts each row in its month's partition, made by the auditor's login for the months its rows need", async () => {
    const now = new Date();
    const thisMonthStarts = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const lastMonthsEnd = await recordAt(new Date(thisMonthStarts - 1).toISOString());
    const thisMonthsStart = await recordAt(new Date(thisMonthStarts).toISOString());
    expect(await partitions.ensure(Date.now())).toBe(1);
    const current = await recordAt(now.toISOString());
    expect(await partitionOf(lastMonthsEnd.eventId)).toBe(`audit_trail_${monthOf(thisMonthStarts - 1)}`);
    expect(await partitionOf(thisMonthsStart.eventId)).toBe(`audit_trail_${monthOf(thisMonthStarts)}`);
    expect(await partitionOf(current.eventId)).toBe(`audit_trail_${monthOf(Date.now())}`);
  });

  it('records a redelivered event once', async () => {
    const event = await recordAt('2025-01-05T12:00:00.000Z');
    await auditor.transaction((tx) => new AuditTrailProjection().apply(event, tx));
    expect(await ctx.ownerDb.query(`select count(*)::int as n from audit_trail where event_id = $1`, [event.eventId])).toEqual([{ n: 1 }]);
  });

  it('keeps a row of a month without a partition in the default partition, then moves it, once, into the partition two auditors make for it at the same time', async () => {
    const ahead = await recordAt(monthsFromNow(2), 'initech');
    expect(await partitionOf(ahead.eventId)).toBe('audit_trail_default');
    const before = await ctx.ownerDb.query<unknown[]>(`select * from audit_trail order by event_id`);
    const other = new AuditTrailPartitions(await ctx.connectAs('auditor'));
    const created = await Promise.all([partitions.ensure(Date.now()), other.ensure(Date.now())]);
    expect(created[0] + created[1]).toBe(1);
    expect(await partitionOf(ahead.eventId)).toBe(`audit_trail_${monthOf(Date.parse(monthsFromNow(2)))}`);
    expect(await ctx.ownerDb.query<unknown[]>(`select * from audit_trail order by event_id`)).toEqual(before);
    expect(await partitions.ensure(Date.now())).toBe(0);
  });

  it('makes partitions only for months near now, asked for or waiting: a login that may call it and insert rows cannot make thousands', async () => {
    const far = await recordAt('2019-06-15T08:00:00.000Z');
    const before = await partitionNames();
    await expect(auditor.query(`select audit_trail_create_partitions('0001-01-01')`)).rejects.toThrow(/is not last month, this month or one of the next two/);
    await expect(auditor.query(`select audit_trail_create_partitions((now() + interval '4 months')::date)`)).rejects.toThrow(/is not last month/);
    expect(await partitions.ensure(Date.now())).toBe(0);
    expect(await partitionNames()).toEqual(before);
    // Still found: the default partition is part of the trail.
    expect(await partitionOf(far.eventId)).toBe('audit_trail_default');
  });

  it("gives the auditor's login no way to make, detach or drop a partition itself", async () => {
    await expect(auditor.query(`create table audit_trail_203201 partition of audit_trail for values from ('2032-01-01') to ('2032-02-01')`)).rejects.toThrow(
      /permission denied|must be owner/,
    );
    const partition = `audit_trail_${monthOf(Date.now())}`;
    await expect(auditor.query(`alter table audit_trail detach partition ${partition}`)).rejects.toThrow(/must be owner/);
    await expect(auditor.query(`drop table ${partition}`)).rejects.toThrow(/must be owner/);
    await expect(auditor.query(`update audit_trail set actor = 'someone else'`)).rejects.toThrow(/permission denied/);
    expect(await partitionNames()).toContain(partition);
  });
});
