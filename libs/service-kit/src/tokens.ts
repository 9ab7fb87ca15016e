/** Injection tokens of what every service shares. */
export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');
export const SERVICE_NAME = Symbol('SERVICE_NAME');
export const LOGGER = Symbol('LOGGER');
export const INFRASTRUCTURE = Symbol('INFRASTRUCTURE');
export const TELEMETRY = Symbol('TELEMETRY');
export const METRICS = Symbol('METRICS');
