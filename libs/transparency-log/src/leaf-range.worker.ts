// A thread of `keyledger audit verify` (startLeafRangeWorkers): checks the ranges of leaves it is
// sent, one at a time, on its own connection, and answers each with its report; a null ends it.
import { parentPort, workerData } from 'node:worker_threads';
import { EventAuthenticator } from '@keyledger/event-auth';
import { createDataSource } from '@keyledger/event-store';
import type { LeafRange } from './leaf-range-check.js';
import { checkLeafRange } from './leaf-range-check.js';
import type { LeafRangeMessage, LeafRangeWorkerData } from './leaf-range-workers.js';

const data = workerData as LeafRangeWorkerData;
const port = parentPort!;
const authenticator = new EventAuthenticator(data.eventKeys.map((key) => ({ version: key.version, secret: Buffer.from(key.secret) })));
const db = createDataSource({ ...data.database, poolSize: 2 });
const ready = db.initialize();
// A failed connection is reported with the first range asked, not as a crash.
ready.catch(() => undefined);

port.on('message', (range: LeafRange | null) => {
  void (async () => {
    if (range === null) {
      if (db.isInitialized) await db.destroy();
      port.close();
      return;
    }
    let message: LeafRangeMessage;
    try {
      await ready;
      message = { report: await checkLeafRange(db, authenticator, range, data.sizes, data.pageSize) };
    } catch (error) {
      message = { failure: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(message);
  })();
});
