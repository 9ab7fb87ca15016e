import type { IncidentPolicySetData, OwnerPublicKeyRegisteredData, RotationPolicySetData } from '@keyledger/contracts';
import { ownerWebhookRegisteredSchema, streamIdOf } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import type { IncidentPolicyTable, OwnerPublicKeyTable, OwnerWebhookTable, RotationPolicyTable } from '@keyledger/key-domain';
import { evolveIncidentPolicies, evolveOwnerPublicKeys, evolveOwnerWebhooks, evolveRotationPolicies } from '@keyledger/key-domain';

/** What a tenant's stream holds besides its keys' streams: its policies and its owners' delivery settings. */
export interface TenantSettings {
  readonly rotationPolicies: RotationPolicyTable;
  readonly incidentPolicies: IncidentPolicyTable;
  /** Each owner's latest X25519 public key. */
  readonly ownerPublicKeys: OwnerPublicKeyTable;
  /** Each owner's latest webhook. */
  readonly ownerWebhooks: OwnerWebhookTable;
}

/** A tenant's settings, folded from one read of its stream (a rotation needs several of them). */
export async function readTenantSettings(store: PostgresEventStore, tenant: string): Promise<TenantSettings> {
  let rotationPolicies: RotationPolicyTable = new Map();
  let incidentPolicies: IncidentPolicyTable = new Map();
  let ownerPublicKeys: OwnerPublicKeyTable = new Map();
  let ownerWebhooks: OwnerWebhookTable = new Map();
  for (const event of await store.readStream(streamIdOf('tenant', tenant))) {
    switch (event.type) {
      case 'RotationPolicySet':
        rotationPolicies = evolveRotationPolicies(rotationPolicies, event.data as RotationPolicySetData);
        break;
      case 'IncidentPolicySet':
        incidentPolicies = evolveIncidentPolicies(incidentPolicies, event.data as IncidentPolicySetData);
        break;
      case 'OwnerPublicKeyRegistered':
        ownerPublicKeys = evolveOwnerPublicKeys(ownerPublicKeys, event.data as OwnerPublicKeyRegisteredData);
        break;
      case 'OwnerWebhookRegistered': {
        // Parsed, not cast: a webhook's URL decides where a sealed key is sent.
        const parsed = ownerWebhookRegisteredSchema.safeParse(event.data);
        if (parsed.success) ownerWebhooks = evolveOwnerWebhooks(ownerWebhooks, parsed.data);
        break;
      }
    }
  }
  return { rotationPolicies, incidentPolicies, ownerPublicKeys, ownerWebhooks };
}
