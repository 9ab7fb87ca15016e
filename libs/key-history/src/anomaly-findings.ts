import type {
  AnomalyDetectedData,
  AnomalyExplainRequest,
  AnomalyExplanation,
  AnomalyFinding,
  AnomalyFindingsPage,
  AnomalyListRequest,
  EventEnvelope,
  KeyEvent,
  SourceAnomalyDetectedData,
  SourceAnomalyExplanation,
  SourceAnomalyFinding,
} from '@keyledger/contracts';
import { ALL_TENANTS, ApiError, ROOT_TENANT, anomalyExplainRequestSchema, anomalyListRequestSchema } from '@keyledger/contracts';
import type { Caller } from '@keyledger/admin-auth';
import { authorizeAdmin, seesTenant } from '@keyledger/admin-auth';
import type { AnomalySettings } from '@keyledger/anomaly-detection';
import {
  DEFAULT_ANOMALY_SETTINGS,
  explainDetector,
  explainSourceFinding,
  findingEventTypes,
  findingOf,
  matchesFindingFilter,
  matchesSourceFilter,
  newestFirst,
  sourceFindingOf,
} from '@keyledger/anomaly-detection';
import type { PostgresEventStore } from '@keyledger/event-store';
import type { KeyRecord } from '@keyledger/key-domain';
import { evolveKey } from '@keyledger/key-domain';
import type { TrailQueries } from './audit-search.js';

/** A list looks back this far unless asked otherwise. */
const DEFAULT_WINDOW_MS = 86_400_000;
/** Trail rows read per list at most: the event types a filter can match are chosen in SQL (`findingEventTypes`); kind, severity and acknowledgement are filtered after reading, from the store. */
const MAX_SCANNED = 5000;

interface FindingRow {
  readonly event_id: string;
  readonly stream_id: string;
  readonly position: string;
}

export interface AnomalyFindingsOptions {
  readonly clock?: () => Date;
  /** The thresholds explanations quote: the detector's defaults unless the installation says otherwise. */
  readonly settings?: AnomalySettings;
}

/**
 * Anomaly findings for operators, answered from the event store. The audit trail (indexed by
 * tenant and type) only says which AnomalyDetected (and SourceAnomalyDetected) events to read:
 * each key (or network) stream named is read with every MAC checked, and a row whose event the
 * stream does not hold, or holds with another tenant or time, is refused. What the rotator did
 * and who acknowledged (what the policy denied) come from the same stream, never from a projection.
 */
export class AnomalyFindings {
  private readonly clock: () => Date;
  private readonly settings: AnomalySettings;

  constructor(
    private readonly db: TrailQueries,
    private readonly store: Pick<PostgresEventStore, 'readStream' | 'readEvents'>,
    options: AnomalyFindingsOptions = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.settings = options.settings ?? DEFAULT_ANOMALY_SETTINGS;
  }

