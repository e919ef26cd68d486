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
// A holder seals its locks at its commit decision (`seal`): granted only
// while it still holds the lock at the generation it was granted, its lease
// not over on the primary's clock; the lock then stays held past any lease
// (its `until` is pushed to a long backstop) until the committer releases it
// once its commit is complete, or the collector does, by the seal's token,
// once it has rolled that commit forward or back. So a holder that stalled
// past its lease cannot seal, and one that sealed cannot lose the lock
// before its commit is final: the fence of serializable commits.
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
  /** The token of the commit that sealed it, if sealed (see `seal`). */
  seal?: string;
}

export const FREE: LockState = { owner: undefined, until: 0, generation: 0 };

/** The lock state a record's field holds (absent: free at generation 0). */
export function parseLock(field: Lattice | undefined): LockState {
  if (field === undefined) return FREE;
  if (!(field instanceof LWWPair)) throw new MalformedMessage('a lock record must be a last-writer-wins pair');
  const v = field.value as unknown;
  if (v === null) return { owner: undefined, until: 0, generation: field.timestamp };
  if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'number' || (v.length > 2 && typeof v[2] !== 'string')) {
    throw new MalformedMessage('a held lock must be [owner, until] or [owner, until, seal]');
  }
  return v.length > 2 ? { owner: v[0], until: v[1], generation: field.timestamp, seal: v[2] as string } : { owner: v[0], until: v[1], generation: field.timestamp };
}

// A sealed lock's `until` is its backstop, far above any lease: a merge of
// two values of one generation (same timestamp and writer) keeps the one
// with the later `until`, so a seal is never undone by a late renewal.
function encodeLock(s: LockState): LWWPair {
  const held = s.seal === undefined ? [s.owner, s.until] : [s.owner, s.until, s.seal];
  return new LWWPair(s.generation, s.owner ?? '', s.owner === undefined ? null : held);
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
  // A sealed lock stays sealed (its backstop is the later `until`).
  if (held.owner === owner && held.until > now) return { ...held, until: Math.max(held.until, until) };
  if (isHeld(held, now)) return held;
  // A generation above every one before, and time-based, so it keeps rising
  // after a lapsed record was deleted and the count would start again.
  return { owner, until, generation: Math.max(held.generation + 1, now * 1000) };
}

/**
 * What the primary keeps when `owner` releases the lock: free (next
 * generation) if it held it, else unchanged. With `seal`, only a lock
 * sealed by that token is released (the collector's release: a later
 * attempt of the same transaction may have sealed it again for its own
 * commit, which that collector does not know of).
 */
export function release(held: LockState, owner: string, seal?: string): LockState {
  if (held.owner !== owner || (seal !== undefined && held.seal !== seal)) return held;
  return { owner: undefined, until: 0, generation: held.generation + 1 };
}

/**
 * What the primary keeps when `owner` seals the lock it was granted at
 * `generation`, with `token` (its commit's), until `until` (a backstop, far
 * past any lease): sealed if `owner` still holds it at that generation and
 * its lease is not over at `now`, else unchanged (the asker reads the
 * refusal off the answer). Sealing again (another attempt of the same
 * transaction, the same generation) takes the new token.
 */
export function seal(held: LockState, owner: string, generation: number, token: string, until: number, now: number): LockState {
  if (held.owner !== owner || held.generation !== generation || held.until <= now) return held;
  return { owner, until: Math.max(held.until, until), generation, seal: token };
}

/** The record a lock state is stored as (field LOCK_FIELD of a map). */
export const lockRecord = (s: LockState): MapLattice<Lattice> => new MapLattice([[LOCK_FIELD, encodeLock(s)]]);
export { encodeLock };
