import type {
  AllowNetworkRequest,
  DenyNetworkRequest,
  EnumerationPolicyAction,
  EventMetadata,
  ListNetworkDenialsRequest,
  NetworkAllowResult,
  NetworkDenialView,
  NetworkEvent,
  SourceAnomalyDetectedData,
  SourceNetworkAllowedData,
  SourceNetworkDeniedData,
} from '@keyledger/contracts';
import {
  ALL_TENANTS,
  ApiError,
  ROOT_TENANT,
  networkAggregateId,
  sourceAnomalyDetectedSchema,
  sourceNetworkDeniedSchema,
  streamIdOf,
} from '@keyledger/contracts';
import type { Caller, CommandContext } from '@keyledger/admin-auth';
import { authorizeAdmin, commandMetadata } from '@keyledger/admin-auth';
import type { NewEvent, PostgresEventStore } from '@keyledger/event-store';
import { retryConflicts } from '@keyledger/event-store';
import { nameBasedEventId, newEventId } from '@keyledger/ids';
import type { EnumerationFinding, NetworkDenial } from '@keyledger/key-domain';
import {
  NetworkDenialTable,
  WIDEST_TENANT_DENIAL,
  canonicalNetwork,
  effectiveIncidentPolicy,
  enumerationDenial,
  isTooWideForTenant,
} from '@keyledger/key-domain';
import type { KeyIndex } from '@keyledger/key-projection';
import { readTenantSettings } from '@keyledger/tenant-settings';
import type { IncidentNotificationPublisher } from './incident-response.js';

type NetworkStore = Pick<PostgresEventStore, 'readStream' | 'append'>;

/** A network's stream as stored, folded: its denials and its version. */
async function loadNetwork(store: NetworkStore, network: string): Promise<{ readonly denials: NetworkDenialTable; readonly version: number }> {
  const events = await store.readStream(streamIdOf('network', networkAggregateId(network)));
  const denials = new NetworkDenialTable();
  for (const event of events)
    if (event.type === 'SourceNetworkDenied' || event.type === 'SourceNetworkAllowed') denials.apply({ type: event.type, data: event.data } as NetworkEvent);
  return { denials, version: events.length };
}

/** An event of a network's stream: a denial, its lift, or an enumeration found from the network. */
type NetworkStreamEvent = NetworkEvent | { readonly type: 'SourceAnomalyDetected'; readonly data: SourceAnomalyDetectedData };

async function appendToNetwork(store: NetworkStore, event: NetworkStreamEvent, eventId: string, metadata: EventMetadata): Promise<void> {
  const network = event.data.network;
  await retryConflicts(async () => {
    const { version } = await loadNetwork(store, network);
    await store.append(streamIdOf('network', networkAggregateId(network)), version, [{ eventId, type: event.type, data: event.data, metadata }]);
  });
}

export interface EnumerationResponseDependencies {
  readonly store: NetworkStore;
  /** The tenant's notification subject (`<prefix>.v1.notifications.<tenant>`), as the rotator tells of key incidents. */
  readonly notifications: Pick<IncidentNotificationPublisher, 'publish'>;
}

/**
 * What the anomaly detector does with an enumeration finding, once per finding: records it as
 * SourceAnomalyDetected on the network's stream (under the finding's id), for the tenant the calls
 * asked for (`*` when they named none); denies the network for that tenant when its incident
 * policy says `onEnumeration: deny` (libs/key-domain `enumerationDenial`), in the same append;
 * and tells the tenant. Each attempt reads the network's stream first and appends only what it
 * lacks: a finding recorded before (a redelivered batch, whose notification failed; or another
 * replica's, whose count in `detail` may differ) stands as recorded, its tenant and detail
 * included, and a denial already naming the finding is not made again, whatever the policy says
 * now. The notification is sent at least once: again on every attempt, under the message id
 * `incident-<finding id>`, which JetStream stores once within its duplicate window. `seenAt`
 * is the record time of the call that crossed the line, which the finding is dated and the
 * denial runs from. Returns the denial naming the finding, or undefined.
 */
