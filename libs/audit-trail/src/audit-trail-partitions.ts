/** What keeping the partitions needs of the database: one query. */
export interface PartitionQueries {
  query<T>(sql: string, parameters: readonly unknown[]): Promise<T>;
}

/** The first day (`YYYY-MM-DD`, UTC) of the month `instant` (ms) falls in, and of the month after it. */
export function trailMonthsAhead(instant: number): readonly [string, string] {
  const at = new Date(instant);
  const month = (offset: number): string => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + offset, 1)).toISOString().slice(0, 10);
  return [month(0), month(1)];
}

/**
 * Keeps the audit trail's monthly partitions ready: this month's and the next, and one for
 * every month whose rows wait in the default partition (moved into it), through the schema
 * owner's `audit_trail_create_partitions` (the services' role may not create tables). Nothing
 * here or anywhere drops a trail partition: the trail is kept forever.
 */
export class AuditTrailPartitions {
  constructor(private readonly db: PartitionQueries) {}

  /** Creates what is missing as of `now` (ms); returns how many partitions it created. */
  async ensure(now: number): Promise<number> {
    let created = 0;
    for (const month of trailMonthsAhead(now)) {
      const [row] = await this.db.query<{ created: number }[]>(`select audit_trail_create_partitions($1::date) as created`, [month]);
      created += row?.created ?? 0;
    }
    return created;
  }
}