  /**
   * Findings newest first: the caller's tenant (every tenant for a root admin that names none),
   * since 24 hours unless `since`; a source network's beside the keys' (none when asked for one
   * key, a kind, a key's detector or the unacknowledged), `limit` counting both.
   */
  async list(input: AnomalyListRequest, caller: Caller): Promise<AnomalyFindingsPage> {
    const request = anomalyListRequestSchema.parse(input);
    const tenant = request.tenant ?? (caller.tenant === ROOT_TENANT ? undefined : caller.tenant);
    authorizeAdmin(caller, tenant ?? ROOT_TENANT, 'read');
    const since = request.since ?? new Date(this.clock().getTime() - DEFAULT_WINDOW_MS).toISOString();
    const types = findingEventTypes(request);
    if (types.length === 0) return { findings: [], sources: [], truncated: false };
    const parameters: unknown[] = [since, types];
    const where = [`type = any($2::text[])`, `occurred_at >= $1::timestamptz`];
    if (tenant !== undefined) {
      parameters.push(tenant);
      where.push(`tenant = $${parameters.length}`);
    }
    if (request.keyId !== undefined) {
      parameters.push(`key-${request.keyId}`);
      where.push(`stream_id = $${parameters.length}`);
    }
    parameters.push(MAX_SCANNED + 1);
    const rows = await this.db.query<FindingRow[]>(
      `select event_id, stream_id, position::text as position from audit_trail where ${where.join(' and ')}
        order by transaction_id desc, position desc limit $${parameters.length}`,
      parameters,
    );
    const scanned = rows.slice(0, MAX_SCANNED);
    const streams = await this.readStreams(scanned.map((row) => row.stream_id));
    const findings: AnomalyFinding[] = [];
    const sources: SourceAnomalyFinding[] = [];
    for (const row of scanned) {
      const stream = streams.get(row.stream_id) ?? [];
      const anomaly = stream.find((event) => event.eventId === row.event_id);
      if (anomaly?.type !== 'AnomalyDetected' && anomaly?.type !== 'SourceAnomalyDetected')
        throw trailMismatch(row.position, 'the trail names an anomaly its stream does not hold');
      const data = anomaly.data as AnomalyDetectedData | SourceAnomalyDetectedData;
      if (tenant !== undefined && data.tenant !== tenant) throw trailMismatch(row.position, 'its tenant differs from the trail row');
      if (Date.parse(anomaly.occurredAt) < Date.parse(since)) throw trailMismatch(row.position, 'its time differs from the trail row');
      if (anomaly.type === 'AnomalyDetected') {
        const finding = findingOf(anomaly, stream);
        if (matchesFindingFilter(finding, request)) findings.push(finding);
      } else {
        const source = sourceFindingOf(anomaly, stream);
        if (matchesSourceFilter(source, request)) sources.push(source);
      }
    }
    // Newest first across both lists, the first `limit` kept.
    const kept = new Set([...findings, ...sources].sort(newestFirst).slice(0, request.limit));
    return {
      findings: findings.filter((finding) => kept.has(finding)).sort(newestFirst),
      sources: sources.filter((source) => kept.has(source)).sort(newestFirst),
      truncated: findings.length + sources.length > request.limit || rows.length > MAX_SCANNED,
    };
  }

  /**
   * One finding with its evidence: the detector and what it watches, its default thresholds, the
   * call, what the policy did, the acknowledgement, and the key as it is now. FINDING_NOT_FOUND
   * for an unknown id, an event that is no finding, or a finding of a tenant the caller may not see.
   */
  async explain(input: AnomalyExplainRequest, caller: Caller): Promise<AnomalyExplanation | SourceAnomalyExplanation> {
    const { id } = anomalyExplainRequestSchema.parse(input);
    const notFound = new ApiError('FINDING_NOT_FOUND', `no anomaly finding ${id}`);
    const [anomaly] = await this.store.readEvents([id]);
    if (anomaly?.type !== 'AnomalyDetected' && anomaly?.type !== 'SourceAnomalyDetected') throw notFound;
    const { tenant } = anomaly.data as AnomalyDetectedData | SourceAnomalyDetectedData;
    // A source finding of calls that named no tenant (`*`) is a root admin's alone.
    if (!seesTenant(caller, tenant)) throw notFound;
    authorizeAdmin(caller, tenant === ALL_TENANTS ? ROOT_TENANT : tenant, 'read');
    const stream = await this.store.readStream(anomaly.streamId);
    if (anomaly.type === 'SourceAnomalyDetected') return explainSourceFinding(sourceFindingOf(anomaly, stream), this.settings);
    const finding = findingOf(anomaly, stream);
    const record = stream.reduce<KeyRecord | undefined>((state, event) => evolveKey(state, { type: event.type, data: event.data } as KeyEvent), undefined);
    return {
      finding,
      detector: explainDetector(finding, this.settings),
      key: record ? { status: record.status, owner: record.owner, hint: record.hint, honeytoken: record.honeytoken === true } : null,
    };
  }

  /** The key streams named, each read once (MACs checked). */
  private async readStreams(streamIds: readonly string[]): Promise<Map<string, EventEnvelope[]>> {
    const streams = new Map<string, EventEnvelope[]>();
    for (const streamId of new Set(streamIds)) streams.set(streamId, await this.store.readStream(streamId));
    return streams;
  }
}

function trailMismatch(position: string, why: string): ApiError {
  return new ApiError('INTERNAL', `the audit trail disagrees with the event store at position ${position} (${why}); run keyledger audit verify`);
}
