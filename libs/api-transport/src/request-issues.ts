import type { z } from 'zod';

type Issue = Parameters<z.core.$ZodErrorMap>[0];

const UNITS: Readonly<Record<string, [string, string]>> = {
  string: ['character', 'characters'],
  array: ['item', 'items'],
  set: ['item', 'items'],
};

function amount(n: number | bigint, origin: string): string {
  const unit = UNITS[origin];
  return unit ? `${n} ${n === 1 || n === 1n ? unit[0] : unit[1]}` : String(n);
}

function typeName(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  return typeof input === 'object' ? 'an object' : `a ${typeof input}`;
}

/**
 * What a person is told about a field a request got wrong, in place of zod's defaults
 * ("Too big: expected string to have <=200 characters"). Messages a schema states itself
 * win over these (zod applies a schema's own message first); undefined keeps zod's.
 */
export function describeRequestIssue(issue: Issue): string | undefined {
  switch (issue.code) {
    case 'too_big':
      return issue.exact ? `must be exactly ${amount(issue.maximum, issue.origin)}` : `must be at most ${amount(issue.maximum, issue.origin)}`;
    case 'too_small':
      if (issue.exact) return `must be exactly ${amount(issue.minimum, issue.origin)}`;
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'must not be empty';
      if ((issue.origin === 'array' || issue.origin === 'set') && Number(issue.minimum) === 1) return 'must list at least one item';
      return issue.inclusive === false ? `must be more than ${amount(issue.minimum, issue.origin)}` : `must be at least ${amount(issue.minimum, issue.origin)}`;
    case 'invalid_type':
      return issue.input === undefined ? 'is required' : `must be ${issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}, not ${typeName(issue.input)}`;
    case 'unrecognized_keys':
      return `unknown ${issue.keys.length === 1 ? 'field' : 'fields'} ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`;
    case 'invalid_value':
      return `must be ${issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`}`;
    case 'invalid_format':
      return issue.format === 'regex' ? 'has an invalid format' : `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    default:
      return undefined;
  }
}
