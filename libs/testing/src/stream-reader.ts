import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';

/**
 * Reads messages of a stream in stream order with an ordered (ephemeral) consumer until
 * `count` have arrived or `timeoutMs` passes; returns what arrived.
 */
export async function readStreamMessages(js: JetStreamClient, stream: string, count: number, timeoutMs = 30_000): Promise<JsMsg[]> {
  const consumer = await js.consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1000 });
  const received: JsMsg[] = [];
  const timer = setTimeout(() => void messages.close(), timeoutMs);
  try {
    for await (const message of messages) {
      received.push(message);
      if (received.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    await messages.close();
  }
  return received;
}

/** Polls until the predicate holds, or throws with the description after the timeout. */
export async function eventually<T>(description: string, probe: () => Promise<T> | T, accept: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await probe();
  }
  return last;
}
