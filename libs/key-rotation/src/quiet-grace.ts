import type { LastUsedAnswer } from '@keyledger/contracts';
import { MAX_LAST_USED_KEYS } from '@keyledger/contracts';
import type { KeyCommands } from '@keyledger/key-commands';
import type { KeyRecord } from '@keyledger/key-domain';
import { quietGraceDecision } from '@keyledger/key-domain';
import type { CommandContext } from '@keyledger/admin-auth';
import { SYSTEM_CALLER } from '@keyledger/admin-auth';
import type { KeyIndex } from '@keyledger/key-projection';
import type { Logger, Registry } from '@keyledger/observability';
import { scrapedCounter, scrapedGauge } from '@keyledger/observability';
import { PeriodicTask } from '@keyledger/service-kit';
import { changeKeyInPass, newKeyPass } from './key-pass.js';

/** Where the rotator learns keys' last uses and how complete that knowledge is: the auditor (`usage.last-used`). */
export interface LastUseSource {
  lastUsed(keyIds: readonly string[]): Promise<LastUsedAnswer>;
}

export interface QuietGraceDependencies {
  readonly keys: Pick<KeyCommands, 'endQuietGrace'>;
  /** The rotator's key projection: which rotated keys are in a grace with a quiet period. */
  readonly index: Pick<KeyIndex, 'all'>;
  readonly usage: LastUseSource;
  readonly logger: Logger;
  readonly clock?: () => Date;
}

export interface QuietGraceSettings {
  /** How often the rotator looks for quiet old keys. */
  readonly intervalMs: number;
  /** The longest from a verification to its usage batch being in the usage stream (see `quietGraceDecision`). */
  readonly usageLagMs: number;
}

/** What one pass did, key ids by outcome. */
export interface QuietGracePass {
  readonly ended: readonly string[];
  /** Ended (or changed) by someone else first: another replica, an admin. */
  readonly lost: readonly string[];
  readonly failed: readonly string[];
  /** Keys quiet for long enough by what the projection says, whose usage the auditor could not vouch for (unreachable, lagging). */
  readonly unconfirmed: readonly string[];
}

export interface QuietGraceCounts {
  readonly ended: number;
  readonly lost: number;
  readonly failed: number;
  /** Passes whose usage question failed (auditor unreachable or refusing). */
  readonly usageUnavailable: number;
  /** Old keys in a grace with a quiet period, at the last pass. */
  readonly watched: number;
}

/**
 * Ends the grace of rotated keys that nobody uses any more: every pass, it takes the old keys
 * whose rotation recorded a quiet period and whose grace is still running, asks the auditor
 * for their last use and its usage watermark, and ends the grace of each key the domain rule
 * (`quietGraceDecision`) finds quiet, by appending KeyGraceEnded at the version it read.
 *
 * What it never does is end a grace on what it does not know: when the auditor does not
 * answer, answers without a watermark, or lags, the grace runs on (at worst to its full
 * length). Replicas need no leader: the append at the version read lets one of them through.
 */
export class QuietGrace {
  private readonly clock: () => Date;
  private readonly task: PeriodicTask;
  private totals = { ended: 0, lost: 0, failed: 0, usageUnavailable: 0, watched: 0 };
  private readonly system: CommandContext = { caller: SYSTEM_CALLER, correlationId: 'quiet-grace' };

