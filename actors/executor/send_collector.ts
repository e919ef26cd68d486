// The sweep of recorded calls (lib/sends.ts), on every executor: once a
// bucket is due, each call listed there that has no outcome yet is filed in
// the bucket of its new deadline, to be looked at once more, and queued to
// start again, exactly-once under its request id; the sweep waits for no
// call. The executor that runs a call to its end stores its outcome (its
// result, or an error that says what the call is: the function threw, is
// not registered, refused its arguments), so a later look finds it
// finished; a call that failed for want of capacity or time has none, and
// is started again, for up to 5 minutes after its due time, or after the
// sweep last saw that nothing had run it (no exactly-once log), up to an
// hour after its due time. Two executors
// sweeping one bucket at once start each call twice at once, which its log
// makes one run.
//
// One executor runs at most 32 of these calls at once, so that many calls a
// fault left unfinished do not all start at once into a cluster still
// recovering; the rest wait here, oldest due first, and start as running
// ones end. (A sweep that started 32 and left the rest to its next look ran
// 32 calls per look, a few seconds apart: a backlog grew faster than it
// drained, and calls waited past the final bound of the fault harness.)

import type { KvsClient } from '../../lib/client/kvs_client.js';
import type { DelayedDeletes } from '../../lib/kvs/delayed_deletes.js';
import { BucketSweep, type BucketTiming, type TimeBuckets } from '../../lib/kvs/time_buckets.js';
import { SetLattice, type Lattice } from '../../lib/lattice/index.js';
import type { Logger } from '../../lib/log.js';
import { clearRecord, parseRecord, recordedCallFields, sendBuckets, sendKey, type SendIntent } from '../../lib/sends.js';
import { logKey } from './effect_log.js';

/** How far back the first executor of a cluster looks (60 buckets). */
const FIRST_LOOKBACK_MS = 60_000;

/**
 * A recorded call is called again for at most this long after its due time,
 * or after the sweep last saw it without an exactly-once log (below the
 * log's retention: a call whose log was deleted would run a second time).
 */
const CALL_AGAIN_FOR_MS = 5 * 60_000;
/** However often it is seen never run, a call is not called again past this long after its due time. */
const CALL_AT_MOST_FOR_MS = 60 * 60_000;

/** Calls the sweep of one executor has running at most; the others wait (RecordedCallQueue). */
const MAX_RUNNING = 32;
/** Calls waiting to start at most; past it the newest are left to their next look (each is filed again already). */
const MAX_WAITING = 4_096;
/** A waiting call with less than this left before its deadline is left to its next look. */
const MIN_RUN_MS = 500;

/** A call whose record reads as absent is looked at again this much later, while the sweep has known it absent for less than CALL_AGAIN_FOR_MS. */
const ABSENT_LOOK_AGAIN_MS = 10_000;
/** Calls known absent at most (the oldest forgotten first): a bound, far above what a fault leaves. */
const MAX_ABSENT = 4_096;

/** Deadline of the sweep's own reads and writes of a record. */
const RECORD_DEADLINE_MS = 10_000;

/** Sends the `call` message with these fields; resolves with the CBOR of its result. */
export type CallFunction = (fields: Record<string, unknown>, deadline: number) => Promise<Uint8Array>;

export class SendCollector {
  private readonly sweep: BucketSweep;
  private readonly buckets: TimeBuckets;
  private readonly queue: RecordedCallQueue;
  /**
   * Calls listed in a bucket whose record read as absent, and since when.
   * A record is written before its call is filed, and deleted only long
   * after the last filing, so absent means a KVS that answered absent
   * wrongly (a fault window: docs/kvs.md) or a send whose record never
   * landed (its sender got an error): looked at again for a while, not
   * dropped at the first miss.
   */
  private readonly absentSince = new Map<string, number>();

  constructor(
    private readonly kvs: KvsClient,
    private readonly call: CallFunction,
    private readonly deletes: DelayedDeletes,
    private readonly retentionMs: number,
    timing: BucketTiming,
    private readonly log: Pick<Logger, 'info' | 'debug'>,
  ) {
    this.buckets = sendBuckets(timing);
    this.queue = new RecordedCallQueue(call, (err, requestId) => this.log.debug({ err, requestId }, 'a recorded call run again failed; looked at again later'));
    this.sweep = new BucketSweep(kvs, this.buckets, (value) => this.collect(value), (err, bucket) => this.log.debug({ err, bucket }, 'sent calls: a sweep failed; tried again'), {
      // A call sent shortly before any executor swept (a cluster starting) is still found by the first one.
      firstLookbackMs: FIRST_LOOKBACK_MS,
    });
  }

