// A reader of the shared-memory cache (docs/architecture.md), one per worker thread.
// A hit is plain reads of shared memory validated by the slot's seqlock (see
// layout.ts): no message, no lock, nothing written to the slots or the arena,
// so readers never contend with the writer. A reader made with `shareHits`
// also adds each hit to a counter in the header (its own cache line), so the
// main thread can report how many reads the workers answered themselves.
//
// On memory ordering: JavaScript has no standalone fence, so the reader's
// second counter read is an Atomics.load after the plain copies. On x86-64
// (where the stress test runs) loads are not reordered with older loads, so a
// copy torn by a concurrent write always shows up as a changed counter. On
// weaker hardware this leans on V8 keeping earlier plain loads before a
// sequentially consistent Atomics.load, which the JS memory model itself does
// not promise for racy plain reads.

import {
  arenaByteOffset,
  homeSlot,
  kCacheMagic,
  kHeaderArenaBytes,
  kHeaderBytes,
  kHeaderMagic,
  kHeaderSharedHits64,
  kHeaderSlotCount,
  kHeaderVersion,
  kLayoutVersion,
  kMaxReadRetries,
  kSlotExpiryHigh,
  kSlotExpiryLow,
  kSlotHash,
  kSlotKeyLength,
  kSlotOffset,
  kSlotSeq,
  kSlotState,
  kSlotStateEmpty,
  kSlotValueLength,
  joinExpiry,
  keyHash,
  slotField,
} from './layout.js';

/** lookup() could not get a consistent view and must be retried. */
const RETRY = Symbol('retry');

const encoder = new TextEncoder();

export class SharedCacheReader {
  readonly #i32: Int32Array;
  readonly #arena: Uint8Array;
  readonly #arenaBytes: number;
  readonly #slotCount: number;
  readonly #mask: number;
  /** The header as 64-bit fields, when this reader shares its hits. */
  readonly #shared: BigInt64Array | undefined;
  /** The UTF-8 key being looked up, reused across gets. */
  #keyBuf = new Uint8Array(256);
  #hits = 0;
  #misses = 0;
  #retries = 0;

  /**
   * `buffer` is a SharedCacheWriter's `buffer` (e.g. from `workerData`).
   * With `shareHits`, hits are also counted in the buffer (the writer's `sharedHits`).
   */
  constructor(buffer: SharedArrayBuffer, { shareHits = false }: { shareHits?: boolean } = {}) {
    const header = new Int32Array(buffer, 0, 4);
    if (Atomics.load(header, kHeaderMagic) !== kCacheMagic) {
      throw new TypeError('not a shared cache buffer (bad magic)');
    }
    if (header[kHeaderVersion] !== kLayoutVersion) {
      throw new TypeError(`shared cache layout version ${header[kHeaderVersion]}, expected ${kLayoutVersion}`);
    }
    this.#slotCount = header[kHeaderSlotCount] ?? 0;
    this.#arenaBytes = header[kHeaderArenaBytes] ?? 0;
    this.#mask = this.#slotCount - 1;
    const arenaOffset = arenaByteOffset(this.#slotCount);
    this.#i32 = new Int32Array(buffer, 0, arenaOffset >> 2);
    this.#arena = new Uint8Array(buffer, arenaOffset, this.#arenaBytes);
    this.#shared = shareHits ? new BigInt64Array(buffer, 0, kHeaderBytes / BigInt64Array.BYTES_PER_ELEMENT) : undefined;
  }

  /** Gets that returned a value. */
  get hits(): number {
    return this.#hits;
  }

  /** Gets that returned undefined (absent, evicted, or still changing after the retries). */
  get misses(): number {
    return this.#misses;
  }

  /** Lookups restarted because a slot changed while being read. */
  get retries(): number {
    return this.#retries;
  }

  /** The value cached under `key` as a new Uint8Array the caller owns, or undefined (absent, or expired). */
  get(key: string): Uint8Array | undefined {
    // encodeInto writes at most 3 bytes per UTF-16 unit.
    if (this.#keyBuf.length < key.length * 3) this.#keyBuf = new Uint8Array(key.length * 3);
    const keyLength = encoder.encodeInto(key, this.#keyBuf).written;
    const hash = keyHash(this.#keyBuf, keyLength);
    for (let attempt = 0; attempt <= kMaxReadRetries; attempt++) {
      const found = this.#lookup(keyLength, hash);
      if (found !== RETRY) {
        if (found === undefined) this.#misses++;
        else {
          this.#hits++;
          if (this.#shared) Atomics.add(this.#shared, kHeaderSharedHits64, 1n);
        }
        return found;
      }
      this.#retries++;
    }
    this.#misses++;
    return undefined;
  }

  /** One probe of the index for the key in #keyBuf[0, keyLength). */
  #lookup(keyLength: number, hash: number): Uint8Array | undefined | typeof RETRY {
    const i32 = this.#i32;
    const arena = this.#arena;
    const key = this.#keyBuf;
    let slot = homeSlot(hash, this.#mask);
    // The writer keeps a slot empty, but bound the walk anyway: a reader must
    // never spin on a buffer it does not control.
    for (let probes = 0; probes < this.#slotCount; probes++, slot = (slot + 1) & this.#mask) {
      const seqIndex = slotField(slot, kSlotSeq);
      const seq = Atomics.load(i32, seqIndex);
      if ((seq & 1) !== 0) return RETRY;
      if (i32[slotField(slot, kSlotState)] === kSlotStateEmpty) {
        // The end of the probe run, if the slot did not just change.
        return Atomics.load(i32, seqIndex) === seq ? undefined : RETRY;
      }
      // Hash and length only skip slots; a torn skip costs at most a miss.
      if (i32[slotField(slot, kSlotHash)] !== hash || i32[slotField(slot, kSlotKeyLength)] !== keyLength) continue;
      const offset = i32[slotField(slot, kSlotOffset)] ?? -1;
      const valueLength = i32[slotField(slot, kSlotValueLength)] ?? -1;
      // Fields read mid-change may be nonsense; never index outside the arena.
      if (offset < 0 || valueLength < 0 || offset + keyLength + valueLength > this.#arenaBytes) return RETRY;
      // Value first, then the key (layout.ts: values are word-aligned).
      const keyStart = offset + valueLength;
      let same = true;
      for (let i = 0; i < keyLength; i++) {
        if (arena[keyStart + i] !== key[i]) {
          same = false;
          break;
        }
      }
      if (!same) {
        // Another key with the same hash, or bytes changing under us.
        if (Atomics.load(i32, seqIndex) !== seq) return RETRY;
        continue;
      }
      // Expired: a miss (never served), which the main thread answers from the KVS.
      const expiresAt = joinExpiry(i32[slotField(slot, kSlotExpiryHigh)] ?? 0, i32[slotField(slot, kSlotExpiryLow)] ?? 0);
      if (expiresAt !== 0 && expiresAt <= Date.now()) return Atomics.load(i32, seqIndex) === seq ? undefined : RETRY;
      // slice() copies into a new, unshared ArrayBuffer the caller owns.
      const value = arena.slice(offset, keyStart);
      return Atomics.load(i32, seqIndex) === seq ? value : RETRY;
    }
    return undefined;
  }
}
