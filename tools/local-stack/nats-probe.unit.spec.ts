import { DEFAULT_NATS_URL, describeNatsUrl, parseNatsUrl } from './nats-probe.mjs';

describe('parseNatsUrl', () => {
  it('reads host and port of a nats:// URL', () => {
    expect(parseNatsUrl('nats://10.0.0.7:4333')).toEqual({ host: '10.0.0.7', port: 4333 });
  });

  it('defaults to port 4222, as NATS clients do', () => {
    expect(parseNatsUrl('nats://nats.internal')).toEqual({ host: 'nats.internal', port: 4222 });
    expect(parseNatsUrl(DEFAULT_NATS_URL)).toEqual({ host: '127.0.0.1', port: 4222 });
  });

  it('accepts a server without a scheme', () => {
    expect(parseNatsUrl('localhost:4999')).toEqual({ host: 'localhost', port: 4999 });
  });

  it('takes the first server of a comma-separated list', () => {
    expect(parseNatsUrl(' nats://a:1001 , nats://b:1002')).toEqual({ host: 'a', port: 1001 });
  });

  it('unwraps an IPv6 address from its brackets', () => {
    expect(parseNatsUrl('nats://[::1]:4222')).toEqual({ host: '::1', port: 4222 });
  });

  it('keeps the credentials out of the endpoint', () => {
    expect(parseNatsUrl('nats://user:secret@127.0.0.1:4222')).toEqual({ host: '127.0.0.1', port: 4222 });
  });

  it('throws on a URL that cannot be parsed', () => {
    expect(() => parseNatsUrl('nats://host:notaport')).toThrow();
  });
});

describe('describeNatsUrl', () => {
  it('names host and port only', () => {
    expect(describeNatsUrl('nats://user:secret@127.0.0.1:4999')).toBe('127.0.0.1:4999');
  });

  it('says when the URL cannot be parsed instead of throwing', () => {
    expect(describeNatsUrl('nats://host:notaport')).toMatch(/^unparseable URL: /);
  });
});
