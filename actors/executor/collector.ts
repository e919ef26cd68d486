// The collector, on every executor: once a bucket of commit intents is due
// (commit_intents.ts: after the commit window and a margin, so every
// committer that will index has indexed), it deals with each commit there
// (roll_forward.ts: done, finished now, or left rolled back), then files
// the commit's versions, record, index epochs and done mark for deletion
// after retention (DelayedDeletes), and the bucket is deleted. So a commit
// is finished, and its keys deleted, whether or not its committer lived,
// and with no reader needed. A serializable commit's sealed locks are
// released then too (only those still sealed by a token its intent names:
// a later attempt of the transaction may have sealed them again for a
// commit of its own), so a committer that died after sealing holds them
// until its commit is rolled forward or back, and no longer.

import type { KvsClient } from '../../lib/client/kvs_client.js';
import type { DelayedDeletes } from '../../lib/kvs/delayed_deletes.js';
import { BucketSweep } from '../../lib/kvs/time_buckets.js';
import type { Lattice } from '../../lib/lattice/index.js';
import type { Logger } from '../../lib/log.js';
import { parseIntents, type CommitIntents } from './commit_intents.js';
import { FINISH_TIMEOUT_MS, rollForward, type Intent } from './roll_forward.js';
import type { TxTiming } from './transaction.js';
import { commitKey, doneKey, epochOf, indexKey, versionKey } from './tx_keys.js';

/** Every key a commit may have written besides the plain keys and marks (kept). */
export function commitGarbage({ tx, ts, keys }: Intent, epochMs: number): string[] {
  const epoch = epochOf(ts, epochMs);
  // A commit of one key has no version copy.
  const copies = keys.length > 1 ? keys.map((k) => versionKey(tx, k)) : [];
  return [...copies, ...keys.map((k) => indexKey(k, epoch)), commitKey(tx), doneKey(tx)];
}

export class Collector {
  private readonly sweep: BucketSweep;

  constructor(
    private readonly kvs: KvsClient,
    private readonly intents: CommitIntents,
    private readonly deletes: DelayedDeletes,
    private readonly timing: TxTiming,
    private readonly log: Pick<Logger, 'info' | 'warn' | 'debug'>,
  ) {
    this.sweep = new BucketSweep(kvs, intents.buckets, (value, start) => this.collect(value, start), (err, bucket) =>
      this.log.debug({ err, bucket }, 'collecting commit intents failed; tried again'),
    );
  }

  close(): void {
    this.sweep.close();
  }

  private async collect(value: Lattice, start: number): Promise<void> {
    const found = parseIntents(value);
    const deadline = Date.now() + FINISH_TIMEOUT_MS;
    const outcomes = await Promise.all(found.map((intent) => rollForward(this.kvs, this.timing.epochMs, intent, deadline)));
    // Dealt with: its sealed locks go (a failure throws, and the bucket is collected again).
    await Promise.all(found.flatMap(({ tx, fence }) => (fence ? fence.locks.flatMap((key) => fence.seals.map((token) => this.kvs.unlock(key, tx, deadline, token))) : [])));
    found.forEach(({ tx }, i) => {
      if (outcomes[i] === 'finished') this.log.info({ tx }, 'finished a commit its committer left after indexing it');
      else if (outcomes[i] === 'unindexed') this.log.info({ tx }, 'left a commit its committer never indexed rolled back');
      else if (outcomes[i] === 'gone') this.log.warn({ tx }, 'a commit not marked done is indexed and a version of it is already deleted');
    });
    // Due retention after the last commit this bucket can hold.
    const when = start + this.intents.buckets.timing.bucketMs + this.timing.retentionMs;
    await this.deletes.schedule(
      found.flatMap((intent) => commitGarbage(intent, this.timing.epochMs)),
      when,
      deadline,
    );
  }
}
