import { z } from 'zod';
import { ApiError, issueKeyRequestSchema, topUpKeyRequestSchema } from '@keyledger/contracts';
import { parseRequest } from './parse-request.js';

function problemOf(schema: z.ZodType, body: unknown): string {
  try {
    parseRequest(schema, body);
  } catch (error) {
    if (error instanceof ApiError) return error.message;
    throw error;
  }
  throw new Error('the request was accepted');
}

describe('parseRequest', () => {
  it('says what is wrong with each field in plain words, never in zod defaults', () => {
    const valid = { tenant: 'acme', owner: 'billing' };
    expect(problemOf(issueKeyRequestSchema, { ...valid, scopes: ['x'.repeat(201)] })).toBe('invalid request: scopes.0: must be at most 200 characters');
    expect(problemOf(issueKeyRequestSchema, { ...valid, scopes: Array.from({ length: 101 }, (_, i) => `s${i}`) })).toBe(
      'invalid request: scopes: must be at most 100 items',
    );
    expect(problemOf(issueKeyRequestSchema, { owner: 'billing' })).toBe('invalid request: tenant: is required');
    expect(problemOf(issueKeyRequestSchema, { ...valid, scopes: 'orders:read' })).toBe('invalid request: scopes: must be a list, not a string');
    expect(problemOf(issueKeyRequestSchema, { ...valid, colour: 'red' })).toBe('invalid request: (body): unknown field "colour"');
    expect(problemOf(issueKeyRequestSchema, { ...valid, environment: 'staging' })).toBe('invalid request: environment: must be one of "live", "test"');
    expect(problemOf(topUpKeyRequestSchema, { keyId: 'key_01jdaaaaaaaaaaaaaaaaaaaaaa', amount: 0 })).toBe('invalid request: amount: must be at least 1');
  });

  it('keeps the message a schema states itself', () => {
    const schema = z.object({ name: z.string().regex(/^[a-z]+$/, 'lowercase letters only') }).strict();
    expect(problemOf(schema, { name: 'ABC' })).toBe('invalid request: name: lowercase letters only');
  });

  it('lists every field that is wrong in the details', () => {
    try {
      parseRequest(issueKeyRequestSchema, {});
    } catch (error) {
      expect((error as ApiError).details).toEqual({
        issues: [
          { field: 'tenant', problem: 'is required' },
          { field: 'owner', problem: 'is required' },
        ],
      });
    }
    expect.assertions(1);
  });
});
