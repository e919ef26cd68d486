// Finds the merge pushes a watcher missed. Pushes are plain NATS messages
// (kvs-node/watches.ts): a NATS restart, a partition between NATS servers, a
// paused process or a slow consumer loses some without a word, and a cache
// that misses one stays behind until the key is written again. Each shard
// numbers its messages per bucket, per start; this tracker keeps, per shard
// start, the last number seen in each bucket and judges:
//   - a push numbered past the next one: the ones between were lost;
//   - a heartbeat (sent after the pushes it names) naming a bucket further
//     on than we saw: its last pushes were lost; a heartbeat number skipped:
//     the lost heartbeats named buckets we do not know, so all of them;
//   - a lease answer further on than we saw, likewise;
//   - a heartbeat from another start of a shard: it lost its leases, so no
//     merge since its restart was pushed: every key must be leased again
//     (its answers then name new leases, and new leases are read again).
// Only judged against a number seen from the same start: the first message
// from a start sets where its bucket is.

import { UPDATE_BUCKETS } from '../kvs/updates.js';
import type { LeaseAnswer } from '../kvs/protocol.js';

interface ShardStart {
  inc: string;
  /** Last heartbeat number seen, 0 before the first. */
  hb: number;
  /** Last push number seen per bucket (at most UPDATE_BUCKETS entries). */
  seq: Map<number, number>;
  /** When its last heartbeat arrived (local ms). */
  heardAt: number;
}

/** A shard silent this long is forgotten (it left; if it comes back, its first heartbeat starts anew). */
const FORGET_MS = 10 * 60_000;

export interface PushTrackerHooks {
  /** Pushes of these buckets may have been lost ('all': we cannot tell which): read their watched keys again. */
  lost(buckets: Set<number> | 'all'): void;
  /** A shard restarted and holds no lease: lease every watched key again. */
  restarted(shard: string): void;
}

export class PushTracker {
  private readonly shards = new Map<string, ShardStart>();

  constructor(private readonly hooks: PushTrackerHooks) {}

  /** An updates message: the `seq`-th of `bucket` from this start of `shard`. */
  pushed(shard: string, inc: string, bucket: number, seq: number): void {
    const start = this.start(shard, inc);
    const last = start.seq.get(bucket);
    start.seq.set(bucket, Math.max(last ?? 0, seq));
    if (last !== undefined && seq > last + 1) this.hooks.lost(new Set([bucket]));
  }

  /** A lease answer: its bucket had `seq` messages when the shard answered (pushes published before it arrive before it). */
  leased(answer: LeaseAnswer, bucket: number): void {
    const start = this.start(answer.shard, answer.inc);
    const last = start.seq.get(bucket);
    start.seq.set(bucket, Math.max(last ?? 0, answer.seq));
    if (last !== undefined && answer.seq > last) this.hooks.lost(new Set([bucket]));
  }

  /** A shard's heartbeat, with what it published since its last one. */
  heartbeat(shard: string, inc: string, pushes: { hb: number; changed: [number, number][] }): void {
    const known = this.shards.get(shard);
    const start = this.start(shard, inc);
    start.heardAt = Date.now();
    if (known && known !== start) this.hooks.restarted(shard);
    for (const [id, s] of this.shards) if (start.heardAt - s.heardAt > FORGET_MS) this.shards.delete(id);
    const skipped = start.hb > 0 && pushes.hb > start.hb + 1;
    start.hb = Math.max(start.hb, pushes.hb);
    if (skipped) return this.hooks.lost('all');
    const lost = new Set<number>();
    for (const [bucket, seq] of pushes.changed) {
      const last = start.seq.get(bucket);
      if (last === undefined) continue;
      if (seq > last) {
        lost.add(bucket);
        start.seq.set(bucket, seq);
      }
    }
    if (lost.size > 0) this.hooks.lost(lost);
  }

  private start(shard: string, inc: string): ShardStart {
    let start = this.shards.get(shard);
    if (!start || start.inc !== inc) this.shards.set(shard, (start = { inc, hb: 0, seq: new Map(), heardAt: Date.now() }));
    return start;
  }
}

/** Heartbeat field `pushes` of a shard, when well formed. */
export function parsePushes(raw: unknown): { hb: number; changed: [number, number][] } | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { hb, changed } = raw as Record<string, unknown>;
  if (typeof hb !== 'number' || !Array.isArray(changed)) return undefined;
  const pairs = changed.filter(
    (c): c is [number, number] => Array.isArray(c) && c.length === 2 && Number.isInteger(c[0]) && c[0] >= 0 && c[0] < UPDATE_BUCKETS && typeof c[1] === 'number',
  );
  return { hb, changed: pairs };
}
