import { notificationSubject } from '@keyledger/contracts';
import type { TestContext } from '@keyledger/testing';
import { createTestContext } from '@keyledger/testing';
import { ensureDurableConsumer } from './ensure-durable-consumer.js';

describe('ensureDurableConsumer', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext('ensuredurable');
  });
  afterAll(() => ctx?.close());

  it('starts a new durable at the stream’s first message, or, asked for, at what is published after it is made', async () => {
    const { notificationStream: stream, notificationSubjects: filterSubject } = ctx.topology;
    await ctx.js.publish(notificationSubject(ctx.topology.subjectPrefix, 'acme'), '{}');
    await ensureDurableConsumer(ctx.jsm, { name: 'from-first', stream, filterSubject, ackWaitMs: 5000 });
    await ensureDurableConsumer(ctx.jsm, { name: 'from-new', stream, filterSubject, ackWaitMs: 5000, startAt: 'new' });
    expect((await ctx.jsm.consumers.info(stream, 'from-first')).num_pending).toBe(1);
    expect((await ctx.jsm.consumers.info(stream, 'from-new')).num_pending).toBe(0);
    await ctx.js.publish(notificationSubject(ctx.topology.subjectPrefix, 'acme'), '{}');
    expect((await ctx.jsm.consumers.info(stream, 'from-new')).num_pending).toBe(1);
    // Made already: asking again with another start changes nothing of its position.
    await ensureDurableConsumer(ctx.jsm, { name: 'from-new', stream, filterSubject, ackWaitMs: 5000 });
    expect((await ctx.jsm.consumers.info(stream, 'from-new')).num_pending).toBe(1);
  });
});
