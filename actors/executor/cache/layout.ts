// The shared-memory cache layout (docs/architecture.md): one SharedArrayBuffer per
// executor, written by the main thread only and read by every worker thread.
// Writer and readers agree on nothing but the constants in this file, so every
// offset, size and field index is named here (as piscina names
// `kRequestCountField`).
//
//   +--------------------+  byte 0
//   | header             |  kHeaderFieldCount Int32 fields (kHeader*), one
//   |                    |  cache line, so readers bumping the hit counter
//   |                    |  never touch a line that slots are on
//   +--------------------+  kSlotsByteOffset
//   | slot 0 .. slot N-1 |  N = slot count (a power of two), kSlotFieldCount
//   |                    |  Int32 fields each (kSlot*): the open-addressing index
//   +--------------------+  arenaByteOffset(N)
//   | arena              |  arenaBytes: each entry is its value bytes, then
//   |                    |  its UTF-8 key bytes; entries start on
//   |                    |  kEntryAlignment boundaries
//   +--------------------+  sharedCacheBytes(opts)
//
// Protocol (a seqlock per slot):
// - The writer makes a slot's kSlotSeq odd (Atomics.add) before it changes the
//   slot's fields or the arena bytes the slot points to, and even again after.
//   Arena bytes are only ever overwritten after every slot that pointed to
//   them has been bumped and moved on (eviction empties the slot first).
// - A reader loads kSlotSeq (retrying if odd), reads the fields and copies the
//   key and value bytes, then loads kSlotSeq again; if it changed, the copy may
//   be torn and the reader retries (a bounded number of times, then it is a
//   miss). Only Atomics touch kSlotSeq; every other field and the arena are
//   read and written with plain accesses, validated by the counter.
// - Keys are compared byte for byte; kSlotHash only lets a probe skip slots
//   cheaply, so a hash collision can never return another key's value.

/** Identifies a buffer laid out by this file ("CBSC"). */
export const kCacheMagic = 0x43425343;
/** Bumped whenever anything in this file changes meaning. */
export const kLayoutVersion = 3;

// Header fields (Int32 indices from byte 0).
export const kHeaderMagic = 0;
export const kHeaderVersion = 1;
/** Number of index slots; a power of two so a probe wraps with a mask. */
export const kHeaderSlotCount = 2;
/** Size of the arena in bytes. */
export const kHeaderArenaBytes = 3;
/**
 * BigInt64 index (bytes 32-39, Int32 fields 8 and 9) of the count of hits of
 * the readers that share theirs (worker threads), added with Atomics. 64 bits
 * so it never wraps in an executor's lifetime.
 */
export const kHeaderSharedHits64 = 4;
/** Header fields (64 bytes), including room for later ones without moving the slots. */
export const kHeaderFieldCount = 16;
export const kHeaderBytes = kHeaderFieldCount * Int32Array.BYTES_PER_ELEMENT;

// Slot fields (Int32 indices from the start of a slot).
/** The seqlock counter: odd while the writer changes the slot or its bytes. */
export const kSlotSeq = 0;
/** kSlotStateEmpty or kSlotStateFull (no tombstones: see the writer). */
export const kSlotState = 1;
/** 32-bit FNV-1a of the UTF-8 key bytes, as a signed Int32. */
export const kSlotHash = 2;
/** Length in bytes of the UTF-8 key, at kSlotOffset + value length. */
export const kSlotKeyLength = 3;
/** Length in bytes of the value, at kSlotOffset. */
export const kSlotValueLength = 4;
/** Arena offset (from the arena's start) of the entry's value bytes; the key follows them. */
export const kSlotOffset = 5;
/**
 * When the entry expires, ms since the epoch (0: never), split into two
 * fields (an Int32 holds neither): high = floor(ms / 2^32), low = the rest
 * as a signed Int32. A reader takes an entry whose expiry has come for a
 * miss, so an expired key is never served, however late the writer drops it.
 */
export const kSlotExpiryHigh = 6;
export const kSlotExpiryLow = 7;
/** Slot fields, padded to 32 bytes so a slot never straddles two cache lines. */
export const kSlotFieldCount = 8;
export const kSlotBytes = kSlotFieldCount * Int32Array.BYTES_PER_ELEMENT;

