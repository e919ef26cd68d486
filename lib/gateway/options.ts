// Request options of the HTTP gateway: each one can be given as a header or
// as a query parameter (one table, which the OpenAPI description and the docs
// follow). Given both ways with different values is refused, rather than one
// silently winning.

import type { CallOptions, DagCallOptions } from '../client/cloudburst.js';
import { InvalidArgument } from '../errors.js';

/** Longest Idempotency-Key taken: it becomes the call's request id, which travels on every message of the call. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;

export interface OptionSpec {
  /** Header name, lower case as Node gives them. */
  header: string;
  /** Query parameter. */
  query: string;
  /** JSON Schema of its value, for the OpenAPI description. */
  schema: Record<string, unknown>;
  description: string;
}

/** Every option, by what it sets. */
export const OPTIONS = {
  consistency: {
    header: 'cloudburst-consistency',
    query: 'consistency',
    schema: { type: 'string', enum: ['lww', 'rr', 'causal'], default: 'lww' },
    description: 'consistency of the call\'s reads: lww (default), rr (repeatable read) or causal (docs/consistency.md)',
  },
  atomic: {
    header: 'cloudburst-atomic',
    query: 'atomic',
    schema: { type: 'boolean', default: false },
    description: 'read-atomic transaction: the call\'s writes become visible together when it returns (not with causal)',
  },
  isolation: {
    header: 'cloudburst-isolation',
    query: 'isolation',
    schema: { type: 'string', enum: ['none', 'serializable'], default: 'none' },
    description: 'serializable: the call is one serializable transaction, every key it touches locked until it commits (single calls only; docs/consistency.md)',
  },
  timeoutMs: {
    header: 'cloudburst-timeout-ms',
    query: 'timeoutMs',
    schema: { type: 'integer', minimum: 1 },
    description: 'deadline of the call in ms, queueing included (default: the gateway\'s --timeout; at most its --max-timeout-ms); past it the call is cancelled and the answer is 504',
  },
  idempotencyKey: {
    header: 'idempotency-key',
    query: 'idempotencyKey',
    schema: { type: 'string', minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH },
    description:
      'the call\'s request id, and the call runs exactly once: requests with one key are one call, and every one of them gets the first one\'s result',
  },
  exactlyOnce: {
    header: 'cloudburst-exactly-once',
    query: 'exactlyOnce',
    schema: { type: 'boolean', default: false },
    description: 'log the call\'s reads and writes so a retry inside the cluster repeats no effect (implied by Idempotency-Key)',
  },
  outputKey: {
    header: 'cloudburst-output-key',
    query: 'outputKey',
    schema: { type: 'string', minLength: 1 },
    description: 'DAG calls: also store the sink\'s result under this key (last writer wins)',
  },
  ttlMs: {
    header: 'cloudburst-ttl-ms',
    query: 'ttlMs',
    schema: { type: 'integer', minimum: 1 },
    description: 'PUT /kv: delete the key this many ms from now, on every replica',
  },
  all: {
    header: 'cloudburst-read-all',
    query: 'all',
    schema: { type: 'boolean', default: false },
    description: 'GET /kv: read every replica and merge what they hold (default: one replica)',
  },
  lattice: {
    header: 'cloudburst-lattice',
    query: 'lattice',
    schema: { type: 'boolean', default: false },
    description: 'GET /kv: answer { kind, data }, the lattice as stored, rather than its value',
  },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** The parts of a request options are read from. */
export interface OptionSource {
  headers: Record<string, string | string[] | undefined>;
  query: unknown;
}

/** The raw text of an option, from its header or its query parameter; undefined when neither is given. */
export function rawOption(req: OptionSource, name: OptionName): string | undefined {
  const spec = OPTIONS[name];
  const header = one(req.headers[spec.header], `header ${spec.header}`);
  const q = typeof req.query === 'object' && req.query !== null ? (req.query as Record<string, unknown>)[spec.query] : undefined;
  const query = one(q, `query parameter ${spec.query}`);
  if (header !== undefined && query !== undefined && header !== query) {
    throw new InvalidArgument(`${name} given twice with different values: header ${spec.header}: "${header}", query ${spec.query}=${query}`);
  }
  return header ?? query;
}

function one(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) throw new InvalidArgument(`${what} given more than once`);
  throw new InvalidArgument(`${what} is not text`);
}

