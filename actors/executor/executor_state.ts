// The executor's view of shared state: its shared-memory cache in front of
// the KVS. Workers read the cache themselves; what they miss, and every put,
// comes here. A key that enters the cache is watched, so merges made
// anywhere else reach the cache (Cloudburst's cache refresh); a put writes
// through to the KVS and then into the cached copy, so a function reads its
// own writes. Keys the cache evicts stop being watched at the next sweep.
//
// The cache never holds less than what this executor's writes made the KVS
// acknowledge: a key enters it only with a value read from the KVS (merged
// with writes acknowledged while that read was on its way), never with a
// written delta alone, which for a lattice is not the key's value (a
// SetLattice(['x']) put into a key holding {a, b}).
//
// A cached value keeps the key's expiry as the KVS told it (merged by max,
// as the KVS merges it): from then on worker threads take it for a miss
// (the shared cache checks it on every read), this thread too, and the
// sweep drops it. A value expired by this executor's clock is never
// answered, even if the KVS answered it.

import type { KvsClient, StoredValue } from '../../lib/client/kvs_client.js';
import { decode, encode } from '../../lib/codec/index.js';
import { isExpired, mergeExpiry } from '../../lib/kvs/expiry.js';
import { mergeLattices, type Lattice } from '../../lib/lattice/index.js';
import { SharedCacheReader, SharedCacheWriter } from './cache/index.js';

const SWEEP_MS = 5_000;

export class ExecutorState {
  readonly writer: SharedCacheWriter;
  private readonly reader: SharedCacheReader;
  private readonly watches = new Map<string, { close(): void }>();
  /**
   * Keys cached with an expiry, for the sweep to drop once expired without
   * walking the whole cache. Pruned by every sweep of what the cache no
   * longer holds with one, so it never outgrows the cache by more than the
   * keys set between two sweeps.
   */
  private readonly expiring = new Set<string>();
  private readonly sweeper: NodeJS.Timeout;
  /**
   * Keys being read from the KVS, with the writes acknowledged since the
   * read left (the answer may predate them). Only while a read is out.
   */
  private readonly reading = new Map<string, { reads: number; written: StoredValue | undefined }>();
  /** Gets this thread answered from the cache (workers count theirs in the cache itself). */
  private mainHits = 0;
  /** Reads the cache could not answer, from any thread: each is a fetch from the KVS. */
  misses = 0;

  constructor(
    private readonly kvs: KvsClient,
    cacheBytes: number,
  ) {
    this.writer = SharedCacheWriter.create({ arenaBytes: cacheBytes });
    this.reader = new SharedCacheReader(this.writer.buffer);
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** The cached lattice, else the KVS's (which then enters the cache). */
  async get(key: string, deadline: number): Promise<Lattice | undefined> {
    const cached = this.cached(key);
    if (cached) {
      this.mainHits++;
      return cached.value;
    }
    this.misses++;
    return this.read(key, () => this.kvs.getStored(key, { deadline }));
  }

  /** Reads answered from the cache, by worker threads or this one. */
  get hits(): number {
    return this.mainHits + this.writer.sharedHits;
  }

  /** What every replica holds now, merged into the cache: for a reader the cache is too old for. */
  async fetch(key: string, deadline: number): Promise<Lattice | undefined> {
    this.misses++;
    const value = await this.read(key, () => this.kvs.getStored(key, { all: true, deadline }));
    return this.cached(key)?.value ?? value;
  }

  /** Writes through; `expiresAt` (ms since the epoch; 0: none) is the expiry the put gives the key. */
  async put(key: string, value: Lattice, deadline: number, expiresAt = 0): Promise<void> {
    await this.kvs.put(key, value, expiresAt > 0 ? { deadline, expiresAt } : { deadline });
    this.wrote(key, value, expiresAt);
  }

  /**
   * `value` was merged into `key` and the KVS acknowledged it (a put, a
   * transaction's commit): into the cached copy, and into reads still out.
   * A key not cached stays so: the next read fetches all it holds.
   */
  wrote(key: string, value: Lattice, expiresAt = 0): void {
    const read = this.reading.get(key);
    if (read) read.written = joinLive(read.written, { value, expiresAt });
    const cached = this.cached(key);
    if (!cached) return;
    let merged: Lattice;
    try {
      merged = mergeLattices(cached.value, value);
    } catch {
      // The cached copy is of a kind the KVS no longer holds: drop it.
      return this.writer.delete(key);
    }
    this.cache(key, encode(merged), mergeExpiry(cached.expiresAt, expiresAt)); // too large: dropped, never left stale
  }

  /** Up to `limit` cached keys, for the scheduler's locality. */
  cachedKeys(limit: number): string[] {
    const keys: string[] = [];
    for (const key of this.writer.keys()) {
      if (keys.length >= limit) break;
      keys.push(key);
    }
    return keys;
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const w of this.watches.values()) w.close();
    this.watches.clear();
  }

