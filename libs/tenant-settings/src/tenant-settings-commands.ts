import type {
  AnomalyThresholdsView,
  GetAnomalyThresholdsRequest,
  GetIncidentPolicyRequest,
  GetRotationPolicyRequest,
  IncidentPolicyView,
  NotificationWebhookView,
  OwnerPublicKeyView,
  OwnerWebhookView,
  RegisterNotificationWebhookRequest,
  RegisterOwnerPublicKeyRequest,
  RegisterOwnerWebhookRequest,
  RemoveNotificationWebhookRequest,
  RotationPolicyView,
  SetAnomalyThresholdsRequest,
  SetIncidentPolicyRequest,
  SetRotationPolicyRequest,
} from '@keyledger/contracts';
import { ApiError, streamIdOf } from '@keyledger/contracts';
import type { Caller, CommandContext } from '@keyledger/admin-auth';
import { authorizeAdmin, commandMetadata } from '@keyledger/admin-auth';
import type { PostgresEventStore } from '@keyledger/event-store';
import { retryConflicts } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import type { IncidentPolicyTable, OwnerPublicKeyTable, RotationPolicyTable, TenantCommand, TenantSettings } from '@keyledger/key-domain';
import { decideTenant, effectiveIncidentPolicy, effectivePolicy, evolveTenant, incidentPolicyAt, policyAt } from '@keyledger/key-domain';
import { SealedKeyError, parseX25519PublicKey, x25519PublicKeyToBase64 } from '@keyledger/key-delivery';
import type { WebhookSecrets } from '@keyledger/key-secrets';
import { loadTenant, readTenantSettings } from './tenant-stream.js';

export interface TenantSettingsDependencies {
  readonly store: PostgresEventStore;
  readonly clock?: () => Date;
  /** Who the events of the system caller name as actor. */
  readonly systemActor?: string;
  /** Derives the signing secrets of owners' webhooks; without it, webhooks cannot be registered. */
  readonly webhookSecrets?: WebhookSecrets;
}

/**
 * The commands on a tenant's stream (rotation and incident policies, anomaly thresholds, owners' public keys and
 * webhooks) and the queries that read it back. Every command takes one path (`record`): read
 * the stream once, let the domain decide (`decideTenant`), append at the version read.
 */
export class TenantSettingsCommands {
  private readonly clock: () => Date;

  constructor(private readonly deps: TenantSettingsDependencies) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /** Sets the rotation policy of a tenant or of one owner in it. */
  async setRotationPolicy(request: SetRotationPolicyRequest, context: CommandContext): Promise<RotationPolicyView> {
    authorizeAdmin(context.caller, request.tenant, 'write');
    const settings = await this.record(
      request.tenant,
      {
        type: 'SetRotationPolicy',
        data: {
          ...levelOf(request),
          maxAgeMs: request.maxAgeMs,
          graceMs: request.graceMs,
          // Written only when set, so policies without one keep the shape they always had.
          ...(request.quietPeriodMs == null ? {} : { quietPeriodMs: request.quietPeriodMs }),
        },
      },
      context,
    );
    return rotationPolicyView(settings.rotationPolicies, request.tenant, request.owner);
  }

  /** The rotation policy set for a tenant or owner, and the one that applies there. */
  async getRotationPolicy(request: GetRotationPolicyRequest, caller: Caller): Promise<RotationPolicyView> {
    authorizeAdmin(caller, request.tenant, 'read');
    return rotationPolicyView(await this.rotationPolicies(request.tenant), request.tenant, request.owner);
  }

  /** A tenant's rotation policies, folded from its stream. */
  async rotationPolicies(tenant: string): Promise<RotationPolicyTable> {
    return (await readTenantSettings(this.deps.store, tenant)).rotationPolicies;
  }

