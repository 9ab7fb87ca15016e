import { Worker } from 'node:worker_threads';
import type { VersionedSecret } from '@keyledger/key-secrets';
import type { ChainReport, DatabaseOptions } from '@keyledger/event-store';
import type { LeafRange, LeafRangeReport } from './leaf-range-check.js';
import type { LogProblem } from './log-report.js';

/** Threads that check ranges of leaves, each on its own connection, with the event keys to check MACs with. */
export interface LeafRangeWorkers {
  readonly count: number;
  /** Where each thread connects (one connection each). */
  readonly database: Pick<DatabaseOptions, 'url' | 'schema' | 'role' | 'applicationName'>;
  readonly eventKeys: readonly VersionedSecret[];
  /** The threads' script; by default leaf-range.worker.js beside this module, where the build puts it. */
  readonly script?: URL;
}

/** What a thread is started with. */
export interface LeafRangeWorkerData {
  readonly database: LeafRangeWorkers['database'];
  readonly eventKeys: readonly VersionedSecret[];
  readonly sizes: readonly number[];
  readonly pageSize: number;
}

/** A report as it crosses threads: Buffers arrive as Uint8Arrays. */
export type LeafRangeMessage =
  | {
      readonly report: {
        readonly leavesChecked: number;
        readonly problems: readonly LogProblem[];
        readonly root: Uint8Array;
        readonly rootsAt: ReadonlyMap<number, Uint8Array>;
        readonly chains: ChainReport;
      };
    }
  | { readonly failure: string };

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * Starts `count` threads (leaf-range.worker.ts, built beside this file) and returns one checker
 * per thread, each checking one range at a time, and a function that stops them. A range's
 * report does not depend on any other's (`checkLeafRange`), so they need share nothing.
 */
export function startLeafRangeWorkers(
  workers: LeafRangeWorkers,
  sizes: readonly number[],
  pageSize: number,
): { readonly lanes: ((range: LeafRange) => Promise<LeafRangeReport>)[]; readonly stop: () => Promise<void> } {
  const script = workers.script ?? new URL('./leaf-range.worker.js', import.meta.url);
  const data: LeafRangeWorkerData = { database: workers.database, eventKeys: workers.eventKeys, sizes, pageSize };
  const threads = Array.from({ length: workers.count }, () => new Worker(script, { workerData: data }));
  // Listened for from the start: a thread that ends early (a crash) fails its range rather than leaving it waiting.
  const exited = threads.map((thread) => new Promise<number>((resolve) => thread.once('exit', resolve)));
  const lanes = threads.map(
    (thread, i) => (range: LeafRange) =>
      new Promise<LeafRangeReport>((resolve, reject) => {
        let settled = false;
        const settle = (): boolean => {
          thread.off('message', onMessage);
          thread.off('error', onError);
          const first = !settled;
          settled = true;
          return first;
        };
        const onMessage = (message: LeafRangeMessage): void => {
          if (!settle()) return;
          if ('failure' in message) reject(new Error(message.failure));
          else {
            const { report } = message;
            resolve({ ...report, root: asBuffer(report.root), rootsAt: new Map([...report.rootsAt].map(([size, root]) => [size, asBuffer(root)])) });
          }
        };
        const onError = (error: Error): void => {
          if (settle()) reject(error);
        };
        thread.on('message', onMessage);
        thread.on('error', onError);
        void exited[i]!.then((code) => {
          if (settle()) reject(new Error(`a verifying thread ended (exit code ${code}) before checking leaves [${range.start}, ${range.end})`));
        });
        thread.postMessage(range);
      }),
  );
  const stop = async (): Promise<void> => {
    // Each thread closes its connections and ends once asked (a null range); one ended already is not waited for twice.
    for (const thread of threads) thread.postMessage(null);
    await Promise.all(exited);
  };
  return { lanes, stop };
}
