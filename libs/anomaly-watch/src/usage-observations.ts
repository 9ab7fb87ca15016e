import type { UsageBatch } from '@keyledger/contracts';
import { forEachUsageRecord } from '@keyledger/contracts';
import type { AnomalyDetector, AnomalyFinding } from '@keyledger/anomaly-detection';

/** One usage batch as the detectors see it: each KeyUsed record, then (version 2 and later) each tally of calls that named no key. */
export function observeUsageBatch(detector: Pick<AnomalyDetector, 'observe'>, batch: UsageBatch, findings: AnomalyFinding[]): void {
  forEachUsageRecord(batch, (fields, at) =>
    detector.observe(
      {
        at,
        keyId: fields.keyId,
        tenant: fields.tenant,
        ip: fields.ip,
        fingerprint: fields.fingerprint,
        code: fields.code,
        calls: 1,
        honeytoken: fields.honeytoken,
        transport: fields.transport,
        scopes: fields.scopes,
      },
      findings,
    ),
  );
  if (batch.schemaVersion !== 1)
    for (const tally of batch.tallies ?? [])
      detector.observe(
        { at: tally.minute, tenant: tally.tenant, ip: tally.ip, fingerprint: tally.fingerprint, code: tally.code, calls: tally.calls },
        findings,
      );
}
