import type { EventEnvelope } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';

function tenantIn(data: unknown): string | undefined {
  const tenant = (data as { tenant?: unknown } | null)?.tenant;
  return typeof tenant === 'string' ? tenant : undefined;
}

/**
 * The tenant of each stream, for events that do not name theirs (a KeyRevoked names only its
 * key): the tenant of the stream's first event, read through the store (its MAC checked) and
 * remembered, up to `capacity` streams, the oldest forgotten first.
 */
export class StreamTenants {
  private readonly known = new Map<string, string | null>();

  constructor(
    private readonly store: PostgresEventStore,
    private readonly capacity = 100_000,
  ) {}

  async of(event: EventEnvelope): Promise<string | undefined> {
    const own = tenantIn(event.data);
    if (own !== undefined) {
      if (event.streamVersion === 1) this.remember(event.streamId, own);
      return own;
    }
    const known = this.known.get(event.streamId);
    if (known !== undefined) return known ?? undefined;
    const [first] = await this.store.readStream(event.streamId, 1);
    const tenant = first && first.streamVersion === 1 ? (tenantIn(first.data) ?? null) : null;
    this.remember(event.streamId, tenant);
    return tenant ?? undefined;
  }

  private remember(streamId: string, tenant: string | null): void {
    this.known.delete(streamId);
    this.known.set(streamId, tenant);
    if (this.known.size > this.capacity) this.known.delete(this.known.keys().next().value!);
  }
}
