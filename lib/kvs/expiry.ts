// Key lifetimes: `put(key, value, { ttlMs })`. The writer turns the ttl into
// an absolute time (its clock plus ttlMs, as deadlines travel), so every
// replica stores the same expiry and a retried put repeats it exactly.
//
// The expiry is part of the key's record and merges as a lattice of its own:
// the later of two expiries wins (0, no expiry, is the bottom). So replicas
// agree on it whatever order they merge in, a put without a ttl keeps the
// key's expiry, and a later put with a ttl can push it back but never bring
// it forward. An expiry is a delete scheduled for that time: once it is due
// (the clock reached it, or a value written after it arrives) it becomes the
// key's tombstone, stamped at the expiry, through the delete path
// (kvs-node/storage/shard_store.ts). Nothing cancels it, not a delete
// either: cancelling would not be a merge, and a replica that had already
// applied it could not take the value back (docs/kvs.md, "Lifetimes").

import { InvalidArgument } from '../errors.js';

/** Options of a put: the client's, a function's `cb.put`, `KvsClient.put`. */
export interface PutOptions {
  /**
   * How long the key lives, in ms from now (a positive finite number): then
   * it is deleted on every replica, whatever was written to it before.
   */
  ttlMs?: number;
}

/** Refuses a ttl that is not a positive finite number (InvalidArgument); undefined is no ttl. */
export function checkTtl(ttlMs: unknown): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new InvalidArgument(`ttlMs must be a positive finite number of milliseconds, got ${typeof ttlMs === 'number' ? ttlMs : typeof ttlMs}`);
  }
  return ttlMs;
}

/** The ttl of a put's options (undefined: none); InvalidArgument when they are not an object or the ttl is bad. */
export function checkPutOptions(opts: unknown): number | undefined {
  if (opts === undefined) return undefined;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new InvalidArgument('put options must be an object, e.g. { ttlMs: 60000 }');
  return checkTtl((opts as PutOptions).ttlMs);
}

/** The absolute expiry (ms since the epoch) of a put made now with `opts`; 0 when it has no ttl. */
export function expiryOf(opts: PutOptions | undefined, now = Date.now()): number {
  const ttlMs = checkTtl(opts?.ttlMs);
  // Whole milliseconds, rounded up: a key never goes before its ttl.
  return ttlMs === undefined ? 0 : now + Math.ceil(ttlMs);
}

/** The merge of two expiries: the later one (0 is none). */
export function mergeExpiry(a: number, b: number): number {
  return Math.max(a, b);
}

/** Whether a key with expiry `expiresAt` (0: none) is gone at `now`. */
export function isExpired(expiresAt: number, now = Date.now()): boolean {
  return expiresAt > 0 && expiresAt <= now;
}
