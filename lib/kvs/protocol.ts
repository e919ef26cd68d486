// The KVS wire shapes, shared by shards and the client.
//   batch  (client → shard): many operations, one result each, so one bad
//          operation fails alone; `ring` is the client's ring version.
//   gossip (shard → shard):  records a replica may lack; merged on arrival.
//   join   (joining shard → active shard): a page of the records the joiner
//          will hold; the active shard forwards later writes to it as gossip.
//   peek   (shard → shard): the records a shard holds for some keys, whether
//          or not it still owns them (a new owner reading before hand-off).
//   updates (primary replica → caches, on a bucket subject): merged entries
//          of watched keys, from shard `shard` in its start `inc`, the
//          bucket's `seq`-th message of that start (watchers find lost ones).
//   accept (primary → other replicas): a decided field of a key (the
//          `decide`, `lock`, `unlock` and `seal` ops), from the shard named `from`,
//          with the record's expiry when it has one (`expiresAt`); taken
//          only if the replica too sees that shard as the key's primary,
//          merged, and answered with what the replica then holds for the
//          field.
// Between shards a key travels as a record, its value with when it was
// written, its tombstone if deleted and its expiry if it has one, so a
// delete and a lifetime replicate like a put (a decided field is part of the
// value, carried like any other). The expiry is sent only when a key has one,
// so records and entries of keys without one are what they were before
// expiries existed.

import { arr, num, obj, str, lattice } from '../codec/index.js';
import { MalformedMessage, type WireError } from '../errors.js';
import type { Lattice } from '../lattice/index.js';
import { LOCK_PREFIX } from './locks.js';

export const KVS_BATCH = 'batch';
export const KVS_GOSSIP = 'gossip';
export const KVS_JOIN = 'join';
export const KVS_PEEK = 'peek';
export const KVS_ACCEPT = 'accept';

export type KvsOp =
  /** `local`: only what this shard holds, not asking previous replicas during a hand-off (inspection). */
  | { op: 'get'; key: string; local?: boolean }
  /** `expiresAt`: the key's expiry (ms since the epoch) this put sets, merged as lib/kvs/expiry.ts says. */
  | { op: 'put'; key: string; value: Lattice; expiresAt?: number }
  | { op: 'del'; key: string }
  /** Publish merges of `key` on its update subject for `ttlMs` (see updates.ts). */
  | { op: 'watch'; key: string; ttlMs: number }
  /**
   * First writer wins on field `field` of the map lattice at `key`, decided
   * by the key's primary replica alone (kvs-node/decider.ts): it keeps
   * `value` only if the field has none, puts what it keeps on every replica,
   * then answers it (the winner's value, to every caller and every retry).
   */
  | { op: 'decide'; key: string; field: string; value: Lattice }
  /**
   * The lock record `key` (lib/kvs/locks.ts: `__cb/lock/<data key>`) for
   * `owner` until `until` (ms since the epoch), decided by its primary like
   * a decide (kvs-node/lock_rule.ts): granted if free, lapsed or `owner`'s
   * own, else left to its holder; answered with the record's lock field as
   * every replica then holds it (the asker sees whether it is the owner).
   */
  | { op: 'lock'; key: string; owner: string; until: number }
  /**
   * Releases the lock record `key` if `owner` holds it (with `seal`: only if
   * sealed by that token); answered like `lock`.
   */
  | { op: 'unlock'; key: string; owner: string; seal?: string }
  /**
   * Seals the lock record `key` for `owner` with `token` until `until` if
   * `owner` holds it at `generation` and its lease is not over on the
   * primary's clock (lib/kvs/locks.ts `seal`); answered like `lock`.
   */
  | { op: 'seal'; key: string; owner: string; generation: number; token: string; until: number };

/** `value` for a get (absent: no such key) and its `expiresAt` if it has one, `error` when the op failed, `lease` for a watch. */
export interface KvsResult {
  value?: Lattice;
  expiresAt?: number;
  error?: WireError;
  lease?: LeaseAnswer;
}

/**
 * A shard's answer to a watch: which lease it holds for the key (`since`
 * numbers the leases of one start `inc` of the shard; a lease that lapsed,
 * or was lost with a restart, comes back under another), and how many
 * update messages the key's bucket had when it answered (see updates.ts).
 */
export interface LeaseAnswer {
  shard: string;
  inc: string;
  since: number;
  seq: number;
}

export function parseLease(raw: unknown): LeaseAnswer | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  return { shard: str(o, 'shard'), inc: str(o, 'inc'), since: num(o, 'since'), seq: num(o, 'seq') };
}

