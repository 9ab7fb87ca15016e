import type { SiemLine, SiemSink } from './siem-sink.js';

/**
 * One sink shared by the exports of several sources (events, alerts, usage): each write waits
 * for the one before, so batches reach the sink whole and one after another (a file rotates
 * between two batches, never inside one), and the sink is closed once, by whichever export
 * closes it first.
 */
export class SerializedSink implements SiemSink {
  private tail: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;

  constructor(private readonly inner: SiemSink) {}

  get name(): string {
    return this.inner.name;
  }

  get format(): SiemSink['format'] {
    return this.inner.format;
  }

  write(lines: readonly SiemLine[]): Promise<void> {
    const write = this.tail.then(() => this.inner.write(lines));
    this.tail = write.catch(() => undefined);
    return write;
  }

  close(): Promise<void> {
    this.closing ??= this.tail.then(() => this.inner.close());
    return this.closing;
  }
}
