import type { DataSource, QueryRunner } from 'typeorm';

/**
 * Which replica detects: a Postgres advisory lock held by one session. Baselines must see all
 * of a key's calls, so replicas do not share the usage stream between them; one holds the lock
 * and consumes, the others wait to take over (at once when its session ends: a crash, a stop).
 * Findings have ids derived from what they found (`findingId`), so even two replicas acting at
 * once (a frozen holder that wakes up) record each anomaly once.
 */
export class DetectorLock {
  private runner: QueryRunner | undefined;
  private readonly name: string;

  /**
   * One lock per installation: advisory locks are cluster-wide, and installations (schemas)
   * sharing a PostgreSQL server must not wait for each other's detector.
   */
  constructor(
    private readonly db: DataSource,
    schema: string,
    purpose = 'anomaly detector',
  ) {
    this.name = `keyledger:${schema}:${purpose}`;
  }

  get held(): boolean {
    return this.runner !== undefined && !this.runner.isReleased;
  }

  /** Tries once to take the lock; true when this replica holds it (now or already). */
  async tryTake(): Promise<boolean> {
    if (this.held) return true;
    const runner = this.db.createQueryRunner();
    await runner.connect();
    try {
      const [row] = (await runner.query(`select pg_try_advisory_lock(hashtext($1)) as taken`, [this.name])) as { taken: boolean }[];
      if (row?.taken) {
        this.runner = runner;
        return true;
      }
    } catch (error) {
      await runner.release();
      throw error;
    }
    await runner.release();
    return false;
  }

  /** Whether the session holding the lock still answers (false: the lock may be another's by now). */
  async stillHeld(): Promise<boolean> {
    if (!this.held) return false;
    try {
      const [row] = (await this.runner!.query(
        `select exists (select 1 from pg_locks where locktype = 'advisory' and pid = pg_backend_pid() and objid = (hashtext($1)::bigint & 4294967295)::oid and granted) as held`,
        [this.name],
      )) as { held: boolean }[];
      return row?.held === true;
    } catch {
      // The session is gone, and the lock with it.
      await this.release();
      return false;
    }
  }

  async release(): Promise<void> {
    const runner = this.runner;
    this.runner = undefined;
    if (!runner || runner.isReleased) return;
    try {
      await runner.query(`select pg_advisory_unlock(hashtext($1))`, [this.name]);
    } finally {
      await runner.release();
    }
  }
}
