import type { RotationPolicySetData } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { START_OF_LOG } from '@keyledger/event-store';
import { timeOfPrefixedId } from '@keyledger/ids';
import type { KeyRecord, RotationPolicyTable } from '@keyledger/key-domain';
import { effectivePolicy, evolveRotationPolicies, isAdminKey, rotationDueAt } from '@keyledger/key-domain';
import type { CommandContext } from '@keyledger/admin-auth';
import { SYSTEM_CALLER } from '@keyledger/admin-auth';
import type { KeyIndex } from '@keyledger/key-projection';
import type { Logger, Registry } from '@keyledger/observability';
import { scrapedCounter, scrapedGauge } from '@keyledger/observability';
import { PeriodicTask } from '@keyledger/service-kit';
import { changeKeyInPass, newKeyPass } from './key-pass.js';
import type { KeyRotation } from './key-rotation.js';

export interface ScheduledRotationDependencies {
  readonly rotation: Pick<KeyRotation, 'rotate'>;
  readonly store: PostgresEventStore;
  /** The rotator's key projection: which keys exist, with their owner, state and version. */
  readonly index: KeyIndex;
  readonly logger: Logger;
  readonly clock?: () => Date;
  /** Order in which due keys are tried; shuffled by default so replicas do not walk in step. */
  readonly random?: () => number;
}

export interface ScheduledRotationSettings {
  /** How often the rotator looks for due keys. */
  readonly intervalMs: number;
  /** Each key falls due up to this much after its maximum age (the same delay on every replica). */
  readonly jitterMs: number;
}

/** What one pass did, key ids by outcome. */
export interface RotationPass {
  readonly rotated: readonly string[];
  /** Rotated (or changed) by someone else first: another replica, an admin. */
  readonly lost: readonly string[];
  readonly failed: readonly string[];
}

/** Totals since start, for metrics. */
export interface RotationCounts {
  readonly rotated: number;
  readonly lost: number;
  readonly failed: number;
  /** Keys found due by the last pass. */
  readonly due: number;
}

/**
 * Finds keys past their policy's maximum age and rotates them with the policy's grace.
 *
 * Several replicas may run it at once: each rotation appends the old key's KeyRotated at
 * the version it read, so of two replicas rotating one key only one records anything and the
 * other is refused (a lost race, not an error). Admin keys (scopes `keyledger:…`) are never
 * rotated by schedule: until new keys are delivered to their holders, that would lock the
 * operators out.
 */
export class ScheduledRotation {
  private readonly clock: () => Date;
  private readonly random: () => number;
  private policies: RotationPolicyTable = new Map();
  private policyPosition = START_OF_LOG;
  private readonly task: PeriodicTask;
  private totals = { rotated: 0, lost: 0, failed: 0, due: 0 };
  private readonly system: CommandContext = { caller: SYSTEM_CALLER, correlationId: 'scheduled-rotation' };

  constructor(
    private readonly deps: ScheduledRotationDependencies,
    private readonly settings: ScheduledRotationSettings,
  ) {
    this.clock = deps.clock ?? (() => new Date());
    this.task = new PeriodicTask(
      () => this.runOnce(),
      settings.intervalMs,
      (error) => deps.logger.warn({ err: error }, 'rotation pass failed; retried at the next pass'),
    );
    this.random = deps.random ?? Math.random;
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  counts(): RotationCounts {
    return { ...this.totals };
  }

  /** Keys due at the clock's now, by the policies read so far. */
  dueKeys(): KeyRecord[] {
    const now = this.clock().getTime();
    const due: KeyRecord[] = [];
    for (const record of this.deps.index.all()) {
      if (isAdminKey(record)) continue;
      const issuedAt = timeOfPrefixedId(record.keyId);
      if (issuedAt === undefined) continue;
      const at = rotationDueAt(record, issuedAt, effectivePolicy(this.policies, record.tenant, record.owner), this.settings.jitterMs, now);
      if (at !== undefined && at <= now) due.push(record);
    }
    return due;
  }

  /** One pass: read new policies, rotate every due key (in random order), report what happened. */
  async runOnce(): Promise<RotationPass> {
    await this.readPolicies();
    const due = this.dueKeys();
    this.totals.due = due.length;
    for (let i = due.length - 1; i > 0; i -= 1) {
      const j = Math.floor(this.random() * (i + 1));
      [due[i], due[j]] = [due[j]!, due[i]!];
    }
    const pass = newKeyPass((outcome) => (this.totals[outcome === 'done' ? 'rotated' : outcome] += 1));
    for (const record of due) {
      if (this.task.isStopped) break;
      const policy = effectivePolicy(this.policies, record.tenant, record.owner);
      const grace = policy.graceMs;
      await changeKeyInPass(
        pass,
        record.keyId,
        async () => {
          const rotated = await this.deps.rotation.rotate(
            // The quiet period as this pass read it (null: none), so the rotation does not read the policies again.
            {
              keyId: record.keyId,
              emergency: false,
              waitForVerifiers: false,
              quietPeriodMs: policy.quietPeriodMs,
              ...(grace === null ? {} : { graceMs: grace }),
            },
            this.system,
          );
          // Never the plaintext: the new key reaches its owner only sealed (delivery), or not at all.
          this.deps.logger.info({ keyId: record.keyId, replacedBy: rotated.keyId, tenant: record.tenant, delivery: rotated.delivery }, 'scheduled rotation');
          if (rotated.delivery === 'FAILED' || rotated.delivery === 'UNRECORDED')
            this.deps.logger.warn(
              { keyId: rotated.keyId, owner: record.owner, delivery: rotated.delivery },
              'the new key of a scheduled rotation was not delivered and recorded',
            );
        },
        (error) => this.deps.logger.warn({ keyId: record.keyId, err: error }, 'scheduled rotation failed; retried at the next pass'),
      );
    }
    return { rotated: pass.done, lost: pass.lost, failed: pass.failed };
  }

  /** Policies live on tenant streams; new ones are read from where the last pass stopped. */
  private async readPolicies(): Promise<void> {
    for (;;) {
      const page = await this.deps.store.readAll(this.policyPosition, 500, 'tenant');
      for (const event of page.events)
        if (event.type === 'RotationPolicySet') this.policies = evolveRotationPolicies(this.policies, event.data as RotationPolicySetData);
      // Past refused rows too (the store reported them): they are never read as policies.
      if (page.end) this.policyPosition = page.end;
      if (page.rows < 500) return;
    }
  }
}

/** The rotator's metrics, read from its totals at scrape time. */
export function registerRotationMetrics(registry: Registry, rotation: Pick<ScheduledRotation, 'counts'>): void {
  scrapedCounter(registry, 'keyledger_rotator_rotations_total', 'Keys this rotator rotated by policy', () => rotation.counts().rotated);
  scrapedCounter(
    registry,
    'keyledger_rotator_lost_races_total',
    'Due keys rotated or changed by someone else first (another replica)',
    () => rotation.counts().lost,
  );
  scrapedCounter(
    registry,
    'keyledger_rotator_failures_total',
    'Scheduled rotations that failed (each is tried again at the next pass)',
    () => rotation.counts().failed,
  );
  scrapedGauge(registry, 'keyledger_rotator_due_keys', 'Keys found due by the last pass', () => rotation.counts().due);
}
