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

/**
 * One-shot, for a store written before events carried MACs: gives every row without one the
 * MAC of its current contents under the current event key. It trusts those contents, so it
 * first checks every hash chain and refuses when any row breaks it. Run it as the schema
 * owner (it switches the append-only trigger off inside its own transaction, where no other
 * writer can see the table unguarded), with the services stopped or not: rows appended
 * meanwhile already have MACs. Returns the number of rows sealed.
 */
export async function sealUnauthenticatedEvents(ownerDb: DataSource, authenticator: EventAuthenticator, pageSize = 1000): Promise<number> {
  const report = await verifyEventChains(ownerDb, authenticator);
  const chainBreaks = report.breaks.filter((entry) => entry.reason !== 'mac-mismatch');
  if (chainBreaks.length > 0) throw new UnsealableStoreError(chainBreaks.length);
  return ownerDb.transaction(async (manager) => {
    await manager.query(`alter table events disable trigger events_append_only`);
    let sealed = 0;
    let after = '0';
    for (;;) {
      const rows = await manager.query<EventRow[]>(
        `select ${SELECT_EVENT} from events where auth_mac is null and position > $1::bigint order by events.position limit $2`,
        [after, pageSize],
      );
      if (rows.length === 0) break;
      const macs = rows.map((row) => authenticator.sealStored(toEnvelope(row)));
      await manager.query(
        `update events set auth_version = sealed.version, auth_mac = sealed.mac
           from unnest($1::bigint[], $2::smallint[], $3::bytea[]) as sealed(position, version, mac)
          where events.position = sealed.position`,
        [rows.map((row) => row.position), macs.map((mac) => mac.version), macs.map((mac) => mac.mac)],
      );
      sealed += rows.length;
      after = rows[rows.length - 1]!.position;
    }
    await manager.query(`alter table events enable trigger events_append_only`);
    return sealed;
  });
}
