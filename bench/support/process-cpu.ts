// CPU time of processes from /proc/<pid>/stat (user + system), and the Postgres backends serving
// a set of client processes (found by their sockets, so that other users of a shared server are
// not counted). Linux only; the clock tick is 10 ms, so windows must hold enough requests.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { DataSource } from 'typeorm';

const TICK_US = 10_000; // CLK_TCK is 100 on Linux

/** CPU time (µs) a process has used so far; 0 once it is gone. */
export function cpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return 0;
  }
}

/**
 * Context switches of a process so far, over its threads (voluntary and not): about one per
 * wake-up of an idle thread, a figure that does not depend on how dear a wake-up is on the
 * machine. Threads that ended are not counted; 0 once the process is gone.
 */
export function contextSwitches(pid: number): number {
  let total = 0;
  try {
    for (const thread of readdirSync(`/proc/${pid}/task`)) {
      try {
        const status = readFileSync(`/proc/${pid}/task/${thread}/status`, 'utf8');
        for (const match of status.matchAll(/^(?:voluntary|nonvoluntary)_ctxt_switches:\s+(\d+)$/gm)) total += Number(match[1]);
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    return 0;
  }
  return total;
}

/** Local TCP ports of the connections `pids` hold to `remotePort`. */
function localPortsTo(pids: readonly number[], remotePort: number): number[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith('socket:[')) inodes.add(target.slice(8, -1));
      } catch {
        // closed meanwhile
      }
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const columns = line.trim().split(/\s+/);
      if (columns.length < 10 || !inodes.has(columns[9]!)) continue;
      const local = Number.parseInt(columns[1]!.split(':')[1]!, 16);
      const remote = Number.parseInt(columns[2]!.split(':')[1]!, 16);
      if (remote === remotePort) ports.push(local);
    }
  }
  return ports;
}

/** Pids of the Postgres backends serving the connections `clients` hold (Postgres on this machine). */
export async function postgresBackends(db: DataSource, clients: readonly number[], postgresPort = 5432): Promise<number[]> {
  const ports = localPortsTo(clients, postgresPort);
  if (ports.length === 0) return [];
  const rows = await db.query<{ pid: number }[]>(`select pid from pg_stat_activity where client_port = any($1::int[])`, [ports]);
  return rows.map((row) => row.pid);
}

/** A group of processes whose CPU time is summed; `refresh` adds processes that appeared (counted from 0). */
export class CpuGroup {
  private readonly start = new Map<number, number>();

  constructor(private readonly find: () => Promise<readonly number[]> | readonly number[]) {}

  async begin(): Promise<void> {
    this.start.clear();
    for (const pid of await this.find()) this.start.set(pid, cpuMicros(pid));
  }

  /** CPU time used since `begin` (µs), by every process of the group then or now. */
  async used(): Promise<number> {
    const now = new Set(await this.find());
    let total = 0;
    for (const [pid, at] of this.start) total += Math.max(0, cpuMicros(pid) - at);
    for (const pid of now) if (!this.start.has(pid)) total += cpuMicros(pid);
    return total;
  }
}
