// Per-key locks of serializable calls (docs/consistency.md, "Serializable"),
// as the KVS keeps them: one record per locked data key, under
// `__cb/lock/<key>`, decided by that record's primary replica like a
// `decide` (kvs-node/decider.ts) and on every replica before the answer, so
// the shard that takes over after the primary fails knows the holder.
//
// The record is field `lock` of a map lattice: a last-writer-wins pair whose
// timestamp is the lock's generation (so replicas that saw different
// states merge to the newest one), whose writer is the owner, and whose
// value is [owner, until] when held, null when released. A generation is
// bumped on every grant to a new owner and on every release, never by a
// re-grant to the holder (its lease is only pushed back): an owner that is
// granted the generation it saw before held the lock the whole time.
//
// The record carries the lease as its KVS expiry, so a lock whose holder
// died goes away by itself and no record outlives the last lease it
// carried: the KVS holds lock records only for locks held or lately held.
// Leases are times on the owner's clock (its call's deadline plus a margin),
// judged on the primary's: clock skew between them shortens or lengthens a
// lease by the skew.

import { MalformedMessage } from '../errors.js';
import { LWWPair, MapLattice, type Lattice } from '../lattice/index.js';
import { RESERVED_PREFIX } from '../reserved_keys.js';

/** The KVS key that holds data key `key`'s lock. */
export const LOCK_PREFIX = `${RESERVED_PREFIX}lock/`;
export const lockKey = (key: string): string => `${LOCK_PREFIX}${key}`;
export const LOCK_FIELD = 'lock';

/** A lock as its record says: who holds it (none: free), until when (ms since the epoch), at which generation. */
export interface LockState {
  owner: string | undefined;
  until: number;
  generation: number;
}

export const FREE: LockState = { owner: undefined, until: 0, generation: 0 };

/** The lock state a record's field holds (absent: free at generation 0). */
export function parseLock(field: Lattice | undefined): LockState {
  if (field === undefined) return FREE;
  if (!(field instanceof LWWPair)) throw new MalformedMessage('a lock record must be a last-writer-wins pair');
  const v = field.value as unknown;
  if (v === null) return { owner: undefined, until: 0, generation: field.timestamp };
  if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'number') throw new MalformedMessage('a held lock must be [owner, until]');
  return { owner: v[0], until: v[1], generation: field.timestamp };
}

function encodeLock(s: LockState): LWWPair {
  return new LWWPair(s.generation, s.owner ?? '', s.owner === undefined ? null : [s.owner, s.until]);
}

/** Whether `s` is held by somebody at `now`. */
export const isHeld = (s: LockState, now: number): boolean => s.owner !== undefined && s.until > now;

/**
 * What the primary keeps when `owner` asks for the lock until `until`: the
 * lock for it if free, lapsed or already its own (then with the later of
 * the two leases, same generation), else the lock as it is (the asker
 * reads the holder off the answer: no waiting, so no deadlock).
 */
export function grant(held: LockState, owner: string, until: number, now: number): LockState {
  if (held.owner === owner && held.until > now) return { owner, until: Math.max(held.until, until), generation: held.generation };
  if (isHeld(held, now)) return held;
  // A generation above every one before, and time-based, so it keeps rising
  // after a lapsed record was deleted and the count would start again.
  return { owner, until, generation: Math.max(held.generation + 1, now * 1000) };
}

/** What the primary keeps when `owner` releases the lock: free (next generation) if it held it, else unchanged. */
export function release(held: LockState, owner: string): LockState {
  return held.owner === owner ? { owner: undefined, until: 0, generation: held.generation + 1 } : held;
}

/** The record a lock state is stored as (field LOCK_FIELD of a map). */
export const lockRecord = (s: LockState): MapLattice<Lattice> => new MapLattice([[LOCK_FIELD, encodeLock(s)]]);
export { encodeLock };