export async function respondToEnumeration(
  deps: EnumerationResponseDependencies,
  finding: EnumerationFinding,
  seenAt: number,
  metadata: EventMetadata,
): Promise<SourceNetworkDeniedData | undefined> {
  const network = canonicalNetwork(finding.network);
  if (network === undefined) return undefined;
  const streamId = streamIdOf('network', networkAggregateId(network));
  const found = sourceAnomalyDetectedSchema.parse({
    network,
    tenant: finding.tenant ?? ALL_TENANTS,
    detector: 'enumeration',
    severity: finding.severity,
    detail: finding.detail.slice(0, 1000),
    detectedAt: new Date(seenAt).toISOString(),
  });
  const { recorded, told } = await retryConflicts(async () => {
    const events = await deps.store.readStream(streamId);
    const earlier = events.find((event) => event.eventId === finding.findingId && event.type === 'SourceAnomalyDetected');
    const recorded = earlier === undefined ? found : sourceAnomalyDetectedSchema.parse(earlier.data);
    const appends: NewEvent[] = [];
    if (earlier === undefined) appends.push({ eventId: finding.findingId, type: 'SourceAnomalyDetected', data: recorded, metadata });
    let told: { readonly tenant: string; readonly policy: EnumerationPolicyAction; readonly denial: SourceNetworkDeniedData | undefined } | undefined;
    if (recorded.tenant !== ALL_TENANTS) {
      const tenant = recorded.tenant;
      const policy = effectiveIncidentPolicy((await readTenantSettings(deps.store, tenant)).incidentPolicies, tenant);
      const deniedBefore = events.find(
        (event) => event.type === 'SourceNetworkDenied' && (event.data as SourceNetworkDeniedData).findingId === finding.findingId,
      );
      const denial =
        deniedBefore === undefined
          ? enumerationDenial({ ...finding, network, tenant, severity: recorded.severity, detail: recorded.detail }, policy, metadata.actor, seenAt)
          : sourceNetworkDeniedSchema.parse(deniedBefore.data);
      if (deniedBefore === undefined && denial !== undefined)
        appends.push({
          eventId: nameBasedEventId(`keyledger network denial v1|${finding.findingId}`),
          type: 'SourceNetworkDenied',
          data: sourceNetworkDeniedSchema.parse(denial),
          metadata,
        });
      told = { tenant, policy: policy.onEnumeration, denial };
    }
    if (appends.length > 0) await deps.store.append(streamId, events.length, appends);
    return { recorded, told };
  });
  if (told === undefined) return undefined;
  await deps.notifications.publish({
    v: 1,
    type: 'SourceIncident',
    incidentId: finding.findingId,
    tenant: told.tenant,
    network,
    detector: recorded.detector,
    severity: recorded.severity,
    detail: recorded.detail,
    policy: told.policy,
    action: told.denial === undefined ? 'notify' : 'deny',
    ...(told.denial === undefined ? {} : { until: told.denial.until }),
    at: recorded.detectedAt,
  });
  return told.denial;
}

/** A network as the request gave it, canonical; INVALID_ARGUMENT when it is not a CIDR or an address. */
function networkOf(text: string): string {
  const network = canonicalNetwork(text);
  if (network === undefined)
    throw new ApiError('INVALID_ARGUMENT', `invalid request: network: ${JSON.stringify(text.slice(0, 64))} is not a CIDR or an IP address`);
  return network;
}

/** Denying or lifting for every tenant is the installation's operator's: a root admin key. */
function authorizeDenial(caller: Caller, tenant: string): void {
  if (tenant === ALL_TENANTS) {
    authorizeAdmin(caller, ROOT_TENANT, 'write');
    if (caller.tenant !== ROOT_TENANT) throw new ApiError('PERMISSION_DENIED', 'only a root admin key denies a network for every tenant');
  } else authorizeAdmin(caller, tenant, 'write');
}