  close(): void {
    this.sweep.close();
    this.queue.close();
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
   * Files recorded call `requestId`, unless it has an outcome, to be looked
   * at once more after this run's deadline, and queues it to start. The
   * sweep never waits for a call: calls that hang, or fail for want of
   * capacity, hold up no bucket (a sweep that waited fell minutes behind
   * under faults). The executor that runs the call to its end stores its
   * outcome (executor_node.ts), and the next look finds it.
   */
  private async finish(requestId: string): Promise<void> {
    const key = sendKey(requestId);
    const record = parseRecord(await this.kvs.get(key, { all: true, deadline: Date.now() + RECORD_DEADLINE_MS }));
    const now = Date.now();
    if (record === undefined) return this.lookAgainIfAbsent(requestId, now);
    this.absentSince.delete(requestId);
    if (record.outcome !== undefined) return;
    const { intent } = record;
    if (now > Math.max(intent.due, record.clear) + CALL_AGAIN_FOR_MS && !(await this.neverRan(requestId, intent.due, now))) {
      // Its log may be deleted soon (10 minutes after its first attempt): a call now could run it twice.
      this.log.info({ requestId, fn: intent.fn }, 'recorded call left unfinished: past the time it may be called again');
      await this.deletes.schedule([key], now + this.retentionMs, now + RECORD_DEADLINE_MS);
      return;
    }
    const deadline = now + intent.timeoutMs;
    await this.kvs.put(this.buckets.keyFor(requestId, deadline, now), new SetLattice([requestId]), now + RECORD_DEADLINE_MS);
    this.queue.add(requestId, intent, deadline);
  }

  /**
   * Whether call `requestId` has no exactly-once log now (nothing has run
   * it: every run opens the log first), noted in its record so that the
   * sweep may call it for CALL_AGAIN_FOR_MS more: a log created from now on
   * is deleted no sooner than its retention from now. Calls that faults kept
   * from ever running in their first 5 minutes were dropped unrun before
   * (the fault harness's 300 s sends rounds).
   */
  private async neverRan(requestId: string, due: number, now: number): Promise<boolean> {
    if (now > due + CALL_AT_MOST_FOR_MS) return false;
    if ((await this.kvs.get(logKey(requestId), { all: true, deadline: now + RECORD_DEADLINE_MS })) !== undefined) return false;
    await this.kvs.put(sendKey(requestId), clearRecord(now), now + RECORD_DEADLINE_MS);
    return true;
  }

  private async lookAgainIfAbsent(requestId: string, now: number): Promise<void> {
    const since = this.absentSince.get(requestId) ?? now;
    if (now - since > CALL_AGAIN_FOR_MS) {
      this.absentSince.delete(requestId);
      this.log.info({ requestId }, 'recorded call dropped: its record read as absent for minutes');
      return;
    }
    if (!this.absentSince.has(requestId)) {
      if (this.absentSince.size >= MAX_ABSENT) this.absentSince.delete(this.absentSince.keys().next().value!);
      this.absentSince.set(requestId, since);
    }
    await this.kvs.put(this.buckets.keyFor(requestId, now + ABSENT_LOOK_AGAIN_MS, now), new SetLattice([requestId]), now + RECORD_DEADLINE_MS);
  }
}

/**
 * The calls one executor's sweep starts: at most MAX_RUNNING at once, the
 * rest waiting, oldest due first, each until its run's deadline is too near.
 * A call already running or waiting here is not added twice.
 */
class RecordedCallQueue {
  private readonly running = new Set<string>();
  private readonly waiting = new Map<string, { intent: SendIntent; deadline: number }>();
  private closed = false;

  constructor(
    private readonly call: CallFunction,
    private readonly onFailure: (err: unknown, requestId: string) => void,
  ) {}

  add(requestId: string, intent: SendIntent, deadline: number): void {
    if (this.closed || this.running.has(requestId)) return;
    if (this.waiting.size >= MAX_WAITING && !this.waiting.has(requestId)) return;
    this.waiting.set(requestId, { intent, deadline });
    this.startWhatFits();
  }

  close(): void {
    this.closed = true;
    this.waiting.clear();
  }

  private startWhatFits(): void {
    while (!this.closed && this.running.size < MAX_RUNNING && this.waiting.size > 0) {
      const [requestId, { intent, deadline }] = this.oldest();
      this.waiting.delete(requestId);
      if (deadline - Date.now() < MIN_RUN_MS) continue;
      this.running.add(requestId);
      this.call(recordedCallFields(intent, requestId), deadline)
        .catch((err: unknown) => this.onFailure(err, requestId))
        .finally(() => {
          this.running.delete(requestId);
          this.startWhatFits();
        });
    }
  }

  /** The waiting call due first (a linear scan: at most MAX_WAITING, once per start). */
  private oldest(): [string, { intent: SendIntent; deadline: number }] {
    let best: [string, { intent: SendIntent; deadline: number }] | undefined;
    for (const entry of this.waiting) if (best === undefined || entry[1].intent.due < best[1].intent.due) best = entry;
    return best!;
  }
}
