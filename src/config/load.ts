import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { LinesideError } from '../errors.js';
import { redactUrl } from '../redact-url.js';
import { configSchema, type Config } from './schema.js';

/** A validated, frozen config plus where it came from (relative paths in it resolve against baseDir). */
export interface LoadedConfig {
  config: Readonly<Config>;
  file: string;
  baseDir: string;
}

function valueAt(input: unknown, keys: readonly PropertyKey[]): unknown {
  let node: unknown = input;
  for (const key of keys) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  // A URL with credentials in it must not reach the terminal or the journal.
  const text = JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'string' && v.includes('://') ? redactUrl(v) : v,
  );
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const keyPath = issue.path.map(String).join('.') || '(top level)';
  const got = valueAt(input, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => `${issue.path.length ? `${keyPath}.` : ''}${key}: unknown key`).join('\n');
    case 'too_big':
      return `${keyPath}: must be ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)} (got ${show(got)})`;
    case 'too_small':
      return `${keyPath}: must be ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)} (got ${show(got)})`;
    case 'invalid_type':
      return got === undefined
        ? `${keyPath}: is required (${issue.expected})`
        : `${keyPath}: must be ${issue.expected} (got ${show(got)})`;
    case 'invalid_value':
      return `${keyPath}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')} (got ${show(got)})`;
    case 'invalid_union': {
      // A discriminated union names its valid `type` values; zod's public issue type omits them.
      const options = (issue as { options?: unknown }).options;
      if (Array.isArray(options)) {
        return `${keyPath}: must be one of ${options.map((v) => JSON.stringify(v)).join(', ')} (got ${show(got)})`;
      }
      return `${keyPath}: ${issue.message} (got ${show(got)})`;
    }
    case 'custom': {
      // A refinement that compares keys says what it compared (params.got), e.g. "10 < 20".
      const compared = (issue.params as { got?: unknown } | undefined)?.got;
      return `${keyPath}: ${issue.message} (got ${typeof compared === 'string' ? compared : show(got)})`;
    }
    default:
      return `${keyPath}: ${issue.message} (got ${show(got)})`;
  }
}

/** Validate an already-parsed object. Throws LS_CONFIG_INVALID whose message lists every problem, one per line. */
export function parseConfig(input: unknown): Readonly<Config> {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((issue) => describeIssue(issue, input));
    throw new LinesideError('LS_CONFIG_INVALID', lines.join('\n'));
  }
  return deepFreeze(result.data);
}

/** Read, parse and validate a YAML config file. Touches nothing but the file. */
export function loadConfig(file: string): LoadedConfig {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    throw new LinesideError('LS_CONFIG_UNREADABLE', `cannot read config file ${absolute}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new LinesideError('LS_CONFIG_UNREADABLE', `${absolute}: invalid YAML: ${first?.message ?? 'parse error'}`);
  }
  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml throws a ReferenceError for an alias bomb ("billion laughs"): the file is at fault, not lineside.
    throw new LinesideError(
      'LS_CONFIG_UNREADABLE',
      `${absolute}: invalid YAML: ${(err as Error).message} (at most ${MAX_ALIAS_COUNT} alias expansions)`,
      { cause: err },
    );
  }
  const config = parseConfig(input);
  return { config, file: absolute, baseDir: path.dirname(absolute) };
}

/** A real config reuses a block a few times; nested aliases that multiply beyond this are an expansion attack. */
const MAX_ALIAS_COUNT = 100;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
