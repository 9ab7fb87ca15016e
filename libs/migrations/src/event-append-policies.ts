import { createHash } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { EventTypeOf } from '@keyledger/contracts';
import { EVENT_TYPES_BY_CATEGORY } from '@keyledger/contracts';

/** A category of streams whose event types are known (EVENT_TYPES_BY_CATEGORY). */
export type AppendCategory = keyof typeof EVENT_TYPES_BY_CATEGORY;

/** Appends to a category's streams: every event type of the category, or only some of them. */
export type AppendRule =
  AppendCategory | { readonly [C in AppendCategory]: { readonly category: C; readonly types: readonly EventTypeOf<C>[] } }[AppendCategory];

/** A role that may insert events, and what it may append (undefined: any event). */
export interface EventWriter {
  readonly role: string;
  readonly appends: readonly AppendRule[] | undefined;
}

/**
 * The row-level security of the events table, from the grants (DATABASE_GRANTS): every role that may read events
 * reads them all; a role that may insert appends any event unless its grants name the stream
 * categories it `appends` to, then only those categories' streams and event types. A role
 * without an insert policy appends nothing even if granted insert by hand. The schema owner
 * (migrations, sealing, the admit_event trigger) is not subject to it.
 *
 * Each policy's name carries a digest of its definition, so a run that finds the same names
 * changes nothing and takes no lock on events; otherwise it drops every other policy of the
 * table and creates the missing ones, in the caller's transaction.
 */
export async function applyEventAppendPolicies(tx: EntityManager, schema: string, writers: readonly EventWriter[]): Promise<void> {
  const wanted = new Map<string, string>();
  const add = (purpose: string, definition: string) => {
    const name = `events_${purpose}_${createHash('sha256').update(definition).digest('hex').slice(0, 8)}`;
    wanted.set(name, `create policy ${name} on ${schema}.events ${definition}`);
  };
  add('read', 'for select to public using (true)');
  for (const { role, appends } of writers) add(`append_${role}`, `for insert to ${role} with check (${appends ? appendCheck(appends) : 'true'})`);
  const [table] = await tx.query<{ enabled: boolean }[]>(`select relrowsecurity as enabled from pg_class where oid = to_regclass($1)`, [`${schema}.events`]);
  const present = (
    await tx.query<{ name: string }[]>(`select policyname as name from pg_policies where schemaname = $1 and tablename = 'events'`, [schema])
  ).map((policy) => policy.name);
  if (table?.enabled && present.length === wanted.size && present.every((name) => wanted.has(name))) return;
  for (const name of present.filter((name) => !wanted.has(name))) await tx.query(`drop policy ${name} on ${schema}.events`);
  for (const [name, create] of wanted) if (!present.includes(name)) await tx.query(create);
  await tx.query(`alter table ${schema}.events enable row level security`);
}

/** Rows of these categories' streams, each with one of its own event types (or of the types the rule names). */
function appendCheck(rules: readonly AppendRule[]): string {
  return rules
    .map((rule) => {
      const [category, allowed] = typeof rule === 'string' ? [rule, EVENT_TYPES_BY_CATEGORY[rule]] : [rule.category, rule.types];
      const types = allowed.map((type) => `'${type}'`).join(', ');
      return `(starts_with(stream_id, '${category}-') and type in (${types}))`;
    })
    .join(' or ');
}
