import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import type { AuditSearchEntry, AuditSearchPage } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { collect } from './cli-options.js';
import { newTable, print } from './output.js';
import { sinceOption } from './usage.command.js';

/** The auditor's largest page. */
const MAX_PAGE = 500;

interface SearchOptions {
  tenant?: string;
  owner?: string;
  actor?: string;
  type?: string[];
  since?: string;
  until?: string;
  limit: number;
  cursor?: string;
  all?: boolean;
}

function pageSize(value: string): number {
  const size = /^\d{1,4}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!(size >= 1 && size <= MAX_PAGE)) throw new InvalidArgumentError(`expected a number of events from 1 to ${MAX_PAGE}`);
  return size;
}

function searchTable(events: readonly AuditSearchEntry[], nextCursor: string | undefined): string {
  const table = newTable(['position', 'occurred at', 'type', 'tenant', 'owner', 'stream', 'actor']);
  for (const entry of events) table.push([entry.position, entry.occurredAt, entry.type, entry.tenant ?? '-', entry.owner ?? '-', entry.streamId, entry.actor]);
  const more = nextCursor ? `\nmore follow: --cursor ${nextCursor} (or --all)` : '';
  return `${events.length} event(s)\n${table.toString()}${more}`;
}

/**
 * `keyledger audit search`: the trail of every stream, filtered by tenant, owner, actor, type
 * and time, in store order. One page (`--limit`, then `--cursor`), or every page with `--all`.
 * The auditor answers each event from the store, its MAC checked.
 */
export function registerAuditSearch(group: Command, withClient: WithClient): void {
  group
    .command('search')
    .description('events of every key and tenant, filtered, in store order (a page at a time; --all for every page)')
    .option('--tenant <tenant>', "only this tenant's events (an admin of one tenant searches only that tenant)")
    .option('--owner <owner>', "only events of this owner's keys and settings")
    .option('--actor <actor>', 'only events done by this actor (e.g. admin-key:<key id>, rotator)')
    .option('--type <type>', 'only events of this type, e.g. KeyRevoked (repeatable)', collect)
    .option('--since <time>', 'from this instant on: ISO 8601, or 30m, 2h, 7d back from now', sinceOption)
    .option('--until <time>', 'before this instant: ISO 8601, or a duration back from now', sinceOption)
    .option('--limit <n>', `events per page, 1 to ${MAX_PAGE}`, pageSize, 100)
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .option('--all', 'every page, not only the first')
    .action(
      withClient(async (client, options, command: SearchOptions) => {
        const events: AuditSearchEntry[] = [];
        let cursor = command.cursor;
        let page: AuditSearchPage;
        do {
          page = await client.call<AuditSearchPage>('audit.search', {
            tenant: command.tenant,
            owner: command.owner,
            actor: command.actor,
            type: command.type,
            since: command.since,
            until: command.until,
            limit: command.limit,
            ...(cursor === undefined ? {} : { cursor }),
          });
          events.push(...page.events);
          cursor = page.nextCursor;
        } while (command.all && cursor);
        const result: AuditSearchPage = cursor === undefined ? { events } : { events, nextCursor: cursor };
        print(options.json, result, () => searchTable(events, cursor));
      }),
    );
}
