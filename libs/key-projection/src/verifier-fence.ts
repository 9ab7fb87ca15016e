import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { GlobalPosition } from '@keyledger/contracts';
import { verifierAppliedSubject } from '@keyledger/contracts';
import { compareGlobalPositions } from '@keyledger/event-store';
import type { EventAuthenticator } from '@keyledger/event-auth';

interface Announcement {
  readonly position: GlobalPosition;
  /** The verifier's own time of the announcement, as sealed. */
  readonly at: string;
  readonly seenAt: number;
}

export interface FenceResult {
  /** True when every live verifier applied the position before the timeout. */
  readonly complete: boolean;
  readonly verifiers: readonly { readonly instance: string; readonly applied: boolean }[];
  readonly waitedMs: number;
}

/**
 * Tracks the store position every live verifier has applied, from their announcements, so
 * a command (RevokeKey) can answer only once every verifier rejects the key. A verifier
 * that has not announced within `liveWithinMs` is considered gone and not waited for.
 */
export class VerifierFence {
  private readonly applied = new Map<string, Announcement>();
  private subscription: Subscription | undefined;
  private readonly waiters = new Set<() => void>();

  /** Announcements heard without a valid seal, and ignored. */
  private refused = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjectPrefix: string,
    private readonly authenticator: EventAuthenticator,
    private readonly liveWithinMs = 3000,
    private readonly clock: () => number = Date.now,
  ) {}

  start(): void {
    this.subscription = this.nc.subscribe(verifierAppliedSubject(this.subjectPrefix), {
      callback: (error, message) => {
        if (error) return;
        const body = readAnnouncement(this.authenticator, message.data);
        // Not a sealed announcement: a stranger's claim that a verifier has applied a revocation
        // would end the fence early (or one for a verifier that does not exist, hold it up).
        if (!body) {
          this.refused += 1;
          return;
        }
        // A genuine announcement sent again (by anyone who saw it) must neither keep a verifier
        // that is gone alive nor move one back: only a later one from the same instance counts.
        const held = this.applied.get(body.instance);
        const order = held ? compareGlobalPositions(body, held.position) : 1;
        if (held && (body.at < held.at || order < 0 || (body.at === held.at && order === 0))) {
          this.refused += 1;
          return;
        }
        this.applied.set(body.instance, { position: { transactionId: body.transactionId, position: body.position }, at: body.at, seenAt: this.clock() });
        this.waiters.forEach((wake) => wake());
      },
    });
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.waiters.forEach((wake) => wake());
  }

  /**
   * The verifiers heard from recently, with the position each has applied. A verifier not
   * heard from within `liveWithinMs` is forgotten (each replaced pod has a new instance name,
   * so the map would otherwise grow with every deployment); its next announcement brings it back.
   */
  liveVerifiers(): { instance: string; position: GlobalPosition }[] {
    const now = this.clock();
    const live: { instance: string; position: GlobalPosition }[] = [];
    for (const [instance, announcement] of this.applied) {
      if (now - announcement.seenAt <= this.liveWithinMs) live.push({ instance, position: announcement.position });
      else this.applied.delete(instance);
    }
    return live;
  }

  /** How many announcements were ignored: their seal did not verify, or they were not newer than the instance's last. */
  get refusedAnnouncements(): number {
    return this.refused;
  }

  /** How many verifiers the fence remembers (the live ones, and those gone silent since the last look). */
  get remembered(): number {
    return this.applied.size;
  }

  /** Waits until every live verifier has applied `target`, or the timeout passes. */
  async waitFor(target: GlobalPosition, timeoutMs: number): Promise<FenceResult> {
    const started = this.clock();
    const check = (): FenceResult => {
      const verifiers = this.liveVerifiers().map(({ instance, position }) => ({ instance, applied: compareGlobalPositions(position, target) >= 0 }));
      return { complete: verifiers.every((v) => v.applied), verifiers, waitedMs: this.clock() - started };
    };
    let result = check();
    const deadline = started + timeoutMs;
    while (!result.complete && this.clock() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(100, Math.max(1, deadline - this.clock())));
        const waiters = this.waiters;
        function done(): void {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
      result = check();
    }
    return result;
  }
}

/**
 * The message announcing that `instance` has applied the store up to `position`, sealed under
 * the event key: the one format verifiers publish and fences read.
 */
export function encodeAnnouncement(authenticator: EventAuthenticator, instance: string, position: GlobalPosition, at: Date): string {
  const fields = { instance, transactionId: position.transactionId, position: position.position, at: at.toISOString() };
  return JSON.stringify({ ...fields, auth: authenticator.sealAnnouncement(fields) });
}

/** One decoder for every announcement (each verifier sends one a second to every fence). */
const UTF8 = new TextDecoder();

/** An announcement whose seal verifies, or undefined for anything else. */
export function readAnnouncement(authenticator: EventAuthenticator, data: Uint8Array): (GlobalPosition & { instance: string; at: string }) | undefined {
  try {
    const body = JSON.parse(UTF8.decode(data)) as Record<string, unknown>;
    const { instance, transactionId, position, at, auth } = body;
    if (typeof instance !== 'string' || typeof transactionId !== 'string' || typeof position !== 'string' || typeof at !== 'string') return undefined;
    if (!/^\d{1,20}$/.test(transactionId) || !/^\d{1,20}$/.test(position)) return undefined;
    const seal = auth as { v?: unknown; mac?: unknown } | undefined;
    if (typeof seal?.v !== 'number' || typeof seal.mac !== 'string') return undefined;
    if (authenticator.checkAnnouncement({ instance, transactionId, position, at }, { v: seal.v, mac: seal.mac }) !== 'ok') return undefined;
    return { instance, transactionId, position, at };
  } catch {
    // Not JSON: not one of ours.
    return undefined;
  }
}
