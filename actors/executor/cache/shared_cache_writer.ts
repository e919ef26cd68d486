// The single writer of the shared-memory cache (docs/architecture.md), run by the
// executor's main thread. It alone changes the buffer, so it keeps its own
// JS-side bookkeeping (key → entry, entries in arena order) and never reads
// the buffer to make a decision; readers only ever see the buffer.
//
// Arena: a ring written front to back, evicting the oldest entries (FIFO) in
// the way of the next write. Why a ring rather than an allocator with LRU:
// - one writer appends, so allocation is a pointer bump and eviction frees
//   exactly the bytes it needs next, with no fragmentation or compaction (and
//   compaction would move bytes under readers, each move a seqlock write);
// - recency is unknowable here anyway: a hit is a reader's plain memory read
//   with no message, so the writer never learns which keys are read;
// - hot keys are kept fresh by re-sets from KVS merges, and a re-set moves the
//   entry to the ring's head, which approximates recency for them.
// Deleted and overwritten entries leave dead bytes until the ring comes round.
//
// Index: open addressing with linear probing and backward-shift deletion (no
// tombstones). Churn is constant (every eviction is a delete), and tombstones
// would pile up until a rehash, which readers could not follow in place.
// Backward shift keeps probe runs as short as the live keys make them. A moved
// entry is written to its new slot before its old slot is reused, so a reader
// finds it in one or the other, or at worst misses once (a miss is always
// allowed: it asks the main thread).

import {
  arenaByteOffset,
  homeSlot,
  kCacheMagic,
  kEntryAlignment,
  kHeaderArenaBytes,
  kHeaderBytes,
  kHeaderMagic,
  kHeaderSharedHits64,
  kHeaderSlotCount,
  kHeaderVersion,
  kLayoutVersion,
  kMaxEntryFraction,
  kMaxLoadFactor,
  kSlotExpiryHigh,
  kSlotExpiryLow,
  kSlotHash,
  kSlotKeyLength,
  kSlotOffset,
  kSlotSeq,
  kSlotState,
  kSlotStateEmpty,
  kSlotStateFull,
  kSlotValueLength,
  keyHash,
  sharedCacheBytes,
  slotCountFor,
  slotField,
  splitExpiry,
  type SharedCacheOptions,
} from './layout.js';

/** One write into the arena, live (indexed) or dead (deleted, overwritten). */
interface Entry {
  readonly key: string;
  readonly offset: number;
  /** Arena bytes taken: key + value rounded up to kEntryAlignment, at least one step so every entry can be evicted. */
  readonly span: number;
  /** Key + value bytes, counted in bytesUsed while live. */
  readonly size: number;
  readonly hash: number;
  readonly keyLength: number;
  readonly valueLength: number;
  /** When readers stop returning it (ms since the epoch; 0: never). */
  readonly expiresAt: number;
  /** Index slot while live; -1 once dead. */
  slot: number;
}

const encoder = new TextEncoder();

export class SharedCacheWriter {
  /** The buffer to hand to readers (e.g. in a worker's `workerData`). */
  readonly buffer: SharedArrayBuffer;
  readonly #i32: Int32Array;
  readonly #header64: BigInt64Array;
  readonly #arena: Uint8Array;
  readonly #arenaBytes: number;
  readonly #mask: number;
  readonly #maxEntries: number;
  readonly #maxEntryBytes: number;
  /** Live entries by key. */
  readonly #byKey = new Map<string, Entry>();
  /** Live entry in each slot (undefined for an empty slot). */
  readonly #bySlot: (Entry | undefined)[];
  /** Every entry still holding arena bytes, oldest first (= ring order from #head). */
  #ring: (Entry | undefined)[] = [];
  #ringFront = 0;
  /** Where the next entry is written. */
  #head = 0;
  #bytesUsed = 0;
  #evictions = 0;

  private constructor(buffer: SharedArrayBuffer, slotCount: number, arenaBytes: number) {
    this.buffer = buffer;
    this.#i32 = new Int32Array(buffer, 0, arenaByteOffset(slotCount) >> 2);
    this.#header64 = new BigInt64Array(buffer, 0, kHeaderBytes / BigInt64Array.BYTES_PER_ELEMENT);
    this.#arena = new Uint8Array(buffer, arenaByteOffset(slotCount), arenaBytes);
    this.#arenaBytes = arenaBytes;
    this.#mask = slotCount - 1;
    // Keep one slot empty at least, so a reader's probe always ends.
    this.#maxEntries = Math.max(1, Math.min(slotCount - 1, Math.floor(slotCount * kMaxLoadFactor)));
    this.#maxEntryBytes = Math.floor(arenaBytes / kMaxEntryFraction);
    this.#bySlot = new Array<Entry | undefined>(slotCount).fill(undefined);
  }

