// Every error that crosses a process boundary is one of these. Each has a
// stable `code` that travels on the wire, so a client in another process gets
// the same class back (`errorFromWire`) and can branch on `instanceof` or
// `code`. Modelled on nats.js's errors.ts: small subclasses that keep `cause`.

export interface WireError {
  code: string;
  message: string;
  /** Extra fields a subclass carries (e.g. the function name). */
  data?: Record<string, unknown>;
}

export class CloudburstError extends Error {
  /** Stable identifier of the failure, the same in every process. */
  readonly code: string = 'CB_ERROR';
  readonly data: Record<string, unknown> | undefined;

  constructor(message: string, options?: { cause?: unknown; data?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.data = options?.data;
  }

  toWire(): WireError {
    const wire: WireError = { code: this.code, message: this.message };
    if (this.data !== undefined) wire.data = this.data;
    return wire;
  }
}

/** Bytes that are not a valid message: bad CBOR, wrong envelope, missing fields. */
export class MalformedMessage extends CloudburstError {
  override readonly code = 'MALFORMED_MESSAGE';
}

/** A well-formed message of a protocol version or type this node does not speak. */
export class UnknownMessageType extends CloudburstError {
  override readonly code = 'UNKNOWN_MESSAGE_TYPE';
}

/** A call named a function that was never registered. */
export class FunctionNotFound extends CloudburstError {
  override readonly code = 'FUNCTION_NOT_FOUND';
}

/** A DAG call named a DAG that was never registered. */
export class DagNotFound extends CloudburstError {
  override readonly code = 'DAG_NOT_FOUND';
}

/** The user's function threw (or rejected); the message is the function's own. */
export class ExecutionError extends CloudburstError {
  override readonly code = 'EXECUTION_ERROR';
}

/** The request's deadline passed before an answer came. */
export class DeadlineExceeded extends CloudburstError {
  override readonly code = 'DEADLINE_EXCEEDED';
}

/** A message or value is larger than the limit of the path it would travel. */
export class PayloadTooLarge extends CloudburstError {
  override readonly code = 'PAYLOAD_TOO_LARGE';
}

/** Nobody can take the request now: no executor registered, no KVS shard up. */
export class NoCapacity extends CloudburstError {
  override readonly code = 'NO_CAPACITY';
}

/** A KVS shard does not hold this key (any more); `data.members` is its view of the ring. */
export class WrongShard extends CloudburstError {
  override readonly code = 'WRONG_SHARD';
}

/** A put would merge two different lattice types under one key. */
export class LatticeTypeMismatch extends CloudburstError {
  override readonly code = 'LATTICE_TYPE_MISMATCH';
}

/** Arguments that cannot be acted on (bad name, bad source, bad option). */
export class InvalidArgument extends CloudburstError {
  override readonly code = 'INVALID_ARGUMENT';
}

/** The connection or node is closed or draining and takes no more requests. */
export class Closed extends CloudburstError {
  override readonly code = 'CLOSED';
}

/**
 * NATS refused the connection's credentials (none given, wrong ones, or
 * expired), or refused a subject the user's role may not use (`data` names
 * `subject` and `operation`).
 */
export class Unauthorized extends CloudburstError {
  override readonly code = 'UNAUTHORIZED';
}

/** NATS could not be reached, or the connection could not be secured (a TLS handshake failed). */
export class Unavailable extends CloudburstError {
  override readonly code = 'UNAVAILABLE';
}

/**
 * An atomic read found no version of a key that fits what its transaction
 * already read (the versions it needs are no longer kept, or no replica
 * answered with one), or a commit did not reach its index within its commit
 * window (actors/executor/commit_intents.ts). Nothing was committed;
 * calling again starts a new transaction, which reads afresh.
 */
export class TransactionConflict extends CloudburstError {
  override readonly code = 'TRANSACTION_CONFLICT';
}

/**
 * A serializable call's transaction kept meeting locks held by other calls
 * (or lost its own), and its deadline left no room for another try: nothing
 * was committed. `data.key` names the key of the last conflict.
 */
export class TransactionAborted extends CloudburstError {
  override readonly code = 'TRANSACTION_ABORTED';
}

/** A leaving KVS shard stopped before every key it held was acknowledged by a replica that keeps it. */
export class HandoffIncomplete extends CloudburstError {
  override readonly code = 'HANDOFF_INCOMPLETE';
}

/** A joining KVS shard got no page of its pull from a peer still in its ring for too long (the peer is named in `data.peer`). */
export class JoinIncomplete extends CloudburstError {
  override readonly code = 'JOIN_INCOMPLETE';
}

/** A KVS shard's data directory is held by another running process (named in the message and `data`). */
export class DataDirLocked extends CloudburstError {
  override readonly code = 'DATA_DIR_LOCKED';
}

/** A failure inside a node that is not the caller's fault. */
export class InternalError extends CloudburstError {
  override readonly code = 'INTERNAL_ERROR';
}

type ErrorClass = new (message: string, options?: { cause?: unknown; data?: Record<string, unknown> }) => CloudburstError;

/** Every error class, by its wire code. */
export const errors = {
  CloudburstError,
  MalformedMessage,
  UnknownMessageType,
  FunctionNotFound,
  DagNotFound,
  ExecutionError,
  DeadlineExceeded,
  PayloadTooLarge,
  NoCapacity,
  LatticeTypeMismatch,
  WrongShard,
  InvalidArgument,
  Closed,
  Unauthorized,
  Unavailable,
  TransactionConflict,
  TransactionAborted,
  HandoffIncomplete,
  JoinIncomplete,
  DataDirLocked,
  InternalError,
} as const;

const byCode = new Map<string, ErrorClass>(
  Object.values(errors).map((cls) => [new cls('').code, cls]),
);

/** Rebuilds the typed error a remote node sent. Unknown codes become CloudburstError. */
export function errorFromWire(wire: unknown): CloudburstError {
  if (typeof wire !== 'object' || wire === null) {
    return new MalformedMessage('error reply without an error object');
  }
  const w = wire as Partial<WireError>;
  const cls = (typeof w.code === 'string' && byCode.get(w.code)) || CloudburstError;
  const data = typeof w.data === 'object' && w.data !== null ? w.data : undefined;
  return new cls(typeof w.message === 'string' ? w.message : 'unknown error', data ? { data } : undefined);
}

/** Wraps anything thrown into a CloudburstError, keeping typed ones as they are. */
export function asCloudburstError(err: unknown): CloudburstError {
  if (err instanceof CloudburstError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message, { cause: err });
}
