import type { z } from 'zod';
import { ApiError } from '@keyledger/contracts';
import { describeRequestIssue } from './request-issues.js';

/** Validates a request body against its schema; a failure is INVALID_ARGUMENT naming each field. */
export function parseRequest<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const parsed = schema.safeParse(body, { error: describeRequestIssue });
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ field: issue.path.join('.') || '(body)', problem: issue.message }));
  throw new ApiError('INVALID_ARGUMENT', `invalid request: ${issues.map((i) => `${i.field}: ${i.problem}`).join('; ')}`, { issues });
}
