// The sweep of recorded calls (lib/sends.ts), on every executor: once a
// bucket is due, each call listed there that has no outcome yet is started
// again, exactly-once under its request id, and filed in the bucket of its
// new deadline to be looked at once more; the sweep waits for no call. The
// executor that runs a call to its end stores its outcome (its result, or
// an error that says what the call is: the function threw, is not
// registered, refused its arguments), so a later look finds it finished; a
// call that failed for want of capacity or time has none, and is started
// again, for up to 5 minutes after its due time. Two executors sweeping one
// bucket at once start each call twice at once, which its log makes one run.

import type { KvsClient } from '../../lib/client/kvs_client.js';
import type { DelayedDeletes } from '../../lib/kvs/delayed_deletes.js';
import { BucketSweep, type BucketTiming, type TimeBuckets } from '../../lib/kvs/time_buckets.js';
import { SetLattice, type Lattice } from '../../lib/lattice/index.js';
import type { Logger } from '../../lib/log.js';
import { parseRecord, recordedCallFields, sendBuckets, sendKey } from '../../lib/sends.js';

/** How far back the first executor of a cluster looks (60 buckets). */
const FIRST_LOOKBACK_MS = 60_000;

/** A recorded call is called again for at most this long after its due time (below its log's retention). */
const CALL_AGAIN_FOR_MS = 5 * 60_000;

/** Calls the sweep of one executor has running at most; the others are only filed to be looked at again. */
const MAX_STARTED = 32;

/** Deadline of the sweep's own reads and writes of a record. */
const RECORD_DEADLINE_MS = 10_000;

/** Sends the `call` message with these fields; resolves with the CBOR of its result. */
export type CallFunction = (fields: Record<string, unknown>, deadline: number) => Promise<Uint8Array>;

export class SendCollector {
  private readonly sweep: BucketSweep;
  private readonly buckets: TimeBuckets;
  /** Calls this sweep started that have not ended. */
  private started = 0;

  constructor(
    private readonly kvs: KvsClient,
    private readonly call: CallFunction,
    private readonly deletes: DelayedDeletes,
    private readonly retentionMs: number,
    timing: BucketTiming,
    private readonly log: Pick<Logger, 'info' | 'debug'>,
  ) {
    this.buckets = sendBuckets(timing);
    this.sweep = new BucketSweep(kvs, this.buckets, (value) => this.collect(value), (err, bucket) => this.log.debug({ err, bucket }, 'sent calls: a sweep failed; tried again'), {
      // A call sent shortly before any executor swept (a cluster starting) is still found by the first one.
      firstLookbackMs: FIRST_LOOKBACK_MS,
    });
  }

  close(): void {
    this.sweep.close();
  }

  private async collect(value: Lattice): Promise<void> {
    if (!(value instanceof SetLattice)) return;
    const ids = [...(value.reveal() as ReadonlySet<unknown>)].filter((id): id is string => typeof id === 'string');
    const results = await Promise.allSettled(ids.map((id) => this.finish(id)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    // The bucket stays, and is swept again (the KVS failed a read or a filing); calls already filed again are only looked at twice.
    if (failed) throw failed.reason;
  }

  /**
   * Starts recorded call `requestId` again unless it has an outcome, and
   * files it to be looked at once more after this run's deadline. The sweep
   * never waits for a call: calls that hang, or fail for want of capacity,
   * hold up no bucket (a sweep that waited fell minutes behind under faults).
   * The executor that runs the call to its end stores its outcome
   * (executor_node.ts), and the next look finds it.
   */
  private async finish(requestId: string): Promise<void> {
    const key = sendKey(requestId);
    const record = parseRecord(await this.kvs.get(key, { all: true, deadline: Date.now() + RECORD_DEADLINE_MS }));
    if (record === undefined || record.outcome !== undefined) return;
    const { intent } = record;
    const now = Date.now();
    if (now > intent.due + CALL_AGAIN_FOR_MS) {
      // Its log may be deleted soon (10 minutes after its first attempt): a call now could run it twice.
      this.log.info({ requestId, fn: intent.fn }, 'recorded call left unfinished: past the time it may be called again');
      await this.deletes.schedule([key], now + this.retentionMs, now + RECORD_DEADLINE_MS);
      return;
    }
    const deadline = now + intent.timeoutMs;
    await this.kvs.put(this.buckets.keyFor(requestId, deadline, now), new SetLattice([requestId]), now + RECORD_DEADLINE_MS);
    // Many calls left unfinished by a fault are started a few at a time, not all at once into a cluster still recovering.
    if (this.started >= MAX_STARTED) return;
    this.started++;
    this.call(recordedCallFields(intent, requestId), deadline)
      .catch((err: unknown) => this.log.debug({ err, requestId }, 'a recorded call run again failed; looked at again later'))
      .finally(() => this.started--);
  }
}
