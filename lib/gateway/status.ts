// What the HTTP gateway answers for each error: an HTTP status and a JSON
// body `{ code, message, data? }` that carries the error's own `code`, so an
// HTTP client branches on the same codes an SDK client does. One table, read
// by the routes, the OpenAPI description and docs/operations.md.

import { asCloudburstError, type WireError } from '../errors.js';

/** Codes the gateway itself answers with, which no node sends. */
export const GATEWAY_CODES = {
  /** GET /kv/:key of a key that holds nothing. */
  keyNotFound: 'KEY_NOT_FOUND',
  /** A path (or method) the gateway does not serve. */
  routeNotFound: 'NOT_FOUND',
} as const;

/**
 * The status of each code. 5xx means the platform could not answer (a
 * proxy or a retry policy may try again); a function that threw is a 422,
 * not a 5xx, because the platform worked and a blind retry of a call that
 * is not exactly-once would run its effects again.
 */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  FUNCTION_NOT_FOUND: 404,
  DAG_NOT_FOUND: 404,
  [GATEWAY_CODES.keyNotFound]: 404,
  [GATEWAY_CODES.routeNotFound]: 404,
  TRANSACTION_CONFLICT: 409,
  TRANSACTION_ABORTED: 409,
  LATTICE_TYPE_MISMATCH: 409,
  PAYLOAD_TOO_LARGE: 413,
  EXECUTION_ERROR: 422,
  NO_CAPACITY: 503,
  UNAVAILABLE: 503,
  CLOSED: 503,
  DEADLINE_EXCEEDED: 504,
};

/** Any code not in STATUS_BY_CODE. */
export const DEFAULT_ERROR_STATUS = 500;

export function statusFor(code: string): number {
  return STATUS_BY_CODE[code] ?? DEFAULT_ERROR_STATUS;
}

/** The status and body for anything thrown while serving a request. */
export function errorReply(err: unknown): { status: number; body: WireError } {
  const e = asCloudburstError(err);
  return { status: statusFor(e.code), body: e.toWire() };
}

/** A status a client should wait before trying again: the gateway or cluster is short of room, not broken. */
export function retryAfterSeconds(status: number): number | undefined {
  return status === 503 ? 1 : undefined;
}
