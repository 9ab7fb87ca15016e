import { PassThrough } from 'node:stream';
import { createLogger } from '@keyledger/observability';
import { PinoNestLogger } from './pino-nest-logger.js';

function capture(level = 'debug'): { nest: PinoNestLogger; lines: () => Record<string, unknown>[] } {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  const nest = new PinoNestLogger(createLogger({ service: 'test', level, destination: out }));
  return {
    nest,
    lines: () =>
      chunks
        .join('')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('PinoNestLogger', () => {
  it("writes Nest's lines as the service's JSON, with context and stack", () => {
    const { nest, lines } = capture();
    nest.error('handler failed', 'Error: boom\n    at x', 'ExceptionsHandler');
    nest.warn('deprecated option', 'NestFactory');
    nest.log('Mapped {/health/live, GET} route', 'RouterExplorer');
    expect(lines()).toEqual([
      expect.objectContaining({ level: 50, service: 'test', msg: 'handler failed', context: 'ExceptionsHandler', stack: 'Error: boom\n    at x' }),
      expect.objectContaining({ level: 40, msg: 'deprecated option', context: 'NestFactory' }),
      expect.objectContaining({ level: 20, msg: 'Mapped {/health/live, GET} route', context: 'RouterExplorer' }),
    ]);
  });

  it('keeps informational chatter out of an info log, and errors in', () => {
    const { nest, lines } = capture('info');
    nest.log('Nest application successfully started', 'NestApplication');
    nest.error(new Error('cannot connect'), 'InstanceLoader');
    expect(lines()).toEqual([
      expect.objectContaining({ level: 50, msg: 'cannot connect', context: 'InstanceLoader', err: expect.objectContaining({ type: 'Error' }) }),
    ]);
  });

  it('redacts secrets in objects Nest is handed, like any other line', () => {
    const { nest, lines } = capture();
    nest.warn({ msg: 'bad request', key: 'kl_live_secret', headers: { authorization: 'Bearer kl_live_secret' } }, 'Gateway');
    const [line] = lines();
    expect(JSON.stringify(line)).not.toContain('kl_live_secret');
    expect(line).toMatchObject({ context: 'Gateway', key: '[redacted]' });
  });
});