  /** The cached value and its expiry; undefined when not cached or expired (an expired entry is dropped on the way). */
  private cached(key: string): StoredValue | undefined {
    const bytes = this.reader.get(key);
    if (bytes) return { value: decode(bytes) as Lattice, expiresAt: this.writer.expiresAt(key) };
    if (this.writer.has(key) && isExpired(this.writer.expiresAt(key))) this.writer.delete(key);
    return undefined;
  }

  /** A read of the KVS, with the writes acknowledged while it was out, into the cache. */
  private async read(key: string, get: () => Promise<StoredValue | undefined>): Promise<Lattice | undefined> {
    let read = this.reading.get(key);
    if (!read) this.reading.set(key, (read = { reads: 0, written: undefined }));
    read.reads++;
    try {
      const stored = joinLive(await get(), read.written);
      if (stored) this.merge(key, stored);
      return stored?.value;
    } finally {
      if (--read.reads === 0) this.reading.delete(key);
    }
  }

  /** Merges a value read from the KVS into the cached copy (lattices: order never matters) and watches the key. */
  private merge(key: string, stored: StoredValue): void {
    const cached = this.cached(key);
    let merged = stored;
    if (cached) {
      try {
        merged = { value: mergeLattices(cached.value, stored.value), expiresAt: mergeExpiry(cached.expiresAt, stored.expiresAt) };
      } catch {
        // Another kind replaced the key (delete, then a put of a new kind): the KVS's word wins.
      }
    }
    if (!this.cache(key, encode(merged.value), merged.expiresAt)) return;
    if (!this.watches.has(key)) {
      this.watches.set(
        key,
        this.kvs.watch([key], (k, value, expiresAt) => this.writer.has(k) && this.merge(k, { value, expiresAt })),
      );
    }
  }

  private cache(key: string, bytes: Uint8Array, expiresAt: number): boolean {
    if (expiresAt > 0) this.expiring.add(key);
    return this.writer.set(key, bytes, expiresAt);
  }

  private sweep(): void {
    // Expired entries: readers already miss them; this frees their room.
    const now = Date.now();
    for (const key of this.expiring) {
      const expiresAt = this.writer.expiresAt(key); // 0: evicted, dropped, or cached again without one
      if (expiresAt === 0 || isExpired(expiresAt, now)) this.expiring.delete(key);
      if (expiresAt !== 0 && isExpired(expiresAt, now)) this.writer.delete(key);
    }
    for (const [key, watch] of this.watches) {
      if (this.writer.has(key)) continue;
      watch.close();
      this.watches.delete(key);
    }
  }
}

/**
 * Two values of a key joined, with the later expiry. One whose expiry has
 * come is gone and does not count; of two lattices of different kinds, the
 * later alone counts (the key was deleted and written anew).
 */
function joinLive(earlier: StoredValue | undefined, later: StoredValue | undefined): StoredValue | undefined {
  const now = Date.now();
  const a = earlier && !isExpired(earlier.expiresAt, now) ? earlier : undefined;
  const b = later && !isExpired(later.expiresAt, now) ? later : undefined;
  if (!a || !b) return a ?? b;
  try {
    return { value: mergeLattices(a.value, b.value), expiresAt: mergeExpiry(a.expiresAt, b.expiresAt) };
  } catch {
    return b;
  }
}
