import pg from 'pg';
import { assertIdentifier } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';

export interface LeaderLockOptions {
  readonly databaseUrl: string;
  readonly schema: string;
  /** Distinguishes independent leaders in one schema. */
  readonly lockName: string;
  readonly logger: Logger;
}

/**
 * A session-level Postgres advisory lock on a dedicated connection. Postgres releases it
 * when the session ends, so a killed holder is replaced as soon as its socket closes.
 * The same connection LISTENs for new events, since a leader is the one that needs them.
 */
export class LeaderLock {
  private client: pg.Client | undefined;
  private held = false;
  private readonly listeners = new Set<(payload: string | undefined) => void>();

  constructor(private readonly options: LeaderLockOptions) {}

  get isHeld(): boolean {
    return this.held;
  }

  /** Tries once to become leader; true when this process now holds the lock. */
  async tryAcquire(channel: string): Promise<boolean> {
    if (this.held) return true;
    const client = await this.connect();
    const [row] = (await client.query<{ acquired: boolean }>(`select pg_try_advisory_lock(hashtextextended($1, 0)) as acquired`, [this.lockKey()])).rows;
    if (!row?.acquired) return false;
    await client.query(`listen ${channel}`);
    this.held = true;
    return true;
  }

  /** Calls back on each notification; returns a function that unsubscribes. */
  onNotification(listener: (payload: string | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Gives up leadership by closing the session, which releases the lock. */
  async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.held = false;
    if (client) await client.end();
  }

  private lockKey(): string {
    return `keyledger:${this.options.schema}:${this.options.lockName}`;
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      options: `-c search_path=${assertIdentifier(this.options.schema, 'database schema')}`,
      application_name: `keyledger-${this.options.lockName}`,
      // A silently dropped connection must be noticed, or an ex-leader would think it leads.
      keepAlive: true,
      keepAliveInitialDelayMillis: 5000,
      connectionTimeoutMillis: 5000,
    });
    client.on('notification', (message) => this.listeners.forEach((listener) => listener(message.payload)));
    // A broken session has lost the lock; the owner sees isHeld=false and stops leading.
    client.on('error', (error) => {
      this.options.logger.warn({ err: error }, 'leader lock connection failed; leadership lost');
      this.held = false;
      this.client = undefined;
      client.end().catch((endError: unknown) => this.options.logger.debug({ err: endError }, 'closing the failed lock connection'));
    });
    client.on('end', () => {
      this.held = false;
      if (this.client === client) this.client = undefined;
    });
    await client.connect();
    this.client = client;
    return client;
  }
}
