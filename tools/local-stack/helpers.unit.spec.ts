import { errorText, once, shortPath } from './helpers.mjs';

describe('errorText', () => {
  it("lists the inner errors of Node's message-less AggregateError for a refused multi-address connect", () => {
    const refused = new AggregateError([new Error('connect ECONNREFUSED ::1:5432'), new Error('connect ECONNREFUSED 127.0.0.1:5432')]);
    expect(errorText(refused)).toBe('connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432');
  });

  it('falls back to the code, then to the value itself', () => {
    expect(errorText(Object.assign(new Error(''), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
    expect(errorText(undefined)).toBe('undefined');
  });
});

describe('shortPath', () => {
  it('shows a path inside the repository relative to it', () => {
    expect(shortPath('/repo', '/repo/.keyledger/postgres')).toBe('.keyledger/postgres');
  });

  it('keeps a path outside the repository, or the root itself, absolute', () => {
    expect(shortPath('/repo', '/var/lib/nats')).toBe('/var/lib/nats');
    expect(shortPath('/repo', '/repo')).toBe('/repo');
    expect(shortPath(undefined, '/var/lib/nats')).toBe('/var/lib/nats');
  });
});

describe('once', () => {
  it('runs the function on the first call and returns its result afterwards', () => {
    let calls = 0;
    const stop = once(() => ++calls);
    expect([stop(), stop()]).toEqual([1, 1]);
  });
});
