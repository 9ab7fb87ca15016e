import type { Writable } from 'node:stream';
import type { SiemFormat } from '@keyledger/siem-format';
import type { SiemLine, SiemSink } from './siem-sink.js';

/** Writes each record as a line to a stream the process does not own, such as its stdout. */
export class StreamSink implements SiemSink {
  constructor(
    readonly name: string,
    readonly format: SiemFormat,
    private readonly stream: Writable,
  ) {}

  write(lines: readonly SiemLine[]): Promise<void> {
    const data = lines.map((line) => `${line.text}\n`).join('');
    return new Promise((resolve, reject) => this.stream.write(data, (error) => (error ? reject(error) : resolve())));
  }

  async close(): Promise<void> {}
}
