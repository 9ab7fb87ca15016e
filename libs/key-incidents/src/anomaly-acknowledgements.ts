import type { AnomalyAckRequest, AnomalyAckResult, AnomalyAcknowledgedData, AnomalyDetectedData } from '@keyledger/contracts';
import { ApiError } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { authorizeAdmin, commandMetadata, seesTenant } from '@keyledger/admin-auth';
import { acknowledgementOf } from '@keyledger/anomaly-detection';
import type { PostgresEventStore } from '@keyledger/event-store';
import { retryConflicts } from '@keyledger/event-store';
import { newEventId } from '@keyledger/ids';

export interface AnomalyAcknowledgementsDependencies {
  readonly store: Pick<PostgresEventStore, 'readEvents' | 'readStream' | 'append'>;
  readonly clock?: () => Date;
}

/**
 * Operators acknowledging anomaly findings: AnomalyAcknowledged on the finding's key stream,
 * once per finding. It records that someone looked; the key and the incident's handling stay
 * as they are.
 */
export class AnomalyAcknowledgements {
  private readonly clock: () => Date;

  constructor(private readonly deps: AnomalyAcknowledgementsDependencies) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /**
   * Acknowledges the finding `request.id` (needs `keyledger:keys:write` on its tenant). A finding
   * of a tenant the caller may not see is FINDING_NOT_FOUND, as an unknown one is. A second
   * acknowledgement answers ALREADY_ACKNOWLEDGED with the first and records nothing; the
   * acknowledgement is appended at the stream's version read, so two at once record one.
   */
  async acknowledge(request: AnomalyAckRequest, context: CommandContext): Promise<AnomalyAckResult> {
    const { caller } = context;
    const notFound = new ApiError('FINDING_NOT_FOUND', `no anomaly finding ${request.id}`);
    return retryConflicts(async () => {
      const [anomaly] = await this.deps.store.readEvents([request.id]);
      if (anomaly?.type !== 'AnomalyDetected') throw notFound;
      const { keyId, tenant } = anomaly.data as AnomalyDetectedData;
      if (!seesTenant(caller, tenant)) throw notFound;
      authorizeAdmin(caller, tenant, 'write');
      const stream = await this.deps.store.readStream(anomaly.streamId);
      const earlier = acknowledgementOf(stream, anomaly.eventId);
      if (earlier) return { outcome: 'ALREADY_ACKNOWLEDGED', findingId: anomaly.eventId, keyId, acknowledged: earlier };
      const metadata = commandMetadata(context);
      const data: AnomalyAcknowledgedData = {
        keyId,
        tenant,
        findingId: anomaly.eventId,
        acknowledgedBy: metadata.actor,
        ...(request.note === undefined ? {} : { note: request.note }),
        at: this.clock().toISOString(),
      };
      const eventId = newEventId();
      await this.deps.store.append(anomaly.streamId, stream.length, [{ eventId, type: 'AnomalyAcknowledged', data, metadata }]);
      return {
        outcome: 'ACKNOWLEDGED',
        findingId: anomaly.eventId,
        keyId,
        acknowledged: { by: data.acknowledgedBy, at: data.at, note: data.note ?? null, eventId },
      };
    });
  }
}
