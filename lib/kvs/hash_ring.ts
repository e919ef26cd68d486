// Consistent hashing with virtual nodes, as Anna's global hash ring: each
// shard owns many points on a 32-bit ring so keys spread evenly, and adding
// or removing a shard moves only the keys next to its points. The ring is a
// pure function of the shard ids, so every client and shard that knows the
// same members computes the same owners without talking to anyone.

/** Points per shard; more spreads keys more evenly at the cost of memory. */
export const DEFAULT_VNODES = 64;

/** FNV-1a over UTF-16 code units, then murmur3's finaliser for avalanche. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class HashRing {
  private readonly points: Uint32Array;
  private readonly owners: string[];
  readonly shards: readonly string[];

  constructor(shards: Iterable<string>, vnodes = DEFAULT_VNODES) {
    this.shards = [...new Set(shards)].sort();
    const entries: [number, string][] = [];
    for (const shard of this.shards) {
      for (let v = 0; v < vnodes; v++) entries.push([hash32(`${shard}#${v}`), shard]);
    }
    // Ties (two shards hashing to one point) break by id, so every process
    // orders the ring the same way.
    entries.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    this.points = Uint32Array.from(entries, (e) => e[0]);
    this.owners = entries.map((e) => e[1]);
  }

  get size(): number {
    return this.shards.length;
  }

  /** The first `count` distinct shards clockwise from the key's point. */
  replicas(key: string, count: number): string[] {
    const n = Math.min(count, this.shards.length);
    const out: string[] = [];
    if (n === 0) return out;
    let i = this.firstPointAtOrAfter(hash32(key));
    while (out.length < n) {
      const owner = this.owners[i % this.owners.length]!;
      if (!out.includes(owner)) out.push(owner);
      i++;
    }
    return out;
  }

  private firstPointAtOrAfter(h: number): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