/** A merged key pushed to watchers, with its expiry when it has one (ms since the epoch). */
export type Entry = [key: string, value: Lattice, expiresAt?: number];

/**
 * A key as replicas exchange it: its value and when it was written (ms),
 * when it was last deleted (0: not, or collected), and when it expires (0 or
 * absent: it does not).
 */
export interface KeyRecord {
  value?: Lattice;
  at: number;
  deletedAt: number;
  expiresAt?: number;
}

/** On the wire: [key, value | null, writtenAt, deletedAt, expiresAt?]. */
export function recordToWire(key: string, r: KeyRecord): unknown[] {
  const wire: unknown[] = [key, r.value ?? null, r.at, r.deletedAt];
  if (r.expiresAt) wire.push(r.expiresAt);
  return wire;
}

/** A positive expiry, or MalformedMessage naming the field. */
function expiryField(o: Record<string, unknown>, field: string): number {
  const v = num(o, field);
  if (v <= 0) throw new MalformedMessage(`field ${field} must be a positive time`);
  return v;
}

export function parseRecords(msg: Record<string, unknown>): { key: string; record: KeyRecord }[] {
  return arr(msg, 'records').map((raw) => {
    if (!Array.isArray(raw) || (raw.length !== 4 && raw.length !== 5)) {
      throw new MalformedMessage('a record must be [key, lattice | null, writtenAt, deletedAt, expiresAt?]');
    }
    const o = { key: raw[0] as unknown, value: raw[1] as unknown, at: raw[2] as unknown, deletedAt: raw[3] as unknown, expiresAt: raw[4] as unknown };
    const record: KeyRecord = { at: num(o, 'at'), deletedAt: num(o, 'deletedAt') };
    if (o.value !== null) record.value = lattice(o, 'value');
    if (raw.length === 5) record.expiresAt = expiryField(o, 'expiresAt');
    return { key: str(o, 'key'), record };
  });
}

export function parseOp(raw: unknown): KvsOp {
  const o = obj(raw, 'kvs operation');
  const key = str(o, 'key');
  switch (o['op']) {
    case 'get':
      return o['local'] === true ? { op: 'get', key, local: true } : { op: 'get', key };
    case 'put':
      return o['expiresAt'] === undefined ? { op: 'put', key, value: lattice(o, 'value') } : { op: 'put', key, value: lattice(o, 'value'), expiresAt: expiryField(o, 'expiresAt') };
    case 'del':
      return { op: 'del', key };
    case 'watch':
      return { op: 'watch', key, ttlMs: num(o, 'ttlMs') };
    case 'decide':
      return { op: 'decide', key, field: str(o, 'field'), value: lattice(o, 'value') };
    case 'lock':
      return { op: 'lock', key: lockRecordKey(key), owner: str(o, 'owner'), until: num(o, 'until') };
    case 'unlock':
      return o['seal'] === undefined ? { op: 'unlock', key: lockRecordKey(key), owner: str(o, 'owner') } : { op: 'unlock', key: lockRecordKey(key), owner: str(o, 'owner'), seal: str(o, 'seal') };
    case 'seal':
      return { op: 'seal', key: lockRecordKey(key), owner: str(o, 'owner'), generation: num(o, 'generation'), token: str(o, 'token'), until: num(o, 'until') };
    default:
      throw new MalformedMessage(`unknown kvs operation ${String(o['op'])}`);
  }
}

/** Lock ops name lock records only: a lock rule never runs over a user's or the platform's other keys. */
function lockRecordKey(key: string): string {
  if (!key.startsWith(LOCK_PREFIX)) throw new MalformedMessage(`a lock op names a lock record (${LOCK_PREFIX}…), not "${key}"`);
  return key;
}

/** An entry as published: the expiry only when the key has one. */
export function entryToWire([key, value, expiresAt]: Entry): unknown[] {
  return expiresAt ? [key, value, expiresAt] : [key, value];
}

export function parseEntries(msg: Record<string, unknown>): Entry[] {
  return arr(msg, 'entries').map((raw) => {
    if (!Array.isArray(raw) || (raw.length !== 2 && raw.length !== 3)) throw new MalformedMessage('an entry must be [key, lattice, expiresAt?]');
    const o = { key: raw[0] as unknown, value: raw[1] as unknown, expiresAt: raw[2] as unknown };
    return raw.length === 3 ? [str(o, 'key'), lattice(o, 'value'), expiryField(o, 'expiresAt')] : [str(o, 'key'), lattice(o, 'value')];
  });
}