  /** Sets the incident policy of a tenant or of one owner in it; needs write access to the tenant. */
  async setIncidentPolicy(request: SetIncidentPolicyRequest, context: CommandContext): Promise<IncidentPolicyView> {
    authorizeAdmin(context.caller, request.tenant, 'write');
    const settings = await this.record(
      request.tenant,
      {
        type: 'SetIncidentPolicy',
        data: {
          ...levelOf(request),
          onLeak: request.onLeak,
          onAnomaly: request.onAnomaly,
          graceMs: request.graceMs,
          // Only when set: a service of the release before reads IncidentPolicySet strictly, and a
          // field it does not know would stop its reads of the tenant's stream during an upgrade.
          ...(request.anomalyRules == null ? {} : { anomalyRules: request.anomalyRules }),
          // A source network is no owner's: these are the tenant's alone (the request schema refuses them with an owner).
          ...(request.owner === undefined ? { onEnumeration: request.onEnumeration ?? null, denyForMs: request.denyForMs ?? null } : {}),
        },
      },
      context,
    );
    return incidentPolicyView(settings.incidentPolicies, request.tenant, request.owner);
  }

  /** The incident policy set for a tenant or owner, and the one that applies there; needs read access. */
  async getIncidentPolicy(request: GetIncidentPolicyRequest, caller: Caller): Promise<IncidentPolicyView> {
    authorizeAdmin(caller, request.tenant, 'read');
    return incidentPolicyView((await readTenantSettings(this.deps.store, request.tenant)).incidentPolicies, request.tenant, request.owner);
  }

  /**
   * Sets the anomaly detector's thresholds for a tenant's keys, replacing those set before (one
   * left null: the installation's applies); needs write access to the tenant. The request's
   * schema holds every threshold within its bounds.
   */
  async setAnomalyThresholds(request: SetAnomalyThresholdsRequest, context: CommandContext): Promise<AnomalyThresholdsView> {
    authorizeAdmin(context.caller, request.tenant, 'write');
    const settings = await this.record(
      request.tenant,
      { type: 'SetAnomalyThresholds', data: { tenant: request.tenant, thresholds: request.thresholds } },
      context,
    );
    return { tenant: request.tenant, thresholds: { ...settings.anomalyThresholds } };
  }

  /** The anomaly thresholds set for a tenant; needs read access. */
  async getAnomalyThresholds(request: GetAnomalyThresholdsRequest, caller: Caller): Promise<AnomalyThresholdsView> {
    authorizeAdmin(caller, request.tenant, 'read');
    return { tenant: request.tenant, thresholds: { ...(await readTenantSettings(this.deps.store, request.tenant)).anomalyThresholds } };
  }

  /**
   * Registers an owner's X25519 public key; the owner's new keys are then delivered sealed to
   * the latest one. Stored as base64 of the raw 32 bytes, whichever form it came in.
   */
  async registerOwnerPublicKey(request: RegisterOwnerPublicKeyRequest, context: CommandContext): Promise<OwnerPublicKeyView> {
    authorizeAdmin(context.caller, request.tenant, 'write');
    let publicKey: string;
    try {
      publicKey = x25519PublicKeyToBase64(parseX25519PublicKey(request.publicKey));
    } catch (error) {
      if (error instanceof SealedKeyError) throw new ApiError('INVALID_ARGUMENT', error.message);
      throw error;
    }
    await this.record(request.tenant, { type: 'RegisterOwnerPublicKey', data: { tenant: request.tenant, owner: request.owner, publicKey } }, context);
    return { tenant: request.tenant, owner: request.owner, publicKey };
  }

  /** A tenant's owners' latest public keys, folded from its stream. */
  async ownerPublicKeys(tenant: string): Promise<OwnerPublicKeyTable> {
    return (await readTenantSettings(this.deps.store, tenant)).ownerPublicKeys;
  }

