// A shard's lattices, durable. Every key lives in memory (reads never touch
// disk) and, unless durability is 'none', in an LMDB environment under
// `dataDir`, holding the codec's CBOR bytes of the merged lattice. LMDB
// rather than a log of our own: a B+tree has nothing to compact or replay,
// so a restart costs one scan of the live keys whatever the history, and
// lmdb-js already does group commit (all writes of an event turn share one
// transaction and one fsync).
//
// Guarantees, per mode:
// - none: memory only; `dataDir` is ignored and a restart loses everything.
// - group: a put resolves once the transaction it joined is committed and
//   fsynced. `overlappingSync` is turned off because with it lmdb-js resolves
//   at commit and fsyncs afterwards, so an acknowledged write could be lost
//   to a power failure.
// - sync: as group, but each write is its own transaction: the next write is
//   handed to LMDB only after the previous one is durable. Latency is one
//   fsync per write, with the event loop left free (unlike `putSync`).
//
// Memory is updated at once, so a get sees a put before it is durable. If a
// disk write fails (disk full, I/O error) the put rejects and memory is ahead
// of disk until the next successful write of that key.
//
// Deletes leave tombstones. Every value carries the time (ms, this shard's
// clock or the replica's that stamped it) it was last written, every
// tombstone the time of its delete; a value written at or before a tombstone
// is gone for good, whoever brings it back (a replica that missed the
// delete, this shard restarted from its disk), and a value written after it
// is kept. A put here is stamped after any tombstone of its key, so a put
// after a delete always wins on this shard. Tombstones replicate like values
// (`record`, `mergeRecords`) and are collected after a retention
// (`collectTombstones`): a replica away longer than that can bring a deleted
// value back.
//
// Expiries (lib/kvs/expiry.ts) are deletes scheduled ahead: a key's record
// keeps the latest expiry it was given (merged by max, like a lattice), and
// once it is due, by this shard's clock or because a value written after it
// arrives, it becomes the key's tombstone, stamped at the expiry, so
// everything written up to the expiry is gone for good, as after a delete,
// and what is written after it is a fresh start. Reads never return a value
// whose expiry is due, even before the periodic `expireDue` has folded it
// into a tombstone; the expiry is on disk with the value, so a restart
// cannot bring an expired value back either.
//
// On disk a key holds the CBOR of [value | null, writtenAt, deletedAt,
// expiresAt?] (the expiry only when it has one); a bare lattice (data
// written before tombstones) reads as written at 0.

import { mkdir } from 'node:fs/promises';
import { open, type RootDatabase } from 'lmdb';
import { decode, encode } from '../../lib/codec/index.js';
import type { Durability } from '../../lib/config.js';
import { CloudburstError, Closed, InternalError, InvalidArgument, asCloudburstError } from '../../lib/errors.js';
import { isExpired, mergeExpiry } from '../../lib/kvs/expiry.js';
import type { KeyRecord } from '../../lib/kvs/protocol.js';
import { isLattice, mergeLattices, type Lattice } from '../../lib/lattice/index.js';
import { lockDataDir, type DataDirLock } from './data_dir_lock.js';

export type { KeyRecord };


export interface ShardStoreOptions {
  /** Directory of the shard's data; required unless durability is 'none'. */
  dataDir?: string;
  /** none: memory only; group (default): a put is acknowledged after the batch it joined is committed and fsynced; sync: each put is its own committed, fsynced transaction. */
  durability: Durability;
  /** Who opens it, named to a second process that finds `dataDir` locked. */
  holder?: string;
}

export interface OpenReport {
  /** Lattices read back into memory (tombstones not counted). */
  loaded: number;
  /** Stored values that did not decode to a lattice, left on disk untouched. */
  skipped: number;
  ms: number;
}

// LMDB's key limit (its default build). Checked before anything changes:
// lmdb-js throws an oversized or empty key synchronously, and a put that
// throws there leaves a commit queued that crashes the process after close.
const MAX_KEY_BYTES = 1978;

