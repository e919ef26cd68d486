// Messages between the executor's main thread and its worker threads. Values
// cross as CBOR bytes (our codec) rather than structured clones, so lattices
// keep their classes and the bytes can be transferred, not copied.

import type { WireError } from '../../lib/errors.js';

/** What every worker gets at start. */
export interface WorkerData {
  /** The executor's shared-memory cache (see cache/layout.ts). */
  cache: SharedArrayBuffer;
  /** Names the channels of the state line (state_line.ts). */
  executorId: string;
}

/**
 * `cache`: the shared cache, else the main thread (lww). `main`: always the
 * main thread, which decides what a causal session may see, newer on every
 * read, and logs every read of an exactly-once call as a numbered step.
 * `pinned`: the main thread once per key, then that answer again: the
 * cache may hold a version the call must not see, and a key reads the same
 * for the whole call (`rr` pins, `atomic` transactions).
 */
export type WorkerReads = 'cache' | 'main' | 'pinned';

/** One invocation handed to a worker. */
export interface WorkerTask {
  /** The running instance's address (`cb.id`), `<executor>.<n>`. */
  invocationId: string;
  /** The call's id, the same on every retry of it. */
  requestId: string;
  /** Writer id for the last-writer-wins timestamps of this invocation's puts. */
  writer: string;
  name: string;
  /** The function's content hash: a worker that has not loaded it asks for its code (op `code`) once. */
  hash: string;
  /** CBOR of the argument array. */
  args: Uint8Array;
  /** Where the invocation's reads go (see WorkerReads). */
  reads: WorkerReads;
}

export type WorkerOutcome = { ok: true; result: Uint8Array } | { ok: false; error: WireError };

/** Worker → main: a state or messaging operation of the running instance `instance`. */
export type StateRequest = { seq: number; thread: number; instance: string } & (
  /** `step`: the op's number in the call, in program order (for exactly-once logs). */
  | { op: 'get'; key: string; step: number }
  /** `ttlMs`: the put's lifetime (checked in the worker: a positive finite number). */
  | { op: 'put'; key: string; value: Uint8Array; step: number; ttlMs?: number }
  /** `args`: CBOR of the argument array; `timeoutMs`: the callee's own bound, within the caller's deadline. */
  | { op: 'call'; fn: string; args: Uint8Array; step: number; timeoutMs?: number }
  | { op: 'callAsync'; fn: string; args: Uint8Array; step: number; delayMs?: number }
  | { op: 'sleep'; ms: number; step: number }
  | { op: 'send'; to: string; data: Uint8Array }
  | { op: 'recv'; timeoutMs: number | undefined }
  /** The source of the instance's function, for a worker that has not loaded it yet. */
  | { op: 'code' }
);

/** Main → worker: the answer to request `seq`. */
export interface StateReply {
  seq: number;
  /** CBOR of the lattice, for a get of a present key; the bytes, for a recv; CBOR of the result, for a call. */
  value?: Uint8Array;
  /** The sender's id, for a recv; the call's id, for a callAsync. */
  from?: string;
  error?: WireError;
  /** The function's source, for a `code` request. */
  code?: string;
}
