import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SiemFormat } from '@keyledger/siem-format';
import type { SiemLine, SiemSink } from './siem-sink.js';

/**
 * Appends records as lines to a file, fsynced before a batch counts as written. Before a batch
 * would take the file past `maxBytes`, the file becomes `<path>.1` (`.1` becomes `.2`, …) and
 * a new one starts; at most `maxFiles` rotated files are kept.
 */
export class RotatingFileSink implements SiemSink {
  private handle: FileHandle | undefined;
  private size = 0;

  constructor(
    readonly name: string,
    readonly format: SiemFormat,
    private readonly path: string,
    private readonly maxBytes: number,
    private readonly maxFiles: number,
  ) {}

  async write(lines: readonly SiemLine[]): Promise<void> {
    const data = Buffer.from(lines.map((line) => `${line.text}\n`).join(''), 'utf8');
    let handle = await this.opened();
    if (this.size > 0 && this.size + data.length > this.maxBytes) {
      await this.rotate();
      handle = await this.opened();
    }
    try {
      await handle.write(data);
      await handle.sync();
      this.size += data.length;
    } catch (error) {
      // What was written of the batch is unknown: reopen, and let the retry append it again.
      await this.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  private async opened(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    await mkdir(dirname(this.path), { recursive: true });
    const handle = await open(this.path, 'a', 0o640);
    this.size = (await handle.stat()).size;
    this.handle = handle;
    return handle;
  }

  private async rotate(): Promise<void> {
    await this.close();
    await rm(`${this.path}.${this.maxFiles}`, { force: true });
    for (let n = this.maxFiles - 1; n >= 1; n -= 1) await rename(`${this.path}.${n}`, `${this.path}.${n + 1}`).catch(ignoreMissing);
    await rename(this.path, `${this.path}.1`);
  }
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== 'ENOENT') throw error;
}