export const kSlotStateEmpty = 0;
export const kSlotStateFull = 1;

/**
 * Entries (so values) start on 8-byte boundaries of the arena, itself 32-byte
 * aligned: V8 copies out of shared memory word by word only when source and
 * destination are equally aligned, byte by byte otherwise (several times
 * slower for large values).
 */
export const kEntryAlignment = 8;
/** Smallest arena accepted: room for a few aligned entries. */
export const kMinArenaBytes = 64;

/** The slot table starts right after the header. */
export const kSlotsByteOffset = kHeaderBytes;

/** Slots are kept at most this full; past it the writer evicts the oldest. */
export const kMaxLoadFactor = 0.75;
/** An entry (key + value) larger than arenaBytes / this is refused. */
export const kMaxEntryFraction = 4;
/** Reads of a slot that changed under the reader before it counts a miss. */
export const kMaxReadRetries = 16;

/** Default slot count: one per 256 arena bytes, clamped, power of two. */
export const kDefaultBytesPerSlot = 256;
export const kMinSlots = 64;
export const kMaxSlots = 1 << 22;
/** Arena offsets and lengths live in Int32 fields. */
export const kMaxArenaBytes = 0x7fff_ffff;

export interface SharedCacheOptions {
  /** Bytes for keys and values together. Required. */
  arenaBytes: number;
  /** Index slots, rounded up to a power of two. Default: arenaBytes / 256, within [64, 4 Mi]. */
  slots?: number;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The slot count a buffer for these options has (a power of two). */
export function slotCountFor(opts: SharedCacheOptions): number {
  const wanted = opts.slots ?? Math.floor(opts.arenaBytes / kDefaultBytesPerSlot);
  return nextPowerOfTwo(Math.min(kMaxSlots, Math.max(kMinSlots, Math.ceil(wanted))));
}

/** Byte offset of the arena in a buffer with `slotCount` slots. */
export function arenaByteOffset(slotCount: number): number {
  return kSlotsByteOffset + slotCount * kSlotBytes;
}

/** Int32 index of field `field` of slot `slot`. */
export function slotField(slot: number, field: number): number {
  return (kSlotsByteOffset >> 2) + slot * kSlotFieldCount + field;
}

/** Size of the SharedArrayBuffer for these options: header, slots, arena. */
export function sharedCacheBytes(opts: SharedCacheOptions): number {
  if (!Number.isInteger(opts.arenaBytes) || opts.arenaBytes < kMinArenaBytes || opts.arenaBytes > kMaxArenaBytes) {
    throw new RangeError(`arenaBytes must be an integer in [${kMinArenaBytes}, ${kMaxArenaBytes}], got ${opts.arenaBytes}`);
  }
  if (opts.slots !== undefined && (!Number.isInteger(opts.slots) || opts.slots < 1)) {
    throw new RangeError(`slots must be a positive integer, got ${opts.slots}`);
  }
  return arenaByteOffset(slotCountFor(opts)) + opts.arenaBytes;
}

/**
 * 32-bit FNV-1a over `bytes[0, length)`, as a signed Int32 (what an Int32Array
 * field holds). Writer and readers must hash identically.
 */
export function keyHash(bytes: Uint8Array, length: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < length; i++) {
    h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  }
  return h | 0;
}

/** The slot a probe for `hash` starts at; high bits folded in, as FNV's low bits are weak. */
export function homeSlot(hash: number, mask: number): number {
  return (hash ^ (hash >>> 16)) & mask;
}

const TWO_32 = 2 ** 32;

/** The two Int32 fields that hold `expiresAt` (ms since the epoch; 0: never). */
export function splitExpiry(expiresAt: number): [high: number, low: number] {
  // Past 2^53 ms (the year 287396) the fields would overflow: as good as never.
  const ms = Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.ceil(expiresAt)));
  return [Math.floor(ms / TWO_32) | 0, (ms % TWO_32) | 0];
}

/** The expiry the two fields hold (0: never). */
export function joinExpiry(high: number, low: number): number {
  return high * TWO_32 + (low >>> 0);
}
