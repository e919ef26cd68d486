// The sweep of sent calls (lib/sends.ts), on every executor: once a bucket
// of sends is due, each call listed there that has no outcome yet is run,
// exactly-once under its request id, and its outcome stored beside its
// intent; the record is filed for deletion after retention. A call that
// fails for want of capacity or time (no executor, a deadline, a lost
// connection) leaves the bucket to be swept again; one that fails for what
// it is (the function threw, is not registered, refused its arguments)
// is finished with that error. Two executors sweeping one bucket at once
// run each call twice at once, which its log makes one run.

import type { KvsClient } from '../../lib/client/kvs_client.js';
import { asCloudburstError } from '../../lib/errors.js';
import type { DelayedDeletes } from '../../lib/kvs/delayed_deletes.js';
import { BucketSweep, type BucketTiming } from '../../lib/kvs/time_buckets.js';
import { SetLattice, type Lattice } from '../../lib/lattice/index.js';
import type { Logger } from '../../lib/log.js';
import { isTransient, outcomeRecord, parseRecord, recordedCallFields, sendBuckets, sendKey, type SendOutcome } from '../../lib/sends.js';

/** How far back the first executor of a cluster looks (60 buckets). */
const FIRST_LOOKBACK_MS = 60_000;

/** Deadline of the sweep's own reads and writes of a record. */
const RECORD_DEADLINE_MS = 10_000;

/** Sends the `call` message with these fields; resolves with the CBOR of its result. */
export type CallFunction = (fields: Record<string, unknown>, deadline: number) => Promise<Uint8Array>;

export class SendCollector {
  private readonly sweep: BucketSweep;

  constructor(
    private readonly kvs: KvsClient,
    private readonly call: CallFunction,
    private readonly deletes: DelayedDeletes,
    private readonly writer: string,
    private readonly retentionMs: number,
    timing: BucketTiming,
    private readonly log: Pick<Logger, 'info' | 'debug'>,
  ) {
    this.sweep = new BucketSweep(kvs, sendBuckets(timing), (value) => this.collect(value), (err, bucket) => this.log.debug({ err, bucket }, 'sent calls: a sweep failed; tried again'), {
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
    // The bucket stays, and is swept again; the calls that finished are skipped then.
    if (failed) throw failed.reason;
  }

  private async finish(requestId: string): Promise<void> {
    const key = sendKey(requestId);
    const record = parseRecord(await this.kvs.get(key, { all: true, deadline: Date.now() + RECORD_DEADLINE_MS }));
    // An outcome is stored by whoever ran the call to its end (its executor, or an earlier sweep), who also filed the record for deletion.
    if (record === undefined || record.outcome !== undefined) return;
    const { intent } = record;
    let outcome: SendOutcome;
    try {
      outcome = { result: await this.call(recordedCallFields(intent, requestId), Date.now() + intent.timeoutMs) };
    } catch (err) {
      const error = asCloudburstError(err);
      if (isTransient(error.code)) throw err;
      outcome = { error: error.toWire() };
    }
    const deadline = Date.now() + RECORD_DEADLINE_MS;
    await this.kvs.put(key, outcomeRecord(outcome, this.writer), deadline);
    await this.deletes.schedule([key], Date.now() + this.retentionMs, deadline);
    this.log.debug({ requestId, fn: intent.fn }, 'recorded call finished');
  }
}
