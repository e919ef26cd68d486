// Small helpers the workloads share: the per-operation deadline, seeded
// choices, and the second attempt of an operation sent while the first is
// still running.

import type { WorkloadContext } from '../workload.js';

/** Every operation's deadline: a run never waits longer than this on one call. */
export const OP_TIMEOUT_MS = 5_000;

export function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

/** Waits `ms`, or less when the run is aborted. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/**
 * The process a client's concurrent second attempts are recorded under: a
 * history's process is single-threaded, so an attempt that overlaps the
 * first one needs its own (`process + processes`, never a real client's).
 */
export function shadowProcess(ctx: WorkloadContext, process: number): number {
  return process + ctx.processes;
}

/**
 * Runs `attempt` as operation `f` of `process` and, after a random delay of
 * up to `maxDelayMs`, once more as the same operation of the shadow process
 * without waiting for the first: a client retrying the same request while the
 * first try still runs. Resolves when both have completed, with their results.
 */
export async function twoAttempts<T>(
  ctx: WorkloadContext,
  process: number,
  f: string,
  value: unknown,
  attempt: () => Promise<T>,
  maxDelayMs: number,
): Promise<[T | undefined, T | undefined]> {
  const first = ctx.op(process, f, value, attempt);
  await pause(Math.floor(ctx.rng() * maxDelayMs), ctx.signal);
  const second = ctx.op(shadowProcess(ctx, process), f, value, attempt);
  return Promise.all([first, second]);
}
