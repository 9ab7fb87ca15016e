import { headers } from '@nats-io/transport-node';
import type { Msg, MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { apiSubject } from '@keyledger/contracts';
import type { ApiErrorBody, InstanceStatusReply } from './cli-types.js';
import type { RequestTracing } from './request-tracing.js';
import { CliApiError, RequestFailedError } from './cli-failure.js';

export { CliApiError } from './cli-failure.js';

/** The key API over NATS request/reply, as any internal client would call it. */
export class KeyledgerClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly adminKey: string | undefined,
    private readonly timeoutMs: number,
    private readonly tracing: RequestTracing,
  ) {}

  /** Calls an admin operation (`keys.issue`, …) and returns its result or throws its error. */
  async call<T>(operation: string, body: unknown): Promise<T> {
    const h = headers();
    if (this.adminKey) h.set('Authorization', `Bearer ${this.adminKey}`);
    const subject = apiSubject(this.prefix, operation);
    const reply = await this.tracing.around(subject, h, () => this.request(subject, JSON.stringify(body), h));
    const answer = reply.json<{ ok: true; result: T } | ({ ok: false } & ApiErrorBody)>();
    if (!answer.ok) throw new CliApiError(answer.error.code, answer.error.message);
    return answer.result;
  }

  /** Verification answers with a result, never an error. */
  async verify<T>(body: unknown): Promise<T> {
    const reply = await this.request(apiSubject(this.prefix, 'keys.verify'), JSON.stringify(body));
    return reply.json<T>();
  }

  /** One request; a failure names its subject, so the user is told which service did not answer. */
  private async request(subject: string, payload: string, h?: MsgHdrs): Promise<Msg> {
    try {
      return await this.nc.request(subject, payload, { timeout: this.timeoutMs, ...(h ? { headers: h } : {}) });
    } catch (error) {
      throw new RequestFailedError(subject, this.timeoutMs, error);
    }
  }

  /** Every instance that answers the status request within the wait. */
  async status(waitMs: number): Promise<InstanceStatusReply[]> {
    const replies: InstanceStatusReply[] = [];
    const iterator = await this.nc.requestMany(apiSubject(this.prefix, 'status'), '', { maxWait: waitMs });
    for await (const message of iterator) {
      if (message.data.length > 0) replies.push(message.json<InstanceStatusReply>());
    }
    return replies;
  }
}

/** How a command runs its action: with a connected client and the global options, exiting with the action's code. */
export type WithClient = <A extends unknown[]>(
  action: (client: KeyledgerClient, options: { json: boolean }, ...args: A) => Promise<number | void>,
) => (...args: A) => Promise<void>;
