import type { ChildProcess } from 'node:child_process';
import { headers } from '@nats-io/transport-node';
import { apiSubject } from '@keyledger/contracts';
import type { ApiErrorBody, VerifyResult } from '@keyledger/contracts';
import { freePort } from './free-port.js';
import { eventually } from './stream-reader.js';
import { serviceOutput, spawnService, stopProcesses } from './service-process.js';
import type { TestContext } from './test-context.js';

export interface RunningService {
  readonly name: string;
  readonly child: ChildProcess;
  readonly httpPort: number;
  readonly grpcPort: number;
}

export interface RunningServices {
  readonly all: readonly RunningService[];
  /** The instances of one service, in start order. */
  of(name: string): RunningService[];
  /** Everything the services wrote to stdout and stderr. */
  logs(): string;
  /** SIGTERM to every service. */
  stop(): void;
}

/**
 * Starts built services as real processes on free ports against the context's schema and
 * streams, and waits until each answers /health/ready.
 */
export async function startServices(
  ctx: TestContext,
  names: readonly string[],
  env: Record<string, string> = {},
  nodeFlags: readonly string[] = [],
): Promise<RunningServices> {
  const all: RunningService[] = [];
  try {
    for (const name of names) {
      const [httpPort, grpcPort] = [await freePort(), await freePort()];
      const child = spawnService(ctx, name, { HTTP_HOST: '127.0.0.1', ...env, HTTP_PORT: String(httpPort), GRPC_PORT: String(grpcPort) }, nodeFlags);
      all.push({ name, child, httpPort, grpcPort });
    }
    for (const { name, child, httpPort } of all) {
      await eventually(
        `${name} ready`,
        () =>
          fetch(`http://127.0.0.1:${httpPort}/health/ready`).then(
            (response) => response.status,
            () => 0,
          ),
        (status) => status === 200,
        60_000,
      ).catch((error: unknown) => {
        // A service that never gets ready says why in its own output, which the test would otherwise drop.
        const state = child.exitCode !== null || child.signalCode !== null ? `exited (${child.exitCode ?? child.signalCode})` : 'still running';
        throw new Error(`${(error as Error).message}; ${name} (pid ${child.pid}) ${state}, its last output:\n${serviceOutput(child).slice(-3000)}`);
      });
    }
  } catch (error) {
    // The caller gets no handle to stop them: left running, they would outlive the test and
    // load the machine for every test after it.
    await stopProcesses(all.map(({ child }) => child));
    throw error;
  }
  return {
    all,
    of: (name) => all.filter((service) => service.name === name),
    logs: () => all.map(({ child }) => serviceOutput(child)).join('\n'),
    stop: () => all.forEach(({ child }) => child.kill('SIGTERM')),
  };
}

export type ApiReply<T> = { ok: true; result: T; error?: undefined } | ({ ok: false; result?: undefined } & ApiErrorBody);

/** The NATS key API as a test client: admin calls with a key (or none), and verify. */
export interface NatsKeyApi {
  call<T>(operation: string, body: unknown, adminKey?: string | null): Promise<ApiReply<T>>;
  /** Like call, but throws on an error reply. */
  ok<T>(operation: string, body: unknown, adminKey?: string | null): Promise<T>;
  verify(body: unknown): Promise<VerifyResult>;
  /** Waits until the issuer's projection knows the admin key (it is usable just after start). */
  adminKeyAccepted(): Promise<void>;
}

export function natsKeyApi(ctx: TestContext, defaultAdminKey: string): NatsKeyApi {
  const subject = (operation: string): string => apiSubject(ctx.topology.subjectPrefix, operation);
  const call = async <T>(operation: string, body: unknown, adminKey: string | null = defaultAdminKey): Promise<ApiReply<T>> => {
    const h = headers();
    if (adminKey) h.set('Authorization', `Bearer ${adminKey}`);
    const reply = await ctx.nc.request(subject(operation), JSON.stringify(body), { timeout: 30_000, headers: h });
    return reply.json<ApiReply<T>>();
  };
  return {
    call,
    async ok<T>(operation: string, body: unknown, adminKey?: string | null): Promise<T> {
      const reply = await call<T>(operation, body, adminKey);
      if (!reply.ok) throw new Error(`${operation} failed: ${reply.error.code}: ${reply.error.message}`);
      return reply.result;
    },
    async verify(body: unknown): Promise<VerifyResult> {
      return (await ctx.nc.request(subject('keys.verify'), JSON.stringify(body), { timeout: 10_000 })).json<VerifyResult>();
    },
    async adminKeyAccepted(): Promise<void> {
      await eventually('admin key accepted', () => call('keys.list', { tenant: 'acme' }).then((reply) => reply.ok), Boolean, 30_000);
    },
  };
}