export function networkDenialView(denial: NetworkDenial): NetworkDenialView {
  return {
    network: denial.network,
    tenant: denial.tenant,
    until: new Date(denial.until).toISOString(),
    reason: denial.reason,
    findingId: denial.findingId ?? null,
    detail: denial.detail ?? null,
    deniedBy: denial.deniedBy,
    deniedAt: denial.deniedAt,
  };
}

export interface NetworkDenialCommandsDependencies {
  readonly store: NetworkStore;
  /** The issuer's projection: the denials as the verifiers fold them. */
  readonly index: Pick<KeyIndex, 'networkDenials'>;
  readonly clock?: () => number;
}

/** The admin plane's `networks.deny|allow|list` (the issuer): denials by hand, their early lift, and what is in force. */
export class NetworkDenialCommands {
  private readonly clock: () => number;

  constructor(private readonly deps: NetworkDenialCommandsDependencies) {
    this.clock = deps.clock ?? Date.now;
  }

  async deny(request: DenyNetworkRequest, context: CommandContext): Promise<NetworkDenialView> {
    authorizeDenial(context.caller, request.tenant);
    const network = networkOf(request.network);
    if (context.caller.tenant !== ROOT_TENANT && isTooWideForTenant(network))
      throw new ApiError(
        'PERMISSION_DENIED',
        `a tenant's admin key denies at most a /${WIDEST_TENANT_DENIAL.ipv4} of IPv4 or a /${WIDEST_TENANT_DENIAL.ipv6} of IPv6 (${network} is wider): wider denials take a root admin key`,
      );
    const metadata = commandMetadata(context);
    const now = this.clock();
    const data: SourceNetworkDeniedData = {
      network,
      tenant: request.tenant,
      until: new Date(now + request.forMs).toISOString(),
      reason: 'operator',
      ...(request.detail === undefined ? {} : { detail: request.detail }),
      deniedBy: metadata.actor,
      at: new Date(now).toISOString(),
    };
    await appendToNetwork(this.deps.store, { type: 'SourceNetworkDenied', data }, newEventId(), metadata);
    return networkDenialView({ ...data, until: now + request.forMs, deniedAt: data.at });
  }

  /** Lifts a denial in force; one already ended, lifted or never made records nothing. */
  async allow(request: AllowNetworkRequest, context: CommandContext): Promise<NetworkAllowResult> {
    authorizeDenial(context.caller, request.tenant);
    const network = networkOf(request.network);
    const now = this.clock();
    const { denials } = await loadNetwork(this.deps.store, network);
    const inForce = denials.list().some((denial) => denial.tenant === request.tenant && denial.until > now);
    if (!inForce) return { network, tenant: request.tenant, lifted: false };
    const metadata = commandMetadata(context);
    const data: SourceNetworkAllowedData = { network, tenant: request.tenant, allowedBy: metadata.actor, at: new Date(now).toISOString() };
    await appendToNetwork(this.deps.store, { type: 'SourceNetworkAllowed', data }, newEventId(), metadata);
    return { network, tenant: request.tenant, lifted: true };
  }

  /** The denials in force that the caller may see: its tenant's and every tenant's; a root key's, all (or one tenant's with `tenant`). */
  list(request: ListNetworkDenialsRequest, caller: Caller): NetworkDenialView[] {
    const tenant = request.tenant ?? (caller.tenant === ROOT_TENANT ? undefined : caller.tenant);
    // Without a tenant the caller is a root key: every denial.
    authorizeAdmin(caller, tenant ?? ROOT_TENANT, 'read');
    const now = this.clock();
    return this.deps.index.networkDenials
      .list()
      .filter((denial) => denial.until > now && (tenant === undefined || denial.tenant === tenant || denial.tenant === ALL_TENANTS))
      .map(networkDenialView);
  }
}