  /** A new, empty cache in a new SharedArrayBuffer of `sharedCacheBytes(opts)` bytes. */
  static create(opts: SharedCacheOptions): SharedCacheWriter {
    const buffer = new SharedArrayBuffer(sharedCacheBytes(opts));
    const slotCount = slotCountFor(opts);
    const header = new Int32Array(buffer);
    header[kHeaderSlotCount] = slotCount;
    header[kHeaderArenaBytes] = opts.arenaBytes;
    header[kHeaderVersion] = kLayoutVersion;
    // Magic last: a reader that checks it sees the other header fields.
    Atomics.store(header, kHeaderMagic, kCacheMagic);
    return new SharedCacheWriter(buffer, slotCount, opts.arenaBytes);
  }

  /** Bytes of keys and values of the live entries (never more than the arena). */
  get bytesUsed(): number {
    return this.#bytesUsed;
  }

  /** Live entries. */
  get entries(): number {
    return this.#byKey.size;
  }

  /** Live entries evicted to make room (in the arena or the index); deletes and overwrites not counted. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Hits of the readers that share theirs (worker threads), so far. */
  get sharedHits(): number {
    return Number(Atomics.load(this.#header64, kHeaderSharedHits64));
  }

  /** The cached keys, newest last (for locality reports). */
  keys(): IterableIterator<string> {
    return this.#byKey.keys();
  }

  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  /** When the entry of `key` expires (ms since the epoch; 0: never, or not cached). */
  expiresAt(key: string): number {
    return this.#byKey.get(key)?.expiresAt ?? 0;
  }

  /**
   * Caches `value` (copied) under `key`, evicting the oldest entries as needed;
   * readers miss it from `expiresAt` (ms since the epoch; 0: never) on.
   * Returns false, and drops any older value of `key` so no reader sees it
   * again, when key + value exceed a quarter of the arena.
   */
  set(key: string, value: Uint8Array, expiresAt = 0): boolean {
    const keyBytes = encoder.encode(key);
    const hash = keyHash(keyBytes, keyBytes.length);
    const size = keyBytes.length + value.length;
    if (size > this.#maxEntryBytes) {
      this.delete(key);
      return false;
    }
    const span = Math.max(kEntryAlignment, Math.ceil(size / kEntryAlignment) * kEntryAlignment);
    // Make room first: this may evict the key's own older value.
    const offset = this.#allocate(span);
    // No slot points at [offset, offset + span) any more, so these plain
    // writes race with no reader that could trust them.
    this.#arena.set(value, offset);
    this.#arena.set(keyBytes, offset + value.length);

    const old = this.#byKey.get(key);
    let slot: number;
    if (old !== undefined) {
      // Overwrite in place: readers see the old value or the new, never neither.
      slot = old.slot;
      old.slot = -1;
      this.#bytesUsed -= old.size;
    } else {
      if (this.#byKey.size >= this.#maxEntries) this.#evictOldestLive();
      slot = this.#findEmptySlot(hash);
    }
    const entry: Entry = {
      key,
      offset,
      span,
      size,
      hash,
      keyLength: keyBytes.length,
      valueLength: value.length,
      expiresAt,
      slot,
    };
    this.#publish(slot, entry);
    this.#byKey.set(key, entry);
    this.#ring.push(entry);
    this.#bytesUsed += size;
    return true;
  }

  /** Removes `key`; readers miss it from now on. Its arena bytes are reused when the ring comes round. */
  delete(key: string): void {
    const entry = this.#byKey.get(key);
    if (entry !== undefined) this.#unindex(entry);
  }

  /** Takes `span` bytes at the ring's head, evicting the oldest entries in the way. */
  #allocate(span: number): number {
    if (this.#head + span > this.#arenaBytes) {
      // Wrap (offsets stay aligned: #head is a sum of aligned spans). The
      // entries between the head and the end are the oldest of all; they go
      // first (FIFO), so the ring's order stays the age order.
      for (let e = this.#front(); e !== undefined && e.offset >= this.#head; e = this.#front()) this.#popFront();
      this.#head = 0;
    }
    const start = this.#head;
    const end = start + span;
    // The oldest entries sit just past the head; evict those overlapping [start, end).
    for (let e = this.#front(); e !== undefined && e.offset < end && e.offset + e.span > start; e = this.#front()) {
      this.#popFront();
    }
    this.#head = end;
    return start;
  }

  #front(): Entry | undefined {
    return this.#ring[this.#ringFront];
  }

  /** Drops the oldest entry from the ring, evicting it from the index if live; true if it was. */
  #popFront(): boolean {
    const e = this.#ring[this.#ringFront];
    if (e === undefined) return false;
    this.#ring[this.#ringFront] = undefined;
    this.#ringFront++;
    // Compact now and then so the array does not grow without bound.
    if (this.#ringFront >= 1024 && this.#ringFront * 2 >= this.#ring.length) {
      this.#ring = this.#ring.slice(this.#ringFront);
      this.#ringFront = 0;
    }
    if (e.slot < 0) return false; // dead: only its arena bytes come free
    // #unindex bumps the slot's counter before the caller overwrites these
    // arena bytes, so no reader returns them as this key's value.
    this.#unindex(e);
    this.#evictions++;
    return true;
  }

  /** Index full: evict the oldest entries until a live one has gone. */
  #evictOldestLive(): void {
    for (;;) {
      if (this.#front() === undefined || this.#popFront()) return;
    }
  }

  #findEmptySlot(hash: number): number {
    let slot = homeSlot(hash, this.#mask);
    while (this.#bySlot[slot] !== undefined) slot = (slot + 1) & this.#mask;
    return slot;
  }

  /** Writes `entry` into `slot` under the slot's seqlock. */
  #publish(slot: number, entry: Entry): void {
    const i32 = this.#i32;
    const seq = slotField(slot, kSlotSeq);
    Atomics.add(i32, seq, 1); // odd: the slot is changing
    i32[slotField(slot, kSlotHash)] = entry.hash;
    i32[slotField(slot, kSlotKeyLength)] = entry.keyLength;
    i32[slotField(slot, kSlotValueLength)] = entry.valueLength;
    i32[slotField(slot, kSlotOffset)] = entry.offset;
    const [high, low] = splitExpiry(entry.expiresAt);
    i32[slotField(slot, kSlotExpiryHigh)] = high;
    i32[slotField(slot, kSlotExpiryLow)] = low;
    i32[slotField(slot, kSlotState)] = kSlotStateFull;
    Atomics.add(i32, seq, 1); // even: the slot is consistent again
    entry.slot = slot;
    this.#bySlot[slot] = entry;
  }

  /** Empties `slot` under its seqlock. */
  #clear(slot: number): void {
    const i32 = this.#i32;
    const seq = slotField(slot, kSlotSeq);
    Atomics.add(i32, seq, 1);
    i32[slotField(slot, kSlotState)] = kSlotStateEmpty;
    i32[slotField(slot, kSlotHash)] = 0;
    i32[slotField(slot, kSlotKeyLength)] = 0;
    i32[slotField(slot, kSlotValueLength)] = 0;
    i32[slotField(slot, kSlotOffset)] = 0;
    i32[slotField(slot, kSlotExpiryHigh)] = 0;
    i32[slotField(slot, kSlotExpiryLow)] = 0;
    Atomics.add(i32, seq, 1);
    this.#bySlot[slot] = undefined;
  }

  /**
   * Removes a live entry from the index by backward-shift deletion: later
   * entries of the probe run whose home is not in (hole, their slot] move back
   * into the hole, then the last hole is emptied.
   */
  #unindex(entry: Entry): void {
    const mask = this.#mask;
    let hole = entry.slot;
    entry.slot = -1;
    this.#byKey.delete(entry.key);
    this.#bytesUsed -= entry.size;
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const next = this.#bySlot[j];
      if (next === undefined) break;
      const home = homeSlot(next.hash, mask);
      // Distance from home to j and to the hole, cyclically: `next` may fill
      // the hole only if the hole lies on its probe path (home .. j).
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        // Written to the hole before its old slot is reused or cleared.
        this.#publish(hole, next);
        hole = j;
      }
    }
    this.#clear(hole);
  }
}
