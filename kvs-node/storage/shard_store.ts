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

import { mkdir } from 'node:fs/promises';
import { open, type RootDatabase } from 'lmdb';
import { decode, encode } from '../../lib/codec/index.js';
import type { Durability } from '../../lib/config.js';
import { CloudburstError, Closed, InternalError, InvalidArgument, asCloudburstError } from '../../lib/errors.js';
import { isLattice, mergeLattices, type Lattice } from '../../lib/lattice/index.js';
import { lockDataDir, type DataDirLock } from './data_dir_lock.js';


export interface ShardStoreOptions {
  /** Directory of the shard's data; required unless durability is 'none'. */
  dataDir?: string;
  /** none: memory only; group (default): a put is acknowledged after the batch it joined is committed and fsynced; sync: each put is its own committed, fsynced transaction. */
  durability: Durability;
  /** Who opens it, named to a second process that finds `dataDir` locked. */
  holder?: string;
}

export interface OpenReport {
  /** Lattices read back into memory. */
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

export class ShardStore {
  readonly durability: Durability;
  readonly openReport: OpenReport;
  private readonly data: Map<string, Lattice>;
  private readonly db: RootDatabase<Buffer, Buffer> | undefined;
  /** In 'sync' mode, the last write handed to LMDB; the next waits for it. */
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    durability: Durability,
    db: RootDatabase<Buffer, Buffer> | undefined,
    data: Map<string, Lattice>,
    report: OpenReport,
    private readonly lock?: DataDirLock,
  ) {
    this.durability = durability;
    this.db = db;
    this.data = data;
    this.openReport = report;
  }

  /** Opens (creating if need be) the shard's data and loads every lattice into memory. */
  static async open(opts: ShardStoreOptions): Promise<ShardStore> {
    const start = performance.now();
    const durability = opts.durability ?? 'group';
    if (durability !== 'none' && durability !== 'group' && durability !== 'sync') {
      throw new InvalidArgument(`durability must be none, group or sync, got ${String(durability)}`);
    }
    const data = new Map<string, Lattice>();
    if (durability === 'none') return new ShardStore(durability, undefined, data, { loaded: 0, skipped: 0, ms: 0 });
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
        const lattice = decode(value);
        if (!isLattice(lattice)) throw new Error('not a lattice');
        data.set(key.toString('utf8'), lattice);
      } catch {
        skipped++;
      }
    }
    return new ShardStore(durability, db, data, { loaded: data.size, skipped, ms: performance.now() - start }, lock);
  }

  get(key: string): Lattice | undefined {
    return this.data.get(key);
  }

  has(key: string): boolean {
    return this.data.has(key);
  }

  keys(): IterableIterator<string> {
    return this.data.keys();
  }

  entries(): IterableIterator<[string, Lattice]> {
    return this.data.entries();
  }

  get size(): number {
    return this.data.size;
  }

  /**
   * Merges value into the key (mergeLattices: a kind mismatch throws LatticeTypeMismatch BEFORE anything changes).
   * Memory is updated at once; the promise resolves with the merged lattice once it is durable per the mode.
   */
  async put(key: string, value: Lattice): Promise<Lattice> {
    // Synchronous up to the write, so memory changes in call order.
    const { merged, written } = this.apply(key, value);
    await written;
    return merged;
  }

  /** Applies many puts; resolves when all are durable; per-item errors returned, not thrown. */
  async putMany(items: { key: string; value: Lattice }[]): Promise<({ merged: Lattice } | { error: CloudburstError })[]> {
    // All applied in this turn, so in 'group' mode they share one transaction.
    const pending = items.map(async ({ key, value }) => {
      try {
        const { merged, written } = this.apply(key, value);
        await written;
        return { merged };
      } catch (err) {
        return { error: asCloudburstError(err) };
      }
    });
    return Promise.all(pending);
  }

  async delete(key: string): Promise<void> {
    this.checkOpen();
    if (!this.data.delete(key)) return; // absent, or a key that could never be stored
    await this.write((db) => db.remove(keyBytes(key)));
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

  /** Merges and encodes first (either may throw), then changes memory, then writes. */
  private apply(key: string, value: Lattice): { merged: Lattice; written: Promise<unknown> } {
    this.checkOpen();
    // The key's bytes are only needed on disk.
    const k = this.db ? keyBytes(key) : (checkKey(key), undefined);
    if (!isLattice(value)) throw new InvalidArgument('a stored value must be a lattice');
    const have = this.data.get(key);
    const merged = have ? mergeLattices(have, value) : value;
    const bytes = this.db ? encode(merged) : undefined;
    this.data.set(key, merged);
    if (!bytes || !k) return { merged, written: Promise.resolve() };
    return { merged, written: this.write((db) => db.put(k, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) };
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
