import { pino } from 'pino';
import type { Logger as PinoLogger, LoggerOptions } from 'pino';

/** The one logger type of the project: structured JSON lines (pino). */
export type Logger = PinoLogger;

/**
 * Paths that may hold secrets. The key plaintext must never reach a log line; redaction is
 * the last guard, not the first (code should not log such values at all).
 */
export const REDACTED_PATHS = [
  'key',
  '*.key',
  'plaintext',
  '*.plaintext',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
];

export interface LoggerSettings {
  readonly service: string;
  readonly level: string;
  /** Where to write; defaults to stdout. Tests pass a stream to inspect what was logged. */
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    name: settings.service,
    level: settings.level,
    base: { service: settings.service },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
