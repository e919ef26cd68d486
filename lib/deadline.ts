// The one deadline helper. A deadline is an absolute time (ms since the epoch)
// carried on every request, so each hop knows how long it may still take;
// nodes of one deployment are assumed to keep their clocks in sync (NTP).

import { DeadlineExceeded } from './errors.js';

/** Default time a request may take when the caller names none. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export function deadlineIn(timeoutMs: number = DEFAULT_TIMEOUT_MS): number {
  return Date.now() + timeoutMs;
}

/**
 * Longest a Node timer waits: beyond it, setTimeout fires after 1 ms. A
 * deadline may lie further ahead (a foreign client may send 2^53 - 1 for
 * "none"), so every wait derived from one is capped here: a node waits at
 * most this long for anything (docs/protocol.md, "Deadlines").
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Milliseconds left before `deadline`, at most MAX_TIMER_MS; throws DeadlineExceeded when none are. */
export function remainingMs(deadline: number, what = 'request'): number {
  const left = deadline - Date.now();
  if (left <= 0) throw new DeadlineExceeded(`${what} passed its deadline`);
  return Math.min(left, MAX_TIMER_MS);
}

/** What a timer set to fire at `deadline` should wait: 0 once it has passed, at most MAX_TIMER_MS. */
export function timerMs(deadline: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, deadline - Date.now()));
}
