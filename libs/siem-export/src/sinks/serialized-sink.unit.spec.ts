import type { SiemLine, SiemSink } from './siem-sink.js';
import { SerializedSink } from './serialized-sink.js';

const line = (text: string): SiemLine => ({
  text,
  record: { eventId: text, type: 'KeyUsed', recordClass: 'api-activity', severity: 'info', position: text, occurredAt: '2026-12-06T16:00:00Z', actor: 'x' },
});

/** A sink whose writes finish only when the test says, recording when each began and ended. */
function slowSink(): SiemSink & { log: string[]; finish: (() => void)[]; closes: number } {
  const sink = {
    name: 'slow',
    format: 'jsonl' as const,
    log: [] as string[],
    finish: [] as (() => void)[],
    closes: 0,
    write: (lines: readonly SiemLine[]) =>
      new Promise<void>((resolve, reject) => {
        const batch = lines.map((l) => l.text).join(',');
        sink.log.push(`begin ${batch}`);
        sink.finish.push(() => {
          sink.log.push(`end ${batch}`);
          if (batch === 'bad') reject(new Error('refused'));
          else resolve();
        });
      }),
    close: () => {
      sink.closes += 1;
      return Promise.resolve();
    },
  };
  return sink;
}

describe('SerializedSink', () => {
  it('lets one write at a time reach the sink, in the order asked, a failed one included', async () => {
    const inner = slowSink();
    const sink = new SerializedSink(inner);
    const writes = [sink.write([line('a1'), line('a2')]), sink.write([line('bad')]), sink.write([line('u1')])];
    await Promise.resolve();
    expect(inner.log).toEqual(['begin a1,a2']);
    inner.finish.shift()!();
    await writes[0];
    await new Promise((resolve) => setImmediate(resolve));
    expect(inner.log).toEqual(['begin a1,a2', 'end a1,a2', 'begin bad']);
    inner.finish.shift()!();
    await expect(writes[1]).rejects.toThrow('refused');
    await new Promise((resolve) => setImmediate(resolve));
    inner.finish.shift()!();
    await writes[2];
    expect(inner.log).toEqual(['begin a1,a2', 'end a1,a2', 'begin bad', 'end bad', 'begin u1', 'end u1']);
  });

  it('closes the sink once, whichever of its exports closes it, after the write in flight', async () => {
    const inner = slowSink();
    const sink = new SerializedSink(inner);
    const write = sink.write([line('a')]);
    const closed = Promise.all([sink.close(), sink.close()]);
    await Promise.resolve();
    expect(inner.closes).toBe(0);
    inner.finish.shift()!();
    await write;
    await closed;
    expect(inner.closes).toBe(1);
  });
});
