import type { DataSource } from 'typeorm';
import type { AnomalyFinding, KeyBaseline } from '@keyledger/anomaly-detection';
import { parseKeyBaseline } from '@keyledger/anomaly-detection';

/** A stored baseline that could not be read back: the key learns afresh. */
export interface UnreadableBaseline {
  readonly keyId: string;
  readonly reason: string;
}

/**
 * The anomaly detector's memory in Postgres: each key's baseline, the usage batches learned
 * from (so a redelivered batch teaches nothing twice), and the findings about source networks.
 * `save` writes the baselines and the batch ids in one transaction: after a crash either both
 * are there or neither, and the batch is learned again from the baselines of before it.
 */
export class AnomalyMemory {
  constructor(private readonly db: DataSource) {}

  /** The baselines of these keys (every key when omitted); a row that is not a baseline is reported, not returned. */
  async baselines(keyIds?: readonly string[]): Promise<{ baselines: Map<string, KeyBaseline>; unreadable: UnreadableBaseline[] }> {
    const rows = await (keyIds === undefined
      ? this.db.query<{ key_id: string; baseline: unknown }[]>(`select key_id, baseline from anomaly_baselines`)
      : this.db.query<{ key_id: string; baseline: unknown }[]>(`select key_id, baseline from anomaly_baselines where key_id = any($1::text[])`, [keyIds]));
    const baselines = new Map<string, KeyBaseline>();
    const unreadable: UnreadableBaseline[] = [];
    for (const row of rows) {
      try {
        baselines.set(row.key_id, parseKeyBaseline(row.baseline));
      } catch (error) {
        unreadable.push({ keyId: row.key_id, reason: (error as Error).message });
      }
    }
    return { baselines, unreadable };
  }

  /** Which of these batches were learned from before. */
  async learned(batchIds: readonly string[]): Promise<Set<string>> {
    if (batchIds.length === 0) return new Set();
    const rows = await this.db.query<{ batch_id: string }[]>(`select batch_id from anomaly_batches where batch_id = any($1::text[])`, [batchIds]);
    return new Set(rows.map((row) => row.batch_id));
  }

  /** Stores changed baselines and marks the batches learned, together. */
  async save(baselines: readonly (readonly [string, KeyBaseline])[], batchIds: readonly string[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      // The baselines go as one text, a line each: JSON.stringify never writes a raw line feed.
      // As a jsonb[] parameter the driver quoted and escaped every baseline into an array
      // literal and Postgres unescaped it again: about 100 µs of CPU between them for a
      // baseline of 1 KB, four times what storing it costs.
      if (baselines.length > 0)
        await tx.query(
          `insert into anomaly_baselines (key_id, baseline, updated_at)
           select key_id, baseline::json, now() from unnest($1::text[], string_to_array($2, chr(10))) as b(key_id, baseline)
           on conflict (key_id) do update set baseline = excluded.baseline, updated_at = excluded.updated_at`,
          [baselines.map(([keyId]) => keyId), baselines.map(([, baseline]) => JSON.stringify(baseline)).join('\n')],
        );
      if (batchIds.length > 0) await tx.query(`insert into anomaly_batches (batch_id) select unnest($1::text[]) on conflict do nothing`, [batchIds]);
    });
  }

  /** Records a finding about a source network once (by its id). */
  async recordSourceFinding(findingId: string, finding: AnomalyFinding, detectedAt: Date): Promise<void> {
    if (finding.subject.kind !== 'source') throw new RangeError('not a finding about a source');
    await this.db.query(
      `insert into anomaly_source_findings (finding_id, network, tenant, detector, severity, detail, evidence, seen_at, detected_at)
       values ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8 / 1000.0), $9) on conflict (finding_id) do nothing`,
      [
        findingId,
        finding.subject.network,
        finding.subject.tenant ?? null,
        finding.detector,
        finding.severity,
        finding.detail,
        JSON.stringify(finding.evidence),
        finding.at,
        detectedAt.toISOString(),
      ],
    );
  }

  /** Forgets the batch ids learned before `before`: JetStream redelivers within its ack wait, not days later. */
  async forgetBatchesBefore(before: Date): Promise<number> {
    const [, count] = await this.db.query<[unknown, number]>(`delete from anomaly_batches where learned_at < $1`, [before.toISOString()]);
    return count;
  }
}
