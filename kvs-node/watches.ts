// A shard's leases on watched keys and the merges it owes their watchers.
// Merges of a tick are published together, one message per bucket.
//
// Pushes are plain NATS messages: a NATS restart, a partition between NATS
// servers or a paused watcher can lose some. So watchers can tell, each
// bucket's messages are numbered (per start of the shard), heartbeats name
// the buckets published since the last heartbeat with their latest number,
// and a lease's answer says which lease it is (a lease lost, with the
// shard's restart or by running out, is a new one) and the number its
// bucket is at. A watcher that finds a number missing, or a new lease,
// reads the keys again (lib/client/push_tracker.ts).

import type { Lattice } from '../lib/lattice/index.js';
import { bucketOf } from '../lib/kvs/updates.js';
import type { Entry, LeaseAnswer } from '../lib/kvs/protocol.js';
import { TickBatcher } from '../lib/tick_batcher.js';

export class Watches {
  /** Leases until (monotonic ms: a wall clock stepped forward must not end them all at once). */
  private readonly leases = new Map<string, { until: number; since: number }>();
  private readonly batches: TickBatcher<number, Entry>;
  /** Messages published per bucket since this shard started: at most UPDATE_BUCKETS entries. */
  private readonly published = new Map<number, number>();
  /** Buckets published since the last heartbeat. */
  private changed = new Set<number>();
  private heartbeats = 0;
  private leasesGranted = 0;

  constructor(
    private readonly shard: { id: string; incarnation: string },
    publish: (bucket: number, entries: Entry[], seq: number) => void,
  ) {
    // The last merge of a key in a tick includes the earlier ones: send only it.
    this.batches = new TickBatcher((bucket, entries) => {
      const seq = (this.published.get(bucket) ?? 0) + 1;
      this.published.set(bucket, seq);
      this.changed.add(bucket);
      publish(bucket, [...new Map(entries.map((e) => [e[0], e])).values()], seq);
    });
  }

  /** Leases (or renews) `key`; the answer names the lease and where its bucket's numbering is. */
  watch(key: string, ttlMs: number): LeaseAnswer {
    const now = performance.now();
    let lease = this.leases.get(key);
    if (!lease || lease.until <= now) this.leases.set(key, (lease = { until: 0, since: ++this.leasesGranted }));
    lease.until = Math.max(lease.until, now + ttlMs);
    return { shard: this.shard.id, inc: this.shard.incarnation, since: lease.since, seq: this.published.get(bucketOf(key)) ?? 0 };
  }

  /** Keys with a live lease; expired ones are dropped on the way. */
  get size(): number {
    this.expire();
    return this.leases.size;
  }

  /** Keys with a live lease. */
  keys(): string[] {
    this.expire();
    return [...this.leases.keys()];
  }

  /** Whether `key` has a live lease. */
  has(key: string): boolean {
    return (this.leases.get(key)?.until ?? 0) > performance.now();
  }

  /** `key` was merged into `value`, which expires at `expiresAt` (0: never); its watchers hear of it at the end of the tick. */
  merged(key: string, value: Lattice, expiresAt = 0): void {
    const lease = this.leases.get(key);
    if (lease === undefined) return;
    if (lease.until <= performance.now()) {
      this.leases.delete(key);
      return;
    }
    this.batches.add(bucketOf(key), expiresAt > 0 ? [key, value, expiresAt] : [key, value]);
  }

  /** For the next heartbeat: its number, and each bucket published since the last one with its latest number. */
  heartbeat(): { hb: number; changed: [number, number][] } {
    const changed = [...this.changed].map((b): [number, number] => [b, this.published.get(b) ?? 0]);
    this.changed = new Set();
    return { hb: ++this.heartbeats, changed };
  }

  private expire(): void {
    const now = performance.now();
    for (const [key, { until }] of this.leases) if (until <= now) this.leases.delete(key);
  }
}
