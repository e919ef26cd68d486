// The one deadline helper. A deadline is an absolute time (ms since the epoch)
// carried on every request, so each hop knows how long it may still take;
// nodes of one deployment are assumed to keep their clocks in sync (NTP).

import { DeadlineExceeded } from './errors.js';

/** Default time a request may take when the caller names none. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export function deadlineIn(timeoutMs: number = DEFAULT_TIMEOUT_MS): number {
  return Date.now() + timeoutMs;
}

/** Milliseconds left before `deadline`; throws DeadlineExceeded when none are. */
export function remainingMs(deadline: number, what = 'request'): number {
  const left = deadline - Date.now();
  if (left <= 0) throw new DeadlineExceeded(`${what} passed its deadline`);
  return left;
}
