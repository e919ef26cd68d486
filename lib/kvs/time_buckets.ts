// Work due at some time, kept in the KVS so that any executor can do it
// once the one that filed it has died. The KVS cannot list keys, so work is
// filed under names computed from its time: `<prefix><start>/<shard>`, the
// bucket of `bucketMs` that begins at `start` (ms since the epoch), split
// into `shards` keys by the hash of each item so that none grows large
// (every filing rewrites its key's whole value on the replicas).
//
// A bucket is swept `delayMs` after it ends. Items are only filed into a
// bucket that has not ended, with a deadline shorter than `delayMs`, so a
// sweep never misses an item filed late, unless the filer's clock is
// behind the sweeper's by more than what is left of `delayMs`. Every
// executor sweeps every bucket: the first to read one does its work and
// deletes it, the others read nothing (sweeps are jittered so that they
// seldom overlap; when they do, the work is done twice, which each user of
// this module makes harmless). A bucket whose work fails is tried again,
// after 1 s, then twice as long each time up to a minute, until `giveUpMs`
// past its time, without holding up later ones.
//
// Where an executor starts: at the progress mark (`<prefix>swept`, the
// newest bucket before which every bucket has been swept), but never
// further back than `lookbackMs`; with no mark (no executor has swept in
// this cluster yet), at the present, or `firstLookbackMs` back for work
// that clients file while no executor may run yet (sent calls).

import type { KvsClient } from '../client/kvs_client.js';
import { MaxIntLattice, type Lattice } from '../lattice/index.js';
import { hash32 } from './hash_ring.js';

export interface BucketTiming {
  /** How much time one bucket covers. */
  bucketMs: number;
  /** Keys a bucket is split into. */
  shards: number;
  /** A bucket is swept this long after it ends: longer than any filing takes, plus the clock skew allowed. */
  delayMs: number;
  /** How far back a starting executor looks at most. */
  lookbackMs: number;
  /** How often an executor sweeps (each time after 0.5 to 1.5 times this). */
  everyMs: number;
  /** A bucket whose work still fails this long after it was due is left alone (and stays in the KVS). */
  giveUpMs: number;
}

/** At most this many buckets a sweep reads (catching up after an outage), so that one sweep stays short. */
const BUCKETS_PER_SWEEP = 64;
/** A failed bucket is tried again after this, then twice as long each time up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** Deadline of a sweep's reads and deletes. */
const SWEEP_DEADLINE_MS = 10_000;

/** The names and times of one family of buckets. */
export class TimeBuckets {
  constructor(
    readonly prefix: string,
    readonly timing: BucketTiming,
  ) {}

  startOf(ms: number): number {
    return Math.floor(ms / this.timing.bucketMs) * this.timing.bucketMs;
  }

  key(start: number, shard: number): string {
    return `${this.prefix}${start}/${shard}`;
  }

  /** Where `item`, due at `when`, is filed at `now`: `when`'s bucket, or the current one when that has ended. */
  keyFor(item: string, when: number, now = Date.now()): string {
    return this.key(this.startOf(Math.max(when, now)), hash32(item) % this.timing.shards);
  }

  /** The latest a filing sent at `now` may take: it must land before its bucket is swept, with time to spare for clocks that disagree. */
  filingDeadline(now = Date.now()): number {
    return now + this.timing.delayMs / 2;
  }

  /** The start of the newest bucket due for sweeping at `now`. */
  lastDue(now: number): number {
    return this.startOf(now - this.timing.delayMs - this.timing.bucketMs);
  }

  get markKey(): string {
    return `${this.prefix}swept`;
  }
}

/**
 * Sweeps the buckets of `buckets` as they come due, handing each stored
 * value (one shard of a bucket) to `work` and deleting it once `work` has
 * resolved. Runs until closed.
 */
export class BucketSweep {
  /** The next bucket not yet read (undefined until the starting point is known). */
  private next: number | undefined;
  /** Buckets whose work failed: how often, and when to try again. */
  private readonly failed = new Map<number, { tries: number; next: number }>();
  /** The progress mark last written. */
  private marked = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly kvs: KvsClient,
    private readonly buckets: TimeBuckets,
    private readonly work: (value: Lattice, start: number) => Promise<void>,
    private readonly onError: (err: unknown, bucket: string) => void,
    private readonly opts: { firstLookbackMs?: number } = {},
  ) {
    this.schedule();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(
      () => {
        this.sweep()
          .catch((err: unknown) => this.onError(err, this.buckets.prefix))
          .finally(() => this.schedule());
      },
      this.buckets.timing.everyMs * (0.5 + Math.random()),
    );
    this.timer.unref();
  }

  private async sweep(): Promise<void> {
    const { bucketMs } = this.buckets.timing;
    const now = Date.now();
    const last = this.buckets.lastDue(now);
    this.next ??= await this.startingPoint(now, last);
    for (const [start, retry] of this.failed) {
      if (retry.next > now) continue;
      if (await this.sweepBucket(start, now)) this.failed.delete(start);
      else this.failedAgain(start, now);
    }
    for (let n = 0; this.next <= last && n < BUCKETS_PER_SWEEP && !this.closed; n++, this.next += bucketMs) {
      if (!(await this.sweepBucket(this.next, now))) this.failedAgain(this.next, now);
    }
    const swept = Math.min(this.next, ...this.failed.keys()) - bucketMs;
    if (swept > this.marked) {
      await this.kvs.put(this.buckets.markKey, new MaxIntLattice(swept), now + SWEEP_DEADLINE_MS);
      this.marked = swept;
    }
  }

  /** Backs off a failing bucket: work that keeps failing (no capacity, a function over its deadline) is not redone every second. */
  private failedAgain(start: number, now: number): void {
    const tries = (this.failed.get(start)?.tries ?? 0) + 1;
    this.failed.set(start, { tries, next: now + Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (tries - 1)) });
  }

  private async startingPoint(now: number, last: number): Promise<number> {
    const mark = await this.kvs.get(this.buckets.markKey, { all: true, deadline: now + SWEEP_DEADLINE_MS });
    if (!(mark instanceof MaxIntLattice)) {
      const back = this.opts.firstLookbackMs;
      return back === undefined ? last + this.buckets.timing.bucketMs : Math.min(this.buckets.startOf(now - back), last + this.buckets.timing.bucketMs);
    }
    return Math.max(mark.value + this.buckets.timing.bucketMs, this.buckets.startOf(now - this.buckets.timing.lookbackMs));
  }

  /** Sweeps every shard of the bucket at `start`: true when done, or given up. */
  private async sweepBucket(start: number, now: number): Promise<boolean> {
    const { shards, bucketMs, delayMs, giveUpMs } = this.buckets.timing;
    const deadline = now + SWEEP_DEADLINE_MS;
    const results = await Promise.allSettled(
      Array.from({ length: shards }, async (_, shard) => {
        const key = this.buckets.key(start, shard);
        const value = await this.kvs.get(key, { all: true, deadline });
        if (value === undefined) return;
        await this.work(value, start);
        await this.kvs.delete(key, deadline);
      }),
    );
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    for (const err of errors) this.onError(err, `${this.buckets.prefix}${start}`);
    return errors.length === 0 || now > start + bucketMs + delayMs + giveUpMs;
  }
}
