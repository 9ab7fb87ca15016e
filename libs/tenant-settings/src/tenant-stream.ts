import type { AnomalyThresholdsSetData, EventEnvelope, IncidentPolicySetData, OwnerPublicKeyRegisteredData, RotationPolicySetData } from '@keyledger/contracts';
import { isEventTypeOf, notificationWebhookSetSchema, ownerWebhookRegisteredSchema, streamIdOf } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import type { TenantEvent, TenantSettings } from '@keyledger/key-domain';
import { evolveTenant, initialTenantSettings } from '@keyledger/key-domain';

/** A tenant's settings as read from its stream, with the stream's version (its event count). */
export interface LoadedTenant {
  readonly settings: TenantSettings;
  readonly version: number;
}

/** The tenant event a stored event is, or undefined for one the tenant's settings do not hold. */
function tenantEventOf(event: EventEnvelope): TenantEvent | undefined {
  const eventType = event.type;
  if (!isEventTypeOf('tenant', eventType)) return undefined; // not a setting
  // Exhaustive over the tenant stream's types: a new one must say how it folds.
  switch (eventType) {
    case 'RotationPolicySet':
      return { type: eventType, data: event.data as RotationPolicySetData };
    case 'IncidentPolicySet':
      return { type: eventType, data: event.data as IncidentPolicySetData };
    case 'OwnerPublicKeyRegistered':
      return { type: eventType, data: event.data as OwnerPublicKeyRegisteredData };
    case 'OwnerWebhookRegistered': {
      // Parsed, not cast: a webhook's URL decides where a sealed key is sent.
      const parsed = ownerWebhookRegisteredSchema.safeParse(event.data);
      return parsed.success ? { type: eventType, data: parsed.data } : undefined;
    }
    case 'AnomalyThresholdsSet':
      return { type: eventType, data: event.data as AnomalyThresholdsSetData };
    case 'NotificationWebhookSet': {
      // Parsed, not cast: its URL decides where the tenant's notifications are sent.
      const parsed = notificationWebhookSetSchema.safeParse(event.data);
      return parsed.success ? { type: eventType, data: parsed.data } : undefined;
    }
    default:
      return eventType satisfies never;
  }
}

/** Reads a tenant's stream once and folds it with the domain's `evolveTenant`. */
export async function loadTenant(store: Pick<PostgresEventStore, 'readStream'>, tenant: string): Promise<LoadedTenant> {
  const events = await store.readStream(streamIdOf('tenant', tenant));
  let settings = initialTenantSettings();
  for (const event of events) {
    const tenantEvent = tenantEventOf(event);
    if (tenantEvent) settings = evolveTenant(settings, tenantEvent);
  }
  return { settings, version: events.length };
}

/** A tenant's settings, folded from one read of its stream (a rotation needs several of them). */
export async function readTenantSettings(store: Pick<PostgresEventStore, 'readStream'>, tenant: string): Promise<TenantSettings> {
  return (await loadTenant(store, tenant)).settings;
}
