import { verifierAppliedSubject } from '@keyledger/contracts';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually } from '@keyledger/testing';
import { randomBytes } from 'node:crypto';
import { EventAuthenticator } from '@keyledger/event-auth';
import { VerifierFence, encodeAnnouncement } from './verifier-fence.js';

describe('revocation fence (real NATS)', () => {
  let ctx: TestContext;
  let now = 1_000_000;
  let fence: VerifierFence;
  const announce = (instance: string, position: string) =>
    ctx.nc.publish(verifierAppliedSubject(ctx.topology.subjectPrefix), encodeAnnouncement(ctx.auth.authenticator, instance, { transactionId: '10', position }, new Date()));

  beforeAll(async () => {
    ctx = await createTestContext('fence');
    fence = new VerifierFence(ctx.nc, ctx.topology.subjectPrefix, ctx.auth.authenticator, 3000, () => now);
    fence.start();
  });
  afterAll(async () => {
    fence.stop();
    await ctx.close();
  });

  it('waits for every live verifier, not for one gone silent, and forgets the silent one', async () => {
    announce('verifier-a', '5');
    announce('verifier-b', '5');
    await eventually('both heard', () => fence.liveVerifiers().length, (n) => n === 2);

    // b stops announcing; 4 s later only a is live, and b is no longer remembered.
    now += 4000;
    announce('verifier-a', '5');
    await eventually('a heard again', () => fence.liveVerifiers().map((v) => v.instance), (live) => live.length === 1 && live[0] === 'verifier-a');
    expect(fence.remembered).toBe(1);

    const waiting = fence.waitFor({ transactionId: '10', position: '7' }, 60_000);
    announce('verifier-a', '7');
    const result = await waiting;
    expect(result).toMatchObject({ complete: true, verifiers: [{ instance: 'verifier-a', applied: true }] });
  });

  it('ignores what is not an announcement, and times out on a verifier that has not applied the position', async () => {
    // The real clock here: the timeout has to pass.
    const fence = new VerifierFence(ctx.nc, ctx.topology.subjectPrefix, ctx.auth.authenticator);
    fence.start();
    ctx.nc.publish(verifierAppliedSubject(ctx.topology.subjectPrefix), 'not json');
    ctx.nc.publish(verifierAppliedSubject(ctx.topology.subjectPrefix), JSON.stringify({ instance: 'verifier-c', transactionId: 'x', position: '1' }));
    announce('verifier-d', '3');
    await eventually('d heard', () => fence.liveVerifiers().map((v) => v.instance), (live) => live.includes('verifier-d'));
    expect(fence.liveVerifiers().map((v) => v.instance)).not.toContain('verifier-c');
    const result = await fence.waitFor({ transactionId: '10', position: '9' }, 150);
    expect(result.complete).toBe(false);
    expect(result.verifiers).toContainEqual({ instance: 'verifier-d', applied: false });
    fence.stop();
  });

  it('believes no announcement a stranger makes: unsealed, sealed under another key, or a sealed one edited', async () => {
    const fence = new VerifierFence(ctx.nc, ctx.topology.subjectPrefix, ctx.auth.authenticator);
    fence.start();
    const subject = verifierAppliedSubject(ctx.topology.subjectPrefix);
    announce('verifier-real', '3');
    await eventually('the real verifier heard', () => fence.liveVerifiers().map((v) => v.instance), (live) => live.includes('verifier-real'));

    // Each claims the real verifier has applied far beyond the revocation the fence waits for.
    const stranger = new EventAuthenticator([{ version: 1, secret: randomBytes(32) }]);
    const genuine = JSON.parse(encodeAnnouncement(ctx.auth.authenticator, 'verifier-real', { transactionId: '10', position: '3' }, new Date())) as Record<string, unknown>;
    ctx.nc.publish(subject, JSON.stringify({ instance: 'verifier-real', transactionId: '10', position: '999', at: new Date().toISOString() }));
    ctx.nc.publish(subject, encodeAnnouncement(stranger, 'verifier-real', { transactionId: '10', position: '999' }, new Date()));
    ctx.nc.publish(subject, JSON.stringify({ ...genuine, position: '999' }));
    await eventually('all three refused', () => fence.refusedAnnouncements, (refused) => refused === 3);

    const result = await fence.waitFor({ transactionId: '10', position: '9' }, 150);
    expect(result).toMatchObject({ complete: false, verifiers: [{ instance: 'verifier-real', applied: false }] });
    fence.stop();
  });

  it('lets no replayed announcement keep a verifier that is gone alive, or move one back', async () => {
    let clock = 5_000_000;
    const fence = new VerifierFence(ctx.nc, ctx.topology.subjectPrefix, ctx.auth.authenticator, 3000, () => clock);
    fence.start();
    const subject = verifierAppliedSubject(ctx.topology.subjectPrefix);
    const old = encodeAnnouncement(ctx.auth.authenticator, 'verifier-gone', { transactionId: '10', position: '3' }, new Date(Date.now() - 60_000));
    const latest = encodeAnnouncement(ctx.auth.authenticator, 'verifier-gone', { transactionId: '10', position: '8' }, new Date());
    ctx.nc.publish(subject, latest);
    await eventually('heard', () => fence.liveVerifiers().map((v) => v.position.position), (positions) => positions[0] === '8');

    // Its older announcement would move it back; its last one, sent again, would keep it alive.
    ctx.nc.publish(subject, old);
    clock += 2000;
    ctx.nc.publish(subject, latest);
    await eventually('both refused', () => fence.refusedAnnouncements, (refused) => refused === 2);
    expect(fence.liveVerifiers()).toEqual([{ instance: 'verifier-gone', position: { transactionId: '10', position: '8' } }]);
    // Gone silent for longer than liveWithinMs since its last real announcement: not waited for.
    clock += 2000;
    expect(fence.liveVerifiers()).toEqual([]);
    fence.stop();
  });
});
