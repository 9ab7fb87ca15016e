import { readFileSync } from 'node:fs';
import type { DataSource } from 'typeorm';

/** Clock ticks per second of /proc/<pid>/stat on Linux. */
const TICKS_PER_SECOND = 100;

/**
 * CPU time of the Postgres backends serving connections of one application name, when Postgres
 * runs on this machine (read from /proc), from the call until `stop`: sampled every 200 ms, so a
 * connection closed before the end still counts up to its last sample. Other sessions on a
 * shared server are not counted.
 */
export async function sampleBackendCpu(observer: DataSource, applicationName: string): Promise<{ stop: () => Promise<number | undefined> }> {
  const seconds = new Map<number, number>();
  let readable = true;
  const sample = async (): Promise<void> => {
    const rows = await observer.query<{ pid: number }[]>(`select pid from pg_stat_activity where application_name = $1`, [applicationName]);
    for (const { pid } of rows) {
      try {
        // Fields 14 and 15 (utime, stime) follow the command name in parentheses.
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        seconds.set(pid, (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND);
      } catch {
        // Postgres on another machine, or the backend just ended.
        readable &&= seconds.size > 0;
      }
    }
  };
  // Connections open already (a pool kept from an earlier run) count from now on.
  await sample();
  const before = new Map(seconds);
  let sampling = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(sample).catch(() => undefined);
  }, 200);
  return {
    stop: async () => {
      clearInterval(timer);
      await sampling;
      await sample();
      return readable && seconds.size > 0 ? [...seconds].reduce((sum, [pid, cpu]) => sum + cpu - (before.get(pid) ?? 0), 0) : undefined;
    },
  };
}
