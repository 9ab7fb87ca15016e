import type { LoggerService } from '@nestjs/common';
import type { Logger } from '@keyledger/observability';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * Nest's own log lines through the service's pino logger, so every line a service writes is
 * the same structured JSON with the same redaction. (nestjs-pino does this too, but its
 * releases for Nest 12 need Node 22.) Nest's informational chatter (routes mapped, modules
 * initialised) goes to debug, so `LOG_LEVEL=info` shows only what the service itself says.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /** Nest calls `(message, context)`, and for errors `(message, stack, context)`. */
  private write(level: Level, message: unknown, params: unknown[]): void {
    const last = params.at(-1);
    const context = params.length > 0 && typeof last === 'string' ? last : undefined;
    const stack = params.length >= 2 && typeof params[0] === 'string' ? params[0] : undefined;
    const fields: Record<string, unknown> = { ...(context === undefined ? {} : { context }), ...(stack === undefined ? {} : { stack }) };
    if (message instanceof Error) this.logger[level]({ ...fields, err: message }, message.message);
    else if (typeof message === 'object' && message !== null) this.logger[level]({ ...fields, ...(message as Record<string, unknown>) });
    else this.logger[level](fields, String(message));
  }
}
