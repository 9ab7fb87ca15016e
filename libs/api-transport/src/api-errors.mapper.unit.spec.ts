import { ApiError } from '@keyledger/contracts';
import { ConcurrencyConflictError, EventIntegrityError, InvalidEventError } from '@keyledger/event-store';
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

  it('leaves anything else unmapped, for the transport to answer INTERNAL', () => {
    expect(toApiError(new TypeError('x is undefined'))).toBeUndefined();
  });
});
