import type { AuditSearchEntry, AuditSearchPage, AuditSearchRequest, EventEnvelope } from '@keyledger/contracts';
import { ApiError, ROOT_TENANT, auditSearchRequestSchema } from '@keyledger/contracts';
import type { Caller } from '@keyledger/admin-auth';
import { authorizeAdmin } from '@keyledger/admin-auth';
import type { PostgresEventStore } from '@keyledger/event-store';
import { trailEntryOf } from './key-history.js';

/** What the search asks of the database: one query. */
export interface TrailQueries {
  query<T>(sql: string, parameters: readonly unknown[]): Promise<T>;
}

interface TrailRow {
  readonly event_id: string;
  readonly transaction_id: string;
  readonly position: string;
}

/** A string field of an event's data (`tenant`, `owner`), if it has one. */
function fieldOf(event: EventEnvelope | undefined, field: 'tenant' | 'owner'): string | undefined {
  const value = (event?.data as Record<string, unknown> | undefined)?.[field];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Searches the audit trail of every stream (libs/audit-trail's `audit_trail`, indexed by tenant
 * and owner) and answers from the event store: the trail only says which events to read, each
 * is then read with its MAC checked, and its tenant, owner, actor, type and time must meet the
 * filters the row was found by. A trail row that was edited to hide or move an event is refused
 * with an error naming its position; a row deleted from the trail goes unnoticed here (that is
 * what `keyledger audit verify` finds, against the signed tree).
 */
export class AuditSearch {
  constructor(
    private readonly db: TrailQueries,
    private readonly store: Pick<PostgresEventStore, 'readEvents' | 'readFirstEvents'>,
  ) {}

  async search(input: AuditSearchRequest, caller: Caller): Promise<AuditSearchPage> {
    const request = auditSearchRequestSchema.parse(input);
    // An admin of one tenant searches that tenant; only root may search them all.
    const tenant = request.tenant ?? (caller.tenant === ROOT_TENANT ? undefined : caller.tenant);
    authorizeAdmin(caller, tenant ?? ROOT_TENANT, 'read');
    const where: string[] = [];
    const parameters: unknown[] = [];
    const bind = (clause: (placeholder: string) => string, value: unknown): void => {
      parameters.push(value);
      where.push(clause(`$${parameters.length}`));
    };
    if (tenant !== undefined) bind((p) => `tenant = ${p}`, tenant);
    if (request.owner !== undefined) bind((p) => `owner = ${p}`, request.owner);
    if (request.actor !== undefined) bind((p) => `actor = ${p}`, request.actor);
    if (request.type !== undefined) bind((p) => `type = any(${p}::text[])`, request.type);
    if (request.since !== undefined) bind((p) => `occurred_at >= ${p}::timestamptz`, request.since);
    if (request.until !== undefined) bind((p) => `occurred_at < ${p}::timestamptz`, request.until);
    if (request.cursor !== undefined) {
      const [transactionId, position] = request.cursor.split(':');
      parameters.push(transactionId, position);
      where.push(`(transaction_id, position) > ($${parameters.length - 1}::xid8, $${parameters.length}::bigint)`);
    }
    parameters.push(request.limit + 1);
    const rows = await this.db.query<TrailRow[]>(
      `select event_id, transaction_id::text as transaction_id, position::text as position from audit_trail
        ${where.length > 0 ? `where ${where.join(' and ')}` : ''}
        order by transaction_id, position limit $${parameters.length}`,
      parameters,
    );
    const page = rows.slice(0, request.limit);
    const events = await this.authenticEvents(page);
    const firsts = new Map((await this.store.readFirstEvents([...new Set(events.map((event) => event.streamId))])).map((event) => [event.streamId, event]));
    const entries = events.map((event) => {
      const first = firsts.get(event.streamId);
      const entry: AuditSearchEntry = {
        ...trailEntryOf(event),
        streamId: event.streamId,
        tenant: fieldOf(event, 'tenant') ?? fieldOf(first, 'tenant') ?? null,
        owner: fieldOf(event, 'owner') ?? fieldOf(first, 'owner') ?? null,
      };
      const mismatch = mismatchOf(entry, { ...request, tenant });
      if (mismatch) throw trailMismatch(event.position, mismatch);
      return entry;
    });
    const last = page[page.length - 1];
    return rows.length > request.limit && last ? { events: entries, nextCursor: `${last.transaction_id}:${last.position}` } : { events: entries };
  }

  /** The events these rows name, read from the store (each MAC checked), in the rows' order and at the rows' places. */
  private async authenticEvents(rows: readonly TrailRow[]): Promise<EventEnvelope[]> {
    const byId = new Map((await this.store.readEvents(rows.map((row) => row.event_id))).map((event) => [event.eventId, event]));
    return rows.map((row) => {
      const event = byId.get(row.event_id);
      if (!event) throw trailMismatch(row.position, 'the trail names an event the store does not hold');
      if (event.position !== row.position || event.transactionId !== row.transaction_id) throw trailMismatch(row.position, `the event is stored at position ${event.position}`);
      return event;
    });
  }
}

/** What of the filters an event found does not meet; undefined when it meets them all. */
function mismatchOf(entry: AuditSearchEntry, filters: Omit<ReturnType<typeof auditSearchRequestSchema.parse>, 'tenant'> & { tenant: string | undefined }): string | undefined {
  if (filters.tenant !== undefined && entry.tenant !== filters.tenant) return 'its tenant differs from the trail row';
  if (filters.owner !== undefined && entry.owner !== filters.owner) return 'its owner differs from the trail row';
  if (filters.actor !== undefined && entry.actor !== filters.actor) return 'its actor differs from the trail row';
  if (filters.type !== undefined && !filters.type.includes(entry.type)) return 'its type differs from the trail row';
  const at = Date.parse(entry.occurredAt);
  if ((filters.since !== undefined && at < Date.parse(filters.since)) || (filters.until !== undefined && at >= Date.parse(filters.until)))
    return 'its time differs from the trail row';
  return undefined;
}

function trailMismatch(position: string, why: string): ApiError {
  return new ApiError('INTERNAL', `the audit trail disagrees with the event store at position ${position} (${why}); run keyledger audit verify`);
}
