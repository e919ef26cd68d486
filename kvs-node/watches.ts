// A shard's leases on watched keys and the merges it owes their watchers.
// Merges of a tick are published together, one message per bucket.

import type { Lattice } from '../lib/lattice/index.js';
import { bucketOf } from '../lib/kvs/updates.js';
import { TickBatcher } from '../lib/tick_batcher.js';

export class Watches {
  private readonly leases = new Map<string, number>();
  private readonly batches: TickBatcher<number, [string, Lattice]>;

  constructor(publish: (bucket: number, entries: [string, Lattice][]) => void) {
    // The last merge of a key in a tick includes the earlier ones: send only it.
    this.batches = new TickBatcher((bucket, entries) => publish(bucket, [...new Map(entries)]));
  }

  watch(key: string, ttlMs: number): void {
    this.leases.set(key, Date.now() + ttlMs);
  }

  /** Keys with a live lease; expired ones are dropped on the way. */
  get size(): number {
    const now = Date.now();
    for (const [key, until] of this.leases) if (until <= now) this.leases.delete(key);
    return this.leases.size;
  }

  /** Whether `key` has a live lease. */
  has(key: string): boolean {
    return (this.leases.get(key) ?? 0) > Date.now();
  }

  /** `key` was merged into `value`; its watchers hear of it at the end of the tick. */
  merged(key: string, value: Lattice): void {
    const until = this.leases.get(key);
    if (until === undefined) return;
    if (until <= Date.now()) {
      this.leases.delete(key);
      return;
    }
    this.batches.add(bucketOf(key), [key, value]);
  }
}
