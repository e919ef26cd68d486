// Keys to delete once no one can need them any more (effect logs after
// their retention; a transaction's versions, records and index epochs,
// which the collector files once it has dealt with the commit), filed in
// the KVS itself, in buckets of their due time (time_buckets.ts:
// `__cb/due/<start>/<shard>`, a set of keys each). Every executor sweeps
// the buckets that are due and deletes what they list, so a key is deleted
// when it is due whether or not the executor that filed it still runs.
// A key is never deleted before the time it was filed for; it is deleted
// up to a bucket and the sweep delay after (10 s + 30 s by default). A key
// filed twice goes at the earlier of its times. What `at` takes is filed
// within FILE_EVERY_MS; an executor killed in between loses it (the
// exactly-once log, the one user, is filed again by every attempt of its
// call, including the router's re-run of one whose executor died).

import type { KvsClient } from '../client/kvs_client.js';
import { SetLattice, type Lattice } from '../lattice/index.js';
import { RESERVED_PREFIX } from '../reserved_keys.js';
import { BucketSweep, TimeBuckets, type BucketTiming } from './time_buckets.js';

export const DELETE_TIMING: BucketTiming = { bucketMs: 10_000, shards: 8, delayMs: 30_000, lookbackMs: 30 * 60_000, everyMs: 1_000, giveUpMs: 10 * 60_000 };

/** What `at` takes waits at most this long to be filed, with whatever else comes meanwhile, in one put per bucket key. */
const FILE_EVERY_MS = 100;
/** Keys taken and not yet filed (the KVS failing) past this many are dropped, the oldest first, and reported: they will not be deleted. */
const MAX_PENDING = 100_000;

export class DelayedDeletes {
  private readonly buckets: TimeBuckets;
  private readonly sweep: BucketSweep;
  /** Keys `at` took and not yet filed, with their times. */
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** Filings under way, for close() to wait for. */
  private filing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly kvs: KvsClient,
    timing: BucketTiming = DELETE_TIMING,
    private readonly onError: (err: unknown, what: string) => void = () => {},
  ) {
    this.buckets = new TimeBuckets(`${RESERVED_PREFIX}due/`, timing);
    this.sweep = new BucketSweep(kvs, this.buckets, (value) => this.deleteListed(value), onError);
  }

  /** Deletes `key` at time `when` (ms) or after. Filed in the KVS within FILE_EVERY_MS. */
  at(key: string, when: number): void {
    if ((this.pending.get(key) ?? 0) < when) this.pending.set(key, when);
    if (this.pending.size > MAX_PENDING) {
      const [oldest] = this.pending.keys();
      this.pending.delete(oldest!);
      this.onError(new Error(`more than ${MAX_PENDING} deletes wait to be filed: ${oldest} will not be deleted`), 'filing delayed deletes');
    }
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => this.fileTaken(), FILE_EVERY_MS);
    this.timer.unref();
  }

  /** Files `keys` for deletion at `when` or after; resolves once the KVS holds the filing. */
  schedule(keys: Iterable<string>, when: number, deadline = Infinity): Promise<void> {
    return this.file(Array.from(keys, (key) => [key, when] as const), deadline);
  }

  /** Stops sweeping, and files what `at` took (so await it before closing the KVS client). */
  async close(): Promise<void> {
    this.closed = true;
    this.sweep.close();
    this.fileTaken();
    await this.filing;
  }

  private fileTaken(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const taken = this.pending;
    if (taken.size === 0) return;
    this.pending = new Map();
    const filed = this.file(taken).catch((err: unknown) => {
      // Taken again, to be filed with the next ones (into a later bucket if theirs has ended).
      if (!this.closed) for (const [key, when] of taken) this.at(key, when);
      this.onError(err, 'filing delayed deletes');
    });
    this.filing = Promise.all([this.filing, filed]).then(() => undefined);
  }

  /** One put per bucket key the entries fall in. */
  private async file(entries: Iterable<readonly [string, number]>, deadline = Infinity): Promise<void> {
    const now = Date.now();
    const byBucket = new Map<string, string[]>();
    for (const [key, when] of entries) {
      const bucket = this.buckets.keyFor(key, when, now);
      const listed = byBucket.get(bucket);
      if (listed) listed.push(key);
      else byBucket.set(bucket, [key]);
    }
    const by = Math.min(deadline, this.buckets.filingDeadline(now));
    await Promise.all([...byBucket].map(([bucket, listed]) => this.kvs.put(bucket, new SetLattice(listed), by)));
  }

  private async deleteListed(value: Lattice): Promise<void> {
    if (!(value instanceof SetLattice)) return;
    const deadline = Date.now() + 10_000;
    const listed = [...(value.reveal() as ReadonlySet<unknown>)].filter((key): key is string => typeof key === 'string');
    await Promise.all(listed.map((key) => this.kvs.delete(key, deadline)));
  }
}
