// How long an executor keeps what it writes for readers and retries, in one
// object: the defaults, unless a test set CB_TEST_TIMING (test_hooks.ts).

import { LOG_RETENTION_MS } from './effect_log.js';
import { timingOverrides } from './test_hooks.js';
import { TX_TIMING, type TxTiming } from './transaction.js';

export interface ExecutorTiming {
  tx: TxTiming;
  /** How long an exactly-once call's log is kept for retries to find. */
  logRetentionMs: number;
}

const TX_FIELDS = ['epochMs', 'retentionMs', 'finishAfterMs'] as const;
const OWN_FIELDS = ['logRetentionMs'] as const;

/**
 * The defaults with the overrides given (CB_TEST_TIMING's unless told).
 * Fields this build does not know are ignored, so that one test can run
 * against builds from before a setting existed.
 */
export function executorTiming(overrides: Record<string, unknown> = timingOverrides()): ExecutorTiming {
  const tx: TxTiming = { ...TX_TIMING };
  const timing: ExecutorTiming = { tx, logRetentionMs: LOG_RETENTION_MS };
  for (const [field, value] of Object.entries(overrides)) {
    if (typeof value !== 'number' || !(value >= 0)) throw new Error(`timing override ${field} must be a number of ms, not ${JSON.stringify(value)}`);
    if ((TX_FIELDS as readonly string[]).includes(field)) tx[field as (typeof TX_FIELDS)[number]] = value;
    else if ((OWN_FIELDS as readonly string[]).includes(field)) timing[field as (typeof OWN_FIELDS)[number]] = value;
  }
  return timing;
}
