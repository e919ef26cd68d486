// How long an executor keeps what it writes for readers and retries, and
// when it sweeps what is due, in one object: the defaults, unless a test
// set CB_TEST_TIMING (test_hooks.ts). Every executor of a cluster must run
// on the same timing: each sweeps buckets the others file into.

import { DELETE_TIMING } from '../../lib/kvs/delayed_deletes.js';
import type { BucketTiming } from '../../lib/kvs/time_buckets.js';
import { COLLECT_MARGIN_MS, COMMIT_WINDOW_MS, INTENT_TIMING } from './commit_intents.js';
import { LOG_RETENTION_MS } from './effect_log.js';
import { SEND_TIMING } from '../../lib/sends.js';
import { timingOverrides } from './test_hooks.js';
import { TX_TIMING, type TxTiming } from './transaction.js';

export interface ExecutorTiming {
  tx: TxTiming;
  /** How long an exactly-once call's log is kept for retries to find (after its attempt's deadline). */
  logRetentionMs: number;
  /** Buckets of keys due for deletion (lib/kvs/delayed_deletes.ts). */
  deletes: BucketTiming;
  /** Buckets of commit intents (commit_intents.ts); swept after the commit window and a margin. */
  intents: BucketTiming;
  /** Buckets of sent calls (lib/sends.ts); only `delayMs` and `everyMs` may differ from the clients'. */
  sends: BucketTiming;
}

/** The names CB_TEST_TIMING may set, and where each goes. */
const OVERRIDES: Record<string, (t: ExecutorTiming, ms: number) => void> = {
  epochMs: (t, ms) => (t.tx.epochMs = ms),
  retentionMs: (t, ms) => (t.tx.retentionMs = ms),
  finishAfterMs: (t, ms) => (t.tx.finishAfterMs = ms),
  commitWindowMs: (t, ms) => (t.tx.commitWindowMs = ms),
  logRetentionMs: (t, ms) => (t.logRetentionMs = ms),
  // The collector's delay is the commit window plus this (set below, once the window is known).
  collectMarginMs: () => undefined,
  intentBucketMs: (t, ms) => (t.intents.bucketMs = ms),
  deleteBucketMs: (t, ms) => (t.deletes.bucketMs = ms),
  deleteGraceMs: (t, ms) => (t.deletes.delayMs = ms),
  sweepEveryMs: (t, ms) => (t.intents.everyMs = t.deletes.everyMs = t.sends.everyMs = ms),
  sendDelayMs: (t, ms) => (t.sends.delayMs = ms),
};

/**
 * The defaults with the overrides given (CB_TEST_TIMING's unless told).
 * Fields this build does not know are ignored, so that one test can run
 * against builds from before a setting existed.
 */
export function executorTiming(overrides: Record<string, unknown> = timingOverrides()): ExecutorTiming {
  const timing: ExecutorTiming = {
    tx: { ...TX_TIMING },
    logRetentionMs: LOG_RETENTION_MS,
    deletes: { ...DELETE_TIMING },
    intents: { ...INTENT_TIMING },
    sends: { ...SEND_TIMING },
  };
  for (const [field, value] of Object.entries(overrides)) {
    if (!(field in OVERRIDES)) continue;
    if (typeof value !== 'number' || !(value >= 0)) throw new Error(`timing override ${field} must be a number of ms, not ${JSON.stringify(value)}`);
    OVERRIDES[field]!(timing, value);
  }
  const margin = typeof overrides['collectMarginMs'] === 'number' ? overrides['collectMarginMs'] : COLLECT_MARGIN_MS;
  timing.intents.delayMs = (timing.tx.commitWindowMs ?? COMMIT_WINDOW_MS) + margin;
  return timing;
}
