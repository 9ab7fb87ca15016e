/**
 * Incidents of keys: leak and anomaly reports recorded on the key's stream (the issuer), and the
 * rotator's response to each by the tenant's incident policy, with the tenant's notification.
 */
export * from './incident-reports.js';
export * from './incident-response.js';
export * from './network-denials.js';
export * from './anomaly-acknowledgements.js';
export * from './notification-webhooks.js';