  constructor(
    private readonly deps: QuietGraceDependencies,
    private readonly settings: QuietGraceSettings,
  ) {
    this.clock = deps.clock ?? (() => new Date());
    this.task = new PeriodicTask(
      () => this.runOnce(),
      settings.intervalMs,
      (error) => deps.logger.warn({ err: error }, 'quiet grace pass failed; retried at the next pass'),
    );
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  counts(): QuietGraceCounts {
    return { ...this.totals };
  }

  /**
   * Old keys whose grace could end now if they turned out unused: a quiet period recorded, the
   * grace running, and a quiet period passed since the rotation (the rule with the best usage
   * facts possible: never used, usage complete up to now).
   */
  candidates(): KeyRecord[] {
    const now = this.clock().getTime();
    const found: KeyRecord[] = [];
    let watched = 0;
    for (const record of this.deps.index.all()) {
      if (record.rotation?.quietPeriodMs === undefined) continue;
      const decision = quietGraceDecision(record, { lastUsedAt: undefined, ingestedUntil: now }, now, 0);
      if (decision.close) found.push(record);
      if (decision.close || decision.reason === 'in-use') watched += 1;
    }
    this.totals.watched = watched;
    return found;
  }

  /** One pass: ask the auditor about every candidate (in chunks), end the grace of the quiet ones. */
  async runOnce(): Promise<QuietGracePass> {
    const pass = newKeyPass((outcome) => (this.totals[outcome === 'done' ? 'ended' : outcome] += 1));
    const unconfirmed: string[] = [];
    const candidates = this.candidates();
    for (let start = 0; start < candidates.length && !this.task.isStopped; start += MAX_LAST_USED_KEYS) {
      const chunk = candidates.slice(start, start + MAX_LAST_USED_KEYS);
      let answer: LastUsedAnswer;
      try {
        answer = await this.deps.usage.lastUsed(chunk.map((record) => record.keyId));
      } catch (error) {
        this.totals.usageUnavailable += 1;
        this.deps.logger.warn({ err: error, keys: chunk.length }, 'the auditor did not answer for the last uses of old keys; their graces run on');
        unconfirmed.push(...chunk.map((record) => record.keyId));
        continue;
      }
      const lastUses = new Map(answer.keys.map((entry) => [entry.keyId, entry.lastUsedAt === null ? undefined : Date.parse(entry.lastUsedAt)]));
      const ingestedUntil = answer.ingestedUntil === null ? undefined : Date.parse(answer.ingestedUntil);
      for (const record of chunk) {
        if (this.task.isStopped) break;
        if (!lastUses.has(record.keyId)) {
          unconfirmed.push(record.keyId);
          continue;
        }
        const facts = { lastUsedAt: lastUses.get(record.keyId), ingestedUntil };
        // Taken after the answer: the older the answer by now, the less it is trusted.
        const decision = quietGraceDecision(record, facts, this.clock().getTime(), this.settings.usageLagMs);
        if (!decision.close) {
          if (decision.reason === 'usage-lagging' || decision.reason === 'usage-unknown') unconfirmed.push(record.keyId);
          continue;
        }
        await changeKeyInPass(
          pass,
          record.keyId,
          () => this.end(record, facts),
          (error) => this.deps.logger.warn({ keyId: record.keyId, err: error }, 'ending a quiet grace failed; retried at the next pass'),
        );
      }
    }
    return { ended: pass.done, lost: pass.lost, failed: pass.failed, unconfirmed };
  }

  private async end(record: KeyRecord, facts: { lastUsedAt: number | undefined; ingestedUntil: number | undefined }): Promise<void> {
    const view = await this.deps.keys.endQuietGrace({ keyId: record.keyId, ...facts, usageLagMs: this.settings.usageLagMs }, this.system);
    this.deps.logger.info(
      {
        keyId: record.keyId,
        tenant: record.tenant,
        replacedBy: record.rotation?.replacedBy,
        endedAt: view.expiresAt,
        lastUsedAt: facts.lastUsedAt === undefined ? null : new Date(facts.lastUsedAt).toISOString(),
      },
      'grace ended early: the old key was quiet',
    );
  }
}

/** The quiet-grace metrics, read from its totals at scrape time. */
export function registerQuietGraceMetrics(registry: Registry, quiet: Pick<QuietGrace, 'counts'>): void {
  scrapedCounter(
    registry,
    'keyledger_rotator_quiet_grace_ended_total',
    'Graces this rotator ended early because the old key was quiet',
    () => quiet.counts().ended,
  );
  scrapedCounter(
    registry,
    'keyledger_rotator_quiet_grace_lost_races_total',
    'Quiet graces ended (or keys changed) by someone else first',
    () => quiet.counts().lost,
  );
  scrapedCounter(registry, 'keyledger_rotator_quiet_grace_failures_total', 'Quiet graces whose end failed to be recorded', () => quiet.counts().failed);
  scrapedCounter(
    registry,
    'keyledger_rotator_usage_unavailable_total',
    'Times the auditor did not answer the last uses of old keys (their graces ran on)',
    () => quiet.counts().usageUnavailable,
  );
  scrapedGauge(registry, 'keyledger_rotator_quiet_grace_keys', 'Old keys in a grace with a quiet period, at the last pass', () => quiet.counts().watched);
}
