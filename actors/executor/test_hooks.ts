// Settings only tests set, read from the environment because the executors
// they reach run as processes the test starts and kills with SIGKILL (a
// child process cannot be handed objects). Unset, nothing changes.
//   CB_TEST_TIMING      JSON of ExecutorTiming fields to override, e.g.
//                       {"retentionMs":3000}: keys due for deletion in
//                       minutes are due within the test.
//   CB_TEST_STOP_COMMIT "versions" or "indexed": commit() stops for good
//                       once that step is written (and says so on stderr),
//                       so the test can kill the executor with a commit
//                       half done at a known point.
//   CB_TEST_STALL_AFTER_CHECK  a file path: a serializable commit, once its
//                       last lock check passed, stalls the whole main
//                       thread (no timers, no renewals, no heartbeats: as
//                       a long GC pause or a SIGSTOP would) until that file
//                       exists, once per process (says so on stderr first).

import { existsSync } from 'node:fs';

export type StopPoint = 'versions' | 'indexed';

const STOP_COMMIT = process.env['CB_TEST_STOP_COMMIT'];

/** Never returns when CB_TEST_STOP_COMMIT names `point`; at once otherwise. */
export async function stopCommitAt(point: StopPoint, tx: string): Promise<void> {
  if (STOP_COMMIT !== point) return;
  process.stderr.write(`CB_TEST_STOP_COMMIT: transaction ${tx} stopped after its ${point}\n`);
  await new Promise<never>(() => {});
}

/** The overrides CB_TEST_TIMING holds (none when unset). */
export function timingOverrides(): Record<string, unknown> {
  const raw = process.env['CB_TEST_TIMING'];
  if (!raw) return {};
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('CB_TEST_TIMING must be a JSON object');
  return parsed as Record<string, unknown>;
}

const STALL_AFTER_CHECK = process.env['CB_TEST_STALL_AFTER_CHECK'];
let stalled = false;

/** Blocks the main thread until CB_TEST_STALL_AFTER_CHECK's file exists, the first time only; at once when unset. */
export function stallAfterCheck(tx: string): void {
  if (!STALL_AFTER_CHECK || stalled) return;
  stalled = true;
  process.stderr.write(`CB_TEST_STALL_AFTER_CHECK: transaction ${tx} stalls after its lock check\n`);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(STALL_AFTER_CHECK)) Atomics.wait(cell, 0, 0, 20);
}
