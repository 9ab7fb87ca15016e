import { randomBytes } from 'node:crypto';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningServices } from './running-services.js';
import { natsKeyApi, startServices } from './running-services.js';
import type { TestContext } from './test-context.js';
import { createTestContext } from './test-context.js';

/** A test context with services running and a root admin key they accept. */
export interface AdminStack {
  readonly ctx: TestContext;
  readonly services: RunningServices;
  /** The key API over NATS, as the root admin by default. */
  readonly api: NatsKeyApi;
  readonly rootKey: string;
  /** Stops the services and drops the context. */
  close(): Promise<void>;
}

/** Starts `services` (relay, issuer, verifier and auditor by default) on a new context with a bootstrapped root admin key, once the issuer accepts it. */
export async function startAdminStack(name: string, services: readonly string[] = ['relay', 'issuer', 'verifier', 'auditor'], env: Record<string, string> = {}): Promise<AdminStack> {
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  const ctx = await createTestContext(name);
  const running = await startServices(ctx, [...services], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, ...env });
  const api = natsKeyApi(ctx, rootKey);
  await api.adminKeyAccepted();
  return {
    ctx,
    services: running,
    api,
    rootKey,
    async close() {
      running.stop();
      await ctx.close();
    },
  };
}
