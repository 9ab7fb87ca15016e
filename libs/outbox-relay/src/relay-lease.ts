import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { assertIdentifier } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';
import type { ProcessTick } from '@keyledger/timers';
import { everyTick } from '@keyledger/timers';

export interface RelayLeaseOptions {
  readonly databaseUrl: string;
  readonly schema: string;
  /** Distinguishes independent leaders in one schema (a row of `relay_leases`). */
  readonly relayName: string;
  readonly logger: Logger;
  /** How long a lease lasts without renewal: a stalled leader is replaced after at most this. */
  readonly ttlMs: number;
  /** How often the leader renews; well under the TTL so one slow round trip does not lose it. */
  readonly renewIntervalMs: number;
}

/** The defaults: renew every second, replaced within three seconds of the last renewal. */
export const DEFAULT_LEASE_TTL_MS = 3000;
export const DEFAULT_LEASE_RENEW_INTERVAL_MS = 1000;

/**
 * Relay leadership as a lease in Postgres that the leader must keep renewing. An advisory lock
 * lives as long as its session, so a leader that stops without dying (SIGSTOP, a frozen VM, a
 * GC pause) kept it and nothing was published; a lease runs out instead.
 *
 * - A standby takes the lease once it expired (the database clock decides, so relays need no
 *   agreement on time) or at once when the holder's session is gone (a killed leader).
 * - Each take bumps `epoch`; a renewal must name the epoch it holds, so a deposed leader that
 *   wakes up learns it lost the lease at its first renewal and never renews someone else's.
 * - Until then it believes itself leader only while its last renewal is younger than the TTL
 *   by its own monotonic clock, counted from when that renewal was sent: that belief ends no
 *   later than the lease in the database. What a deposed leader had already sent is fenced by
 *   JetStream (the relay publishes each batch against the stream's last sequence).
 *
 * The same session LISTENs for new events, since a leader is the one that needs them.
 */
export class RelayLease {
  private client: pg.Client | undefined;
  private epoch: string | undefined;
  private renewedAt = 0;
  private renewTimer: ProcessTick | undefined;
  private readonly holder = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  private readonly listeners = new Set<(payload: string | undefined) => void>();

  constructor(private readonly options: RelayLeaseOptions) {
    if (options.renewIntervalMs >= options.ttlMs) throw new RangeError('the lease must be renewed more often than it lasts');
  }

  /** True while this relay holds an unexpired lease, by its own clock. */
  get isHeld(): boolean {
    return this.epoch !== undefined && performance.now() - this.renewedAt < this.options.ttlMs;
  }

  /** The epoch of the lease held, for logs and health. */
  get heldEpoch(): string | undefined {
    return this.isHeld ? this.epoch : undefined;
  }

  /** Tries once to take (or, if this relay still holds it, renew) the lease; true when it now leads. */
  async tryAcquire(channel: string): Promise<boolean> {
    if (this.epoch !== undefined) {
      if (await this.renew()) return true;
    }
    const client = await this.connect(channel);
    const sentAt = performance.now();
    const { rows } = await client.query<{ epoch: string }>(
      `insert into relay_leases as lease (relay, holder, epoch, holder_pid, expires_at)
       values ($1, $2, 1, pg_backend_pid(), clock_timestamp() + $3 * interval '1 millisecond')
       on conflict (relay) do update
         set holder = excluded.holder, epoch = lease.epoch + 1, holder_pid = excluded.holder_pid, expires_at = excluded.expires_at
         where lease.expires_at < clock_timestamp()
            or not exists (select 1 from pg_stat_activity where pid = lease.holder_pid)
       returning epoch::text`,
      [this.options.relayName, this.holder, this.options.ttlMs],
    );
    const taken = rows[0];
    if (!taken) return false;
    this.epoch = taken.epoch;
    this.renewedAt = sentAt;
    this.options.logger.info({ epoch: taken.epoch, holder: this.holder }, 'relay lease taken');
    this.scheduleRenewals();
    return true;
  }

  /** Calls back on each notification; returns a function that unsubscribes. */
  onNotification(listener: (payload: string | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Gives the lease up at once (so a standby need not wait for it to expire) and closes the session. */
  async release(): Promise<void> {
    this.stopRenewals();
    const client = this.client;
    const epoch = this.epoch;
    this.client = undefined;
    this.epoch = undefined;
    if (!client) return;
    try {
      // Expired rather than deleted, so the next holder's epoch is still a higher one.
      if (epoch !== undefined)
        await client.query(`update relay_leases set expires_at = '-infinity' where relay = $1 and holder = $2 and epoch = $3`, [this.options.relayName, this.holder, epoch]);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not give the relay lease up; it expires on its own');
    } finally {
      await client.end().catch((error: unknown) => this.options.logger.debug({ err: error }, 'closing the lease session'));
    }
  }

  /** Extends the lease held; false (and no longer held) when another relay took it meanwhile. */
  private async renew(): Promise<boolean> {
    const client = this.client;
    const epoch = this.epoch;
    if (!client || epoch === undefined) return false;
    const sentAt = performance.now();
    const { rowCount } = await client.query(
      `update relay_leases set expires_at = clock_timestamp() + $4 * interval '1 millisecond' where relay = $1 and holder = $2 and epoch = $3`,
      [this.options.relayName, this.holder, epoch, this.options.ttlMs],
    );
    if (this.epoch !== epoch) return false;
    if (rowCount === 1) {
      this.renewedAt = sentAt;
      return true;
    }
    this.options.logger.warn({ epoch, holder: this.holder }, 'relay lease lost to another relay; no longer leading');
    this.epoch = undefined;
    this.stopRenewals();
    return false;
  }

  private scheduleRenewals(): void {
    this.stopRenewals();
    this.renewTimer = everyTick(
      this.options.renewIntervalMs,
      () => {
        this.renew().catch((error: unknown) => this.options.logger.warn({ err: error }, 'relay lease renewal failed'));
      },
      { unref: true },
    );
  }

  private stopRenewals(): void {
    this.renewTimer?.stop();
    this.renewTimer = undefined;
  }

  private async connect(channel: string): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      options: `-c search_path=${assertIdentifier(this.options.schema, 'database schema')}`,
      application_name: `keyledger-relay-${this.options.relayName}`,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5000,
      connectionTimeoutMillis: 5000,
      // A renewal stuck on a dead connection must fail before the lease it extends runs out.
      query_timeout: this.options.ttlMs,
    });
    client.on('notification', (message) => this.listeners.forEach((listener) => listener(message.payload)));
    // A broken session holds nothing any more: the lease runs out (or is taken at once, the
    // session being gone); the leader sees isHeld turn false by its clock and stops leading.
    client.on('error', (error) => {
      this.options.logger.warn({ err: error }, 'relay lease session failed');
      if (this.client === client) this.client = undefined;
      client.end().catch((endError: unknown) => this.options.logger.debug({ err: endError }, 'closing the failed lease session'));
    });
    client.on('end', () => {
      if (this.client === client) this.client = undefined;
    });
    await client.connect();
    await client.query(`listen ${assertIdentifier(channel, 'notification channel')}`);
    this.client = client;
    return client;
  }
}
