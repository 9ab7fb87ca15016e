import type { KeyView, KeyledgerV1 } from '@keyledger/contracts';

/** A key view as the gRPC message `keyledger.v1.KeyView` (key-view.proto): null fields unset, as proto3 has them. */
export function keyViewMessage(view: KeyView): KeyledgerV1.KeyView {
  return {
    ...view,
    name: view.name ?? undefined,
    scopes: [...view.scopes],
    ipAllowlist: [...view.ipAllowlist],
    expiresAt: view.expiresAt ?? undefined,
    metadata: { ...view.metadata },
    rateLimits: view.rateLimits.map((limit) => ({ ...limit })),
    credits: view.credits ? { remaining: view.credits.remaining, refill: view.credits.refill ?? null } : undefined,
    rotatedFrom: view.rotatedFrom ?? undefined,
    rotation: view.rotation ? { ...view.rotation } : undefined,
    leakReportedAt: view.leakReportedAt ?? undefined,
  };
}
