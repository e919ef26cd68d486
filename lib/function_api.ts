// What a user's function sees. A function is `async (cb, ...args) => result`;
// `cb` is its handle on shared state. This is the interface only: executors
// implement it (actors/executor/worker_context.ts).

import type { PutOptions } from './kvs/expiry.js';
import type { Lattice } from './lattice/index.js';
import type { LatticeConstructors } from './lattice_constructors.js';

export interface Cb {
  /** The id of this invocation; other instances `send` to it. */
  readonly id: string;
  /** The lattice classes, e.g. `new cb.lattices.SetLattice(['a'])`. */
  readonly lattices: LatticeConstructors;
  /**
   * The value stored under `key`, or undefined. Plain values (stored with
   * `put(key, value)`) come back as they were; other lattices come back as
   * their revealed value. Use `getLattice` for the lattice itself.
   */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** The lattice stored under `key`, or undefined. */
  getLattice(key: string): Promise<Lattice | undefined>;
  /**
   * Stores `value` under `key`. A Lattice is merged into what is stored; any
   * other value is wrapped in a last-writer-wins lattice and replaces it.
   * With `ttlMs` the key is deleted that long from now (docs/kvs.md,
   * "Lifetimes"); refused with InvalidArgument in atomic, exactly-once and
   * causal calls.
   */
  put(key: string, value: unknown, opts?: PutOptions): Promise<void>;
  /**
   * Calls registered function `fn` and resolves with its result, or rejects
   * with its typed error. The callee is a call of its own (lww, its own
   * worker thread, maybe on another executor), bounded by this call's
   * deadline and `timeoutMs`. Under `exactlyOnce` it is a logged step: the
   * callee runs exactly-once under an id derived from this call's, attempts
   * of this call that run at once get one result, and a re-run gets the
   * logged result without calling again. Refused with InvalidArgument in
   * atomic calls (the callee's writes would not be the transaction's).
   * This call holds its worker thread while it waits.
   */
  call<T = unknown>(fn: string, args?: unknown[], opts?: { timeoutMs?: number }): Promise<T>;
  /**
   * Starts a call of `fn` that runs exactly once even if this call dies
   * right after (as `client.send`: recorded before this resolves), at once
   * or `delayMs` from now; resolves with its id, for `client.result(id)`.
   * Under `exactlyOnce` the id is derived from this call's and the step, so
   * a re-run starts no second call; otherwise each run starts its own.
   * Refused with InvalidArgument in atomic calls.
   */
  callAsync(fn: string, args?: unknown[], opts?: { delayMs?: number }): Promise<string>;
  /**
   * Waits `ms`. Under `exactlyOnce` a logged step: the time to wake is
   * logged by the first attempt, so a re-run after a crash or retry waits
   * only what is left (by the executors' clocks). DeadlineExceeded at once
   * when the wake time is past the call's deadline.
   */
  sleep(ms: number): Promise<void>;
  /**
   * Sends bytes to another running function instance by its `id` (which the
   * two learn from each other through arguments or state). Resolves once the
   * message is in the recipient's inbox; NoCapacity when that inbox is full.
   */
  send(to: string, data: Uint8Array): Promise<void>;
  /**
   * The next message sent to this instance, waiting for at most `timeoutMs`
   * (default: until the call's deadline); DeadlineExceeded when none came.
   */
  recv(timeoutMs?: number): Promise<{ from: string; data: Uint8Array }>;
}

/** The shape of a registered function. */
// `never[]` accepts a function with any parameter types after `cb`.
export type CloudburstFunction = (cb: Cb, ...args: never[]) => unknown;