function booleanOption(req: OptionSource, name: OptionName): boolean | undefined {
  const raw = rawOption(req, name);
  if (raw === undefined) return undefined;
  // `?atomic` alone reads as on.
  if (raw === '' || raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new InvalidArgument(`${name} must be true or false, not "${raw}"`);
}

function positiveIntegerOption(req: OptionSource, name: OptionName, max?: number): number | undefined {
  const raw = rawOption(req, name);
  if (raw === undefined) return undefined;
  const n = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!(Number.isSafeInteger(n) && n >= 1)) throw new InvalidArgument(`${name} must be a whole number of ms >= 1, not "${raw}"`);
  if (max !== undefined && n > max) throw new InvalidArgument(`${name} ${n} is above this gateway's limit of ${max} ms`);
  return n;
}

function textOption(req: OptionSource, name: OptionName, maxLength?: number): string | undefined {
  const raw = rawOption(req, name);
  if (raw === undefined) return undefined;
  if (raw.length === 0) throw new InvalidArgument(`${name} must not be empty`);
  if (maxLength !== undefined && raw.length > maxLength) throw new InvalidArgument(`${name} is ${raw.length} characters long, above the limit of ${maxLength}`);
  return raw;
}

/** The options of POST /call and POST /dag. `maxTimeoutMs` bounds the deadline a request may ask for. */
export function callOptions(req: OptionSource, maxTimeoutMs: number): CallOptions {
  const opts: CallOptions = {};
  const consistency = rawOption(req, 'consistency');
  if (consistency !== undefined) {
    if (consistency !== 'lww' && consistency !== 'rr' && consistency !== 'causal') {
      throw new InvalidArgument(`consistency must be lww, rr or causal, not "${consistency}"`);
    }
    opts.consistency = consistency;
  }
  const isolation = rawOption(req, 'isolation');
  if (isolation !== undefined) {
    if (isolation !== 'none' && isolation !== 'serializable') throw new InvalidArgument(`isolation must be none or serializable, not "${isolation}"`);
    opts.isolation = isolation;
  }
  const atomic = booleanOption(req, 'atomic');
  if (atomic !== undefined) opts.atomic = atomic;
  const timeoutMs = positiveIntegerOption(req, 'timeoutMs', maxTimeoutMs);
  if (timeoutMs !== undefined) opts.timeoutMs = timeoutMs;
  const exactlyOnce = booleanOption(req, 'exactlyOnce');
  const key = textOption(req, 'idempotencyKey', MAX_IDEMPOTENCY_KEY_LENGTH);
  if (key !== undefined) {
    if (exactlyOnce === false) throw new InvalidArgument('an Idempotency-Key makes the call exactly-once: it cannot be given with exactlyOnce false');
    opts.requestId = key;
    opts.exactlyOnce = true;
  } else if (exactlyOnce !== undefined) {
    opts.exactlyOnce = exactlyOnce;
  }
  return opts;
}

export function dagCallOptions(req: OptionSource, maxTimeoutMs: number): DagCallOptions {
  const opts: DagCallOptions = callOptions(req, maxTimeoutMs);
  const outputKey = textOption(req, 'outputKey');
  if (outputKey !== undefined) opts.outputKey = outputKey;
  return opts;
}

export function putOptions(req: OptionSource): { ttlMs?: number } {
  const ttlMs = positiveIntegerOption(req, 'ttlMs');
  return ttlMs === undefined ? {} : { ttlMs };
}

export function getOptions(req: OptionSource): { all: boolean; lattice: boolean } {
  return { all: booleanOption(req, 'all') ?? false, lattice: booleanOption(req, 'lattice') ?? false };
}
