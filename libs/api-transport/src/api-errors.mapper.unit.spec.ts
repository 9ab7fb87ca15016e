import { API_ERRORS, ApiError } from '@keyledger/contracts';
import { ConcurrencyConflictError, EventIntegrityError, InvalidEventError, StreamVersionGapError } from '@keyledger/event-store';
import { DomainError } from '@keyledger/key-domain';
import { toApiError } from './api-errors.mapper.js';

describe('toApiError', () => {
  it('keeps an API error as it is', () => {
    const error = new ApiError('PERMISSION_DENIED', 'no');
    expect(toApiError(error)).toBe(error);
  });

  it('gives a rule violation its own stable code and message', () => {
    expect(toApiError(new DomainError('INVALID_TRANSITION', 'key key_1 is revoked'))).toMatchObject({
      code: 'INVALID_TRANSITION',
      message: 'key key_1 is revoked',
    });
  });

  it('answers a tenant at its key quota as TENANT_KEY_QUOTA_EXCEEDED, 429 and RESOURCE_EXHAUSTED on every transport', () => {
    expect(toApiError(new DomainError('TENANT_KEY_QUOTA_EXCEEDED', 'tenant acme has 3 live keys and may hold 3'))).toMatchObject({
      code: 'TENANT_KEY_QUOTA_EXCEEDED',
      message: 'tenant acme has 3 live keys and may hold 3',
    });
    expect(API_ERRORS.TENANT_KEY_QUOTA_EXCEEDED).toEqual({ http: 429, grpc: 8 });
  });

  it('answers a lost race as CONCURRENCY_CONFLICT and a refused event as INVALID_ARGUMENT', () => {
    expect(toApiError(new ConcurrencyConflictError('key-key_1', 1, 2))?.code).toBe('CONCURRENCY_CONFLICT');
    expect(toApiError(new InvalidEventError('correlation id too long'))).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'correlation id too long' });
  });

  it('answers a stream holding a forged event as INTERNAL, naming neither the row nor why', () => {
    const mapped = toApiError(new EventIntegrityError('key-key_1', 3, '42', 'bad-mac: the MAC does not match the row'));
    expect(mapped?.code).toBe('INTERNAL');
    expect(mapped?.message).not.toMatch(/bad-mac|42|key_1/);
  });

  it('answers an unreachable Postgres as UNAVAILABLE, seen through TypeORM', () => {
    expect(toApiError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))?.code).toBe('UNAVAILABLE');
    expect(toApiError({ driverError: Object.assign(new Error('terminating connection'), { code: '57P01' }) })?.code).toBe('UNAVAILABLE');
  });

  it('answers a stream version gap the database refused as INTERNAL, named, whether typed or as the driver threw it', () => {
    const driverError = Object.assign(new Error('stream key-key_1 is at version 2: version 4 would leave a gap'), {
      code: 'KL002',
      detail: JSON.stringify({ streamId: 'key-key_1', version: 4, head: 2 }),
    });
    for (const error of [{ driverError }, driverError]) {
      expect(toApiError(error)).toMatchObject({ code: 'INTERNAL', message: 'the database refused an event that would leave a gap in its stream' });
    }
    expect(toApiError(new StreamVersionGapError('key-key_1', 4, 2))?.code).toBe('INTERNAL');
  });

  it('leaves anything else unmapped, for the transport to answer INTERNAL', () => {
    expect(toApiError(new TypeError('x is undefined'))).toBeUndefined();
  });
});