/** Refuses keys LMDB could not store as they are, in every mode alike (no allocation). */
function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidArgument('a key must be a non-empty string');
  const size = Buffer.byteLength(key, 'utf8');
  if (size > MAX_KEY_BYTES) throw new InvalidArgument(`key of ${size} UTF-8 bytes exceeds the limit of ${MAX_KEY_BYTES}`);
  // A lone surrogate becomes U+FFFD in UTF-8 and would come back as another key.
  if (!key.isWellFormed()) throw new InvalidArgument('a key must be well-formed Unicode');
}

/** The key's UTF-8 bytes; keys are stored as raw bytes so any string round-trips. */
function keyBytes(key: string): Buffer {
  checkKey(key);
  return Buffer.from(key, 'utf8');
}

interface Loaded {
  data: Map<string, Lattice>;
  stamps: Map<string, number>;
  tombs: Map<string, number>;
  expiries: Map<string, number>;
}

/** One put: `expiresAt` is the expiry it gives the key (ms since the epoch; absent or 0: none). */
export interface StorePut {
  key: string;
  value: Lattice;
  expiresAt?: number;
}

export class ShardStore {
  readonly durability: Durability;
  readonly openReport: OpenReport;
  private readonly data: Map<string, Lattice>;
  /** When each value was last written (ms); absent: 0 (before tombstones existed). */
  private readonly stamps: Map<string, number>;
  /** Deleted keys and when, until collected. */
  private readonly tombs: Map<string, number>;
  /** Keys with an expiry not yet due (or due and not yet folded into a tombstone): always after the key's tombstone. */
  private readonly expiries: Map<string, number>;
  private readonly db: RootDatabase<Buffer, Buffer> | undefined;
  /** In 'sync' mode, the last write handed to LMDB; the next waits for it. */
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    durability: Durability,
    db: RootDatabase<Buffer, Buffer> | undefined,
    loaded: Loaded,
    report: OpenReport,
    private readonly lock?: DataDirLock,
  ) {
    this.durability = durability;
    this.db = db;
    this.data = loaded.data;
    this.stamps = loaded.stamps;
    this.tombs = loaded.tombs;
    this.expiries = loaded.expiries;
    this.openReport = report;
  }

  /** Opens (creating if need be) the shard's data and loads every lattice into memory. */
  static async open(opts: ShardStoreOptions): Promise<ShardStore> {
    const start = performance.now();
    const durability = opts.durability ?? 'group';
    if (durability !== 'none' && durability !== 'group' && durability !== 'sync') {
      throw new InvalidArgument(`durability must be none, group or sync, got ${String(durability)}`);
    }
    const loaded: Loaded = { data: new Map(), stamps: new Map(), tombs: new Map(), expiries: new Map() };
    if (durability === 'none') return new ShardStore(durability, undefined, loaded, { loaded: 0, skipped: 0, ms: 0 });
    if (typeof opts.dataDir !== 'string' || opts.dataDir === '') {
      throw new InvalidArgument(`durability '${durability}' needs a dataDir`);
    }
    let db: RootDatabase<Buffer, Buffer>;
    try {
      await mkdir(opts.dataDir, { recursive: true });
    } catch (err) {
      throw new InternalError(`cannot open shard data in ${opts.dataDir}: ${(err as Error).message}`, { cause: err });
    }
    // Before LMDB opens anything: a second process on these files would keep
    // its own copy in memory and diverge (DataDirLocked names the holder).
    const lock = await lockDataDir(opts.dataDir, opts.holder ?? `a kvs shard store (${process.argv[1] ?? 'node'})`);
    try {
      db = open<Buffer, Buffer>({
        path: opts.dataDir,
        noSubdir: false, // dataDir is always a directory, even if its name has a dot
        encoding: 'binary',
        keyEncoding: 'binary',
        overlappingSync: false,
      });
    } catch (err) {
      await lock.release();
      throw new InternalError(`cannot open shard data in ${opts.dataDir}: ${(err as Error).message}`, { cause: err });
    }
    let skipped = 0;
    // One read snapshot over the whole tree. A value that does not decode is
    // skipped, not fatal: one bad record must not keep the shard down.
    for (const { key, value } of db.getRange()) {
      try {
        const k = key.toString('utf8');
        const stored = decode(value);
        if (isLattice(stored)) {
          loaded.data.set(k, stored);
          continue;
        }
        const [v, at, deletedAt, expiresAt = 0] = Array.isArray(stored) ? (stored as unknown[]) : [];
        if ((v !== null && !isLattice(v)) || typeof at !== 'number' || typeof deletedAt !== 'number' || typeof expiresAt !== 'number') throw new Error('not a record');
        if (v) loaded.data.set(k, v);
        if (v && at > 0) loaded.stamps.set(k, at);
        if (deletedAt > 0) loaded.tombs.set(k, deletedAt);
        // Kept even if it passed while the shard was down: reads take it as
        // due at once, and expireDue folds it into the tombstone.
        if (expiresAt > deletedAt) loaded.expiries.set(k, expiresAt);
      } catch {
        skipped++;
      }
    }
    return new ShardStore(durability, db, loaded, { loaded: loaded.data.size, skipped, ms: performance.now() - start }, lock);
  }

  /** The key's value; undefined when it has none, or its expiry is due. */
  get(key: string): Lattice | undefined {
    const value = this.data.get(key);
    if (value === undefined || !this.due(key)) return value;
    this.expireNow(key);
    return undefined;
  }

  /** When the key's value expires (ms since the epoch), 0 when it does not. */
  expiresAt(key: string): number {
    return this.expiries.get(key) ?? 0;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  *keys(): IterableIterator<string> {
    for (const key of this.data.keys()) if (!this.due(key)) yield key;
  }

  *entries(): IterableIterator<[string, Lattice]> {
    for (const entry of this.data.entries()) if (!this.due(entry[0])) yield entry;
  }

  /** Keys holding a value in memory (an expired one counts until expireDue folds it). */
  get size(): number {
    return this.data.size;
  }

  /** Keys with an expiry not yet folded into a tombstone. */
  get expiring(): number {
    return this.expiries.size;
  }

  /** Tombstones not yet collected. */
  get tombstones(): number {
    return this.tombs.size;
  }

  /** Keys with a value, a tombstone or an expiry: what a hand-off or a join pull must carry. */
  *recordKeys(): IterableIterator<string> {
    yield* this.data.keys();
    for (const key of this.tombs.keys()) if (!this.data.has(key)) yield key;
    for (const key of this.expiries.keys()) if (!this.data.has(key) && !this.tombs.has(key)) yield key;
  }

  /** What replicas exchange for `key` (a due expiry already folded); undefined when it has no value, tombstone or expiry. */
  record(key: string): KeyRecord | undefined {
    if (this.due(key)) this.expireNow(key);
    const value = this.data.get(key);
    const deletedAt = this.tombs.get(key) ?? 0;
    const expiresAt = this.expiries.get(key) ?? 0;
    if (!value && deletedAt === 0 && expiresAt === 0) return undefined;
    const record: KeyRecord = value ? { value, at: this.stamps.get(key) ?? 0, deletedAt } : { at: 0, deletedAt };
    if (expiresAt > 0) record.expiresAt = expiresAt;
    return record;
  }

  /**
   * Merges value into the key (mergeLattices: a kind mismatch throws LatticeTypeMismatch BEFORE anything changes),
   * and `expiresAt` (ms since the epoch) into its expiry.
   * Memory is updated at once; the promise resolves with the merged lattice once it is durable per the mode
   * (undefined when the value expired before it arrived: a put whose expiry is past deletes the key).
   */
  async put(key: string, value: Lattice, expiresAt = 0): Promise<Lattice | undefined> {
    // Synchronous up to the write, so memory changes in call order.
    const { merged, written } = this.applyPut({ key, value, expiresAt });
    await written;
    return merged;
  }

  /** Applies many puts; resolves when all are durable; per-item errors returned, not thrown. */
  async putMany(items: StorePut[]): Promise<({ merged: Lattice | undefined } | { error: CloudburstError })[]> {
    // All applied in this turn, so in 'group' mode they share one transaction.
    const pending = items.map(async (item) => {
      try {
        const { merged, written } = this.applyPut(item);
        await written;
        return { merged };
      } catch (err) {
        return { error: asCloudburstError(err) };
      }
    });
    return Promise.all(pending);
  }

  /**
   * Folds every expiry that is due into its key's tombstone, in memory at
   * once and then on disk; resolves with how many once durable. Reads do not
   * wait for this (they never return an expired value): it frees memory and
   * makes the tombstone what gossip and hand-off carry.
   */
  async expireDue(): Promise<number> {
    this.checkOpen();
    const now = Date.now();
    const writes: Promise<unknown>[] = [];
    for (const [key, expiresAt] of this.expiries) if (isExpired(expiresAt, now)) writes.push(this.apply(key, { at: 0, deletedAt: 0 }, now).written);
    await Promise.all(writes);
    return writes.length;
  }

  /**
   * Merges records from replicas (gossip, hand-off, join pulls): tombstones
   * first, then values written after the key's tombstone. `merged` is the
   * key's value after, undefined when it has none (deleted, or the value
   * came from before the delete).
   */
  async mergeRecords(items: { key: string; record: KeyRecord }[]): Promise<({ merged: Lattice | undefined } | { error: CloudburstError })[]> {
    const pending = items.map(async ({ key, record }) => {
      try {
        const { merged, written } = this.apply(key, record);
        await written;
        return { merged };
      } catch (err) {
        return { error: asCloudburstError(err) };
      }
    });
    return Promise.all(pending);
  }

  /**
   * Deletes the key's value and leaves a tombstone, stamped no earlier than
   * the value it deletes, so that value merged from anywhere stays deleted.
   */
  async delete(key: string): Promise<void> {
    this.checkOpen();
    try {
      checkKey(key);
    } catch {
      return; // a key that could never be stored has nothing to delete
    }
    const deletedAt = Math.max(Date.now(), this.stamps.get(key) ?? 0, this.tombs.get(key) ?? 0);
    await this.apply(key, { at: 0, deletedAt }).written;
  }

  /** Forgets the key entirely, value and tombstone, leaving no trace (a key this shard no longer replicates). */
  async forget(key: string): Promise<void> {
    this.checkOpen();
    this.stamps.delete(key);
    const had = [this.tombs.delete(key), this.expiries.delete(key)].includes(true);
    if (!this.data.delete(key) && !had) return;
    await this.write((db) => db.remove(keyBytes(key)));
  }

  /** Drops tombstones of deletes before `before` (ms); resolves with how many once durable. */
  async collectTombstones(before: number): Promise<number> {
    this.checkOpen();
    const writes: Promise<unknown>[] = [];
    for (const [key, deletedAt] of this.tombs) {
      if (deletedAt >= before) continue;
      this.tombs.delete(key);
      // A value written after the delete stays, without its tombstone, and so does an expiry still ahead.
      writes.push(this.data.has(key) || this.expiries.has(key) ? this.persist(key) : this.write((db) => db.remove(keyBytes(key))));
    }
    await Promise.all(writes);
    return writes.length;
  }

  /** Waits for every write handed out so far, then closes the environment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    try {
      await this.db?.close(); // lmdb-js commits what is queued before closing
    } finally {
      await this.lock?.release(); // only once nothing more will be written
    }
  }

  /** Whether the key has an expiry that is due. */
  private due(key: string, now = Date.now()): boolean {
    return isExpired(this.expiries.get(key) ?? 0, now);
  }

  /**
   * Folds a due expiry into the tombstone now. Best effort: if the shard is
   * closed or the disk write fails, the expiry is still on disk with the
   * value and is due again after a restart, so nothing expired comes back.
   */
  private expireNow(key: string): void {
    if (this.closed) return;
    this.apply(key, { at: 0, deletedAt: 0 }).written.catch(() => undefined);
  }

  /** A local put, stamped now, after the key's tombstone and after its expiry if that is due, even if the clock says otherwise. */
  private applyPut({ key, value, expiresAt = 0 }: StorePut): { merged: Lattice | undefined; written: Promise<unknown> } {
    const now = Date.now();
    const expiry = this.expiries.get(key) ?? 0;
    const after = Math.max(this.tombs.get(key) ?? 0, isExpired(expiry, now) ? expiry : 0);
    return this.apply(key, { value, at: Math.max(now, after + 1), deletedAt: 0, expiresAt }, now);
  }

  /**
   * Applies a record: its tombstone and expiry (a due expiry becomes the
   * tombstone), then its value if written after the key's tombstone. Merges
   * and encodes first (either may throw), then changes memory, then writes.
   */
  private apply(key: string, record: KeyRecord, now = Date.now()): { merged: Lattice | undefined; written: Promise<unknown> } {
    this.checkOpen();
    checkKey(key);
    const { value, at, deletedAt } = record;
    if (value !== undefined && !isLattice(value)) throw new InvalidArgument('a stored value must be a lattice');
    let tomb = Math.max(this.tombs.get(key) ?? 0, deletedAt);
    // A value is covered by the expiry it comes with, even one that passed
    // before it was written (a ttl shorter than its trip, a writer's clock
    // behind): it is deleted at once rather than kept for good.
    const own = record.expiresAt ?? 0;
    let expiry = mergeExpiry(this.expiries.get(key) ?? 0, own > 0 && value !== undefined ? Math.max(own, at) : own);
    // Due by this clock, or by the writer's of a value written after it: the key was deleted then.
    if (expiry > 0 && (expiry <= now || (value !== undefined && at > expiry))) tomb = Math.max(tomb, expiry);
    if (expiry <= tomb) expiry = 0;
    let have = this.data.get(key);
    let stamp = this.stamps.get(key) ?? 0;
    if (have && tomb > 0 && stamp <= tomb) {
      // Written before the delete: gone.
      have = undefined;
      stamp = 0;
    }
    const fresh = value !== undefined && (tomb === 0 || at > tomb);
    const merged = fresh ? (have ? mergeLattices(have, value) : value) : have;
    if (fresh) stamp = Math.max(stamp, at);
    const changed =
      merged !== this.data.get(key) || tomb !== (this.tombs.get(key) ?? 0) || stamp !== (this.stamps.get(key) ?? 0) || expiry !== (this.expiries.get(key) ?? 0);
    const bytes = this.db && changed ? encode(diskRecord(merged, stamp, tomb, expiry)) : undefined;
    if (merged) this.data.set(key, merged);
    else this.data.delete(key);
    if (stamp > 0) this.stamps.set(key, stamp);
    else this.stamps.delete(key);
    if (tomb > 0) this.tombs.set(key, tomb);
    if (expiry > 0) this.expiries.set(key, expiry);
    else this.expiries.delete(key);
    if (!bytes) return { merged, written: Promise.resolve() };
    const k = keyBytes(key);
    return { merged, written: this.write((db) => db.put(k, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) };
  }

  /** Writes the key's record as memory has it. */
  private persist(key: string): Promise<unknown> {
    if (!this.db) return Promise.resolve();
    const bytes = encode(diskRecord(this.data.get(key), this.stamps.get(key) ?? 0, this.tombs.get(key) ?? 0, this.expiries.get(key) ?? 0));
    const k = keyBytes(key);
    return this.write((db) => db.put(k, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
  }

  /** Hands one write to LMDB: at once in 'group' mode, after the previous one is durable in 'sync'. */
  private write(op: (db: RootDatabase<Buffer, Buffer>) => Promise<boolean>): Promise<unknown> {
    const db = this.db;
    if (!db) return Promise.resolve();
    const done = this.durability === 'sync' ? this.tail.then(() => op(db)) : op(db);
    const guarded = done.catch((err: unknown) => {
      throw new InternalError(`shard write failed: ${(err as Error).message}`, { cause: err });
    });
    this.tail = guarded.catch(() => undefined); // a failed write must not stall the ones after it
    return guarded;
  }

  private checkOpen(): void {
    if (this.closed) throw new Closed('the shard store is closed');
  }
}

/** A key's record as stored: [value | null, writtenAt, deletedAt], and its expiry only when it has one. */
function diskRecord(value: Lattice | undefined, at: number, deletedAt: number, expiresAt: number): unknown[] {
  return expiresAt > 0 ? [value ?? null, at, deletedAt, expiresAt] : [value ?? null, at, deletedAt];
}