  /**
   * Registers an owner's HTTPS webhook: the owner's rotated keys are then also POSTed there,
   * sealed and signed. The signing secret is derived from the pepper and the registration's id,
   * so it is stored nowhere and answered here, once; registering again replaces the webhook and
   * its secret.
   */
  async registerOwnerWebhook(request: RegisterOwnerWebhookRequest, context: CommandContext): Promise<OwnerWebhookView> {
    authorizeAdmin(context.caller, request.tenant, 'write');
    const secrets = this.deps.webhookSecrets;
    if (!secrets) throw new ApiError('UNAVAILABLE', 'this process cannot register webhooks');
    const secretId = newPrefixedId('whk', this.clock());
    await this.record(
      request.tenant,
      { type: 'RegisterOwnerWebhook', data: { tenant: request.tenant, owner: request.owner, url: request.url, secretId } },
      context,
    );
    return { tenant: request.tenant, owner: request.owner, url: request.url, secret: secrets.current(request.tenant, request.owner, secretId) };
  }

  /**
   * Registers the tenant's HTTPS notification webhook: every notification on
   * `<prefix>.v1.notifications.<tenant>` is then also POSTed there, signed. As for an owner's
   * webhook, the secret is derived from the pepper and this registration's id (owner null), stored
   * nowhere and answered here, once; registering again replaces the webhook and its secret.
   */
  async registerNotificationWebhook(request: RegisterNotificationWebhookRequest, context: CommandContext): Promise<NotificationWebhookView> {
    authorizeAdmin(context.caller, request.tenant, 'write');
    const secrets = this.deps.webhookSecrets;
    if (!secrets) throw new ApiError('UNAVAILABLE', 'this process cannot register webhooks');
    const secretId = newPrefixedId('whk', this.clock());
    await this.record(request.tenant, { type: 'SetNotificationWebhook', data: { tenant: request.tenant, url: request.url, secretId } }, context);
    return { tenant: request.tenant, url: request.url, secret: secrets.current(request.tenant, null, secretId) };
  }

  /** Removes the tenant's notification webhook: notifications are then on NATS only. Recorded even when none was set. */
  async removeNotificationWebhook(request: RemoveNotificationWebhookRequest, context: CommandContext): Promise<NotificationWebhookView> {
    authorizeAdmin(context.caller, request.tenant, 'write');
    await this.record(request.tenant, { type: 'SetNotificationWebhook', data: { tenant: request.tenant, url: null, secretId: null } }, context);
    return { tenant: request.tenant, url: null, secret: null };
  }

  /**
   * The one append path of the tenant's stream: reads it once, decides, appends at the version
   * read (all again if another writer got there first), and answers the settings with the new events.
   */
  private async record(tenant: string, command: TenantCommand, context: CommandContext): Promise<TenantSettings> {
    const streamId = streamIdOf('tenant', tenant);
    const metadata = commandMetadata(context, this.deps.systemActor);
    return retryConflicts(async () => {
      const { settings, version } = await loadTenant(this.deps.store, tenant);
      const events = decideTenant(command, settings);
      await this.deps.store.append(
        streamId,
        version,
        events.map((event) => ({ type: event.type, data: event.data, metadata })),
      );
      return events.reduce(evolveTenant, settings);
    });
  }
}

/** The level a policy is set at: a tenant, or one owner in it (an owner only when named). */
function levelOf(request: { readonly tenant: string; readonly owner?: string | undefined }): { tenant: string; owner?: string } {
  return { tenant: request.tenant, ...(request.owner === undefined ? {} : { owner: request.owner }) };
}

function rotationPolicyView(table: RotationPolicyTable, tenant: string, owner: string | undefined): RotationPolicyView {
  return { tenant, owner: owner ?? null, policy: { ...policyAt(table, tenant, owner) }, effective: { ...effectivePolicy(table, tenant, owner) } };
}

function incidentPolicyView(table: IncidentPolicyTable, tenant: string, owner: string | undefined): IncidentPolicyView {
  return {
    tenant,
    owner: owner ?? null,
    policy: { ...incidentPolicyAt(table, tenant, owner) },
    effective: { ...effectiveIncidentPolicy(table, tenant, owner) },
  };
}
