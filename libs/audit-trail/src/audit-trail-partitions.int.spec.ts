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

  it('starts with a default partition and those of this month and the next', async () => {
    const [thisMonth, nextMonth] = trailMonthsAhead(Date.now()).map((day) => monthOf(Date.parse(day)));
    expect(await partitionNames()).toEqual([`audit_trail_${thisMonth}`, `audit_trail_${nextMonth}`, 'audit_trail_default']);
  });

  it("puts each row in its month's partition, made by the auditor's login for the months its rows need", async () => {
    const january = await recordAt('2025-01-31T23:59:59.999Z');
    const february = await recordAt('2025-02-01T00:00:00.000Z');
    expect(await partitions.ensure(Date.now())).toBe(2);
    const now = await recordAt(new Date().toISOString());
    expect(await partitionOf(january.eventId)).toBe('audit_trail_202501');
    expect(await partitionOf(february.eventId)).toBe('audit_trail_202502');
    expect(await partitionOf(now.eventId)).toBe(`audit_trail_${monthOf(Date.now())}`);
    expect(await partitionNames()).toEqual(expect.arrayContaining(['audit_trail_202501', 'audit_trail_202502', 'audit_trail_default']));
  });

  it('records a redelivered event once', async () => {
    const event = await recordAt('2025-01-05T12:00:00.000Z');
    await auditor.transaction((tx) => new AuditTrailProjection().apply(event, tx));
    expect(await ctx.ownerDb.query(`select count(*)::int as n from audit_trail where event_id = $1`, [event.eventId])).toEqual([{ n: 1 }]);
  });

  it('keeps a row of a month without a partition in the default partition, then moves it into the partition made for its month', async () => {
    const early = await recordAt('2019-06-15T08:00:00.000Z', 'initech');
    expect(await partitionOf(early.eventId)).toBe('audit_trail_default');
    const before = await ctx.ownerDb.query<unknown[]>(`select * from audit_trail order by event_id`);
    expect(await partitions.ensure(Date.now())).toBe(1);
    expect(await partitionOf(early.eventId)).toBe('audit_trail_201906');
    expect(await ctx.ownerDb.query(`select count(*)::int as n from audit_trail_default`)).toEqual([{ n: 0 }]);
    expect(await ctx.ownerDb.query<unknown[]>(`select * from audit_trail order by event_id`)).toEqual(before);
    expect(await partitions.ensure(Date.now())).toBe(0);
  });

  it('makes each partition once when two auditors ask at the same time', async () => {
    await recordAt('2031-03-15T00:00:00.000Z');
    await recordAt('2031-04-15T00:00:00.000Z');
    const other = new AuditTrailPartitions(await ctx.connectAs('auditor'));
    const created = await Promise.all([partitions.ensure(Date.now()), other.ensure(Date.now())]);
    expect(created[0] + created[1]).toBe(2);
    expect(await partitionNames()).toEqual(expect.arrayContaining(['audit_trail_203103', 'audit_trail_203104']));
  });

  it('makes partitions asked for only near now: a login that may call it cannot make thousands', async () => {
    const before = await partitionNames();
    await expect(auditor.query(`select audit_trail_create_partitions('0001-01-01')`)).rejects.toThrow(/is not last month, this month or one of the next two/);
    await expect(auditor.query(`select audit_trail_create_partitions((now() + interval '4 months')::date)`)).rejects.toThrow(/is not last month/);
    expect(await partitionNames()).toEqual(before);
  });

  it("gives the auditor's login no way to make, detach or drop a partition itself", async () => {
    await expect(auditor.query(`create table audit_trail_203201 partition of audit_trail for values from ('2032-01-01') to ('2032-02-01')`)).rejects.toThrow(
      /permission denied|must be owner/,
    );
    await expect(auditor.query(`alter table audit_trail detach partition audit_trail_202501`)).rejects.toThrow(/must be owner/);
    await expect(auditor.query(`drop table audit_trail_202501`)).rejects.toThrow(/must be owner/);
    await expect(auditor.query(`update audit_trail set actor = 'someone else'`)).rejects.toThrow(/permission denied/);
    expect(await partitionNames()).toContain('audit_trail_202501');
  });
});
