import type { DataSource } from 'typeorm';
import type { EventAuthenticator } from '@keyledger/event-auth';
import { verifyEventChains } from './chain-verifier.js';
import type { EventRow } from './event-row.js';
import { SELECT_EVENT, toEnvelope } from './event-row.js';

/** Sealing was refused: the store's chains do not verify, so its contents cannot be vouched for. */
export class UnsealableStoreError extends Error {
  constructor(readonly breaks: number) {
    super(`refusing to seal: ${breaks} event(s) break their stream's hash chain (run the chain check and investigate first)`);
    this.name = 'UnsealableStoreError';
  }
}

/** What a sealing run did: the rows it sealed, at or below the store position it sealed through. */
export interface SealingResult {
  readonly sealed: number;
  readonly through: string;
}

/**
 * The store's position now: the highest position of any stored row ('0' for an empty store, or
 * before the events table exists). What a sealing run started now may seal.
 */
export async function storePosition(ownerDb: DataSource): Promise<string> {
  const [table] = await ownerDb.query<{ exists: boolean }[]>(`select to_regclass('events') is not null as exists`);
  if (!table?.exists) return '0';
  const [row] = await ownerDb.query<{ position: string }[]>(`select coalesce(max(position), 0)::text as position from events`);
  return row?.position ?? '0';
}

/**
 * For a store written before events carried MACs: gives every row without one, at or below
 * store position `through` (by default the position when the call starts), the MAC of its
 * current contents under the current event key. It trusts those contents, so it first checks
 * every hash chain up to `through` and refuses when any row there breaks it. Run it as the
 * schema owner (it switches the append-only trigger off inside its own transaction, where no
 * other writer can see the table unguarded), with the services stopped or not, and again
 * whenever: rows appended after it started by a writer have MACs already, and a row without one
 * above `through` (inserted by SQL since, not by a writer) is left unsealed, so every read keeps
 * refusing it and the chain check keeps finding it. Returns the rows sealed and `through`.
 */
export async function sealUnauthenticatedEvents(
  ownerDb: DataSource,
  authenticator: EventAuthenticator,
  options: { readonly through?: string; readonly pageSize?: number } = {},
): Promise<SealingResult> {
  const through = options.through ?? (await storePosition(ownerDb));
  const pageSize = options.pageSize ?? 1000;
  const report = await verifyEventChains(ownerDb, authenticator);
  // Rows above `through` are not sealed now, so what they break does not stop this run.
  const chainBreaks = report.breaks.filter((entry) => entry.reason !== 'mac-mismatch' && BigInt(entry.position) <= BigInt(through));
  if (chainBreaks.length > 0) throw new UnsealableStoreError(chainBreaks.length);
  const sealed = await ownerDb.transaction(async (manager) => {
    await manager.query(`alter table events disable trigger events_append_only`);
    let count = 0;
    let after = '0';
    for (;;) {
      const rows = await manager.query<EventRow[]>(
        `select ${SELECT_EVENT} from events
          where auth_mac is null and position > $1::bigint and position <= $2::bigint
          order by events.position limit $3`,
        [after, through, pageSize],
      );
      if (rows.length === 0) break;
      const macs = rows.map((row) => authenticator.sealStored(toEnvelope(row)));
      await manager.query(
        `update events set auth_version = sealed.version, auth_mac = sealed.mac
           from unnest($1::bigint[], $2::smallint[], $3::bytea[]) as sealed(position, version, mac)
          where events.position = sealed.position`,
        [rows.map((row) => row.position), macs.map((mac) => mac.version), macs.map((mac) => mac.mac)],
      );
      count += rows.length;
      after = rows[rows.length - 1]!.position;
    }
    await manager.query(`alter table events enable trigger events_append_only`);
    return count;
  });
  return { sealed, through };
}
