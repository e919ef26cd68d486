// The history of a run (verify/workload.ts `Op`): every operation a client
// performs, as an invoke and then one completion, on one monotonic clock that
// starts with the run. Faults are stamped on the same clock (nemesis.ts).

import { performance } from 'node:perf_hooks';
import { CloudburstError } from '../lib/errors.js';
import type { History, Op } from './workload.js';

/** Milliseconds since `start` on the monotonic clock, to 0.1 ms. */
export class RunClock {
  private readonly start = performance.now();
  now(): number {
    return Math.round((performance.now() - this.start) * 10) / 10;
  }
}

export interface OpCounts {
  ok: number;
  fail: number;
  info: number;
  invoked: number;
  /** Absent in result files written before it was counted. */
  errors?: Record<string, number>;
}

/** Thrown when an operation outlives the harness's own deadline for it. */
export class HarnessDeadline extends Error {
  readonly code = 'HARNESS_DEADLINE';
}

/**
 * Error codes that certainly had no effect: the request was refused before
 * anything ran (nothing registered under that name, bad arguments, nobody to
 * take it). Everything else (a deadline, a lost connection, an error from
 * inside a function that may have written first, an unknown error) is `info`.
 */
const NO_EFFECT = new Set(['FUNCTION_NOT_FOUND', 'DAG_NOT_FOUND', 'INVALID_ARGUMENT', 'UNAUTHORIZED', 'PAYLOAD_TOO_LARGE']);
/**
 * NoCapacity is raised both before a call is sent (no executor registered, no
 * responder on the subject) and, wrapped, by a KVS write that may have landed;
 * only the first two are a certain `fail`.
 */
const NO_CAPACITY_BEFORE_SENDING = [/^no executor is running/, /^nobody is listening/];

export function classify(err: unknown): 'fail' | 'info' {
  if (!(err instanceof CloudburstError)) return 'info';
  if (NO_EFFECT.has(err.code)) return 'fail';
  if (err.code === 'NO_CAPACITY' && NO_CAPACITY_BEFORE_SENDING.some((re) => re.test(err.message))) return 'fail';
  return 'info';
}

function describe(err: unknown): string {
  const code = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'UNKNOWN';
  const message = err instanceof Error ? err.message : String(err);
  // Keep the history small: the first line of the message only.
  return `${code}: ${message.split('\n')[0]!.slice(0, 200)}`;
}

/** How long a client waits after an operation that did not complete ok. */
const ERROR_BACKOFF_MS = 100;

export class Recorder {
  readonly history: History = [];
  private inFlight = 0;
  private drained: (() => void) | undefined;

  constructor(
    readonly clock: RunClock,
    /** The harness's own bound on one operation, beyond any deadline it passes to the cluster. */
    private readonly opDeadlineMs: number,
  ) {}

  private push(op: Omit<Op, 'index' | 'time'>): void {
    this.history.push({ index: this.history.length, time: this.clock.now(), ...op });
  }

  get pending(): number {
    return this.inFlight;
  }

  /** verify/workload.ts WorkloadContext.op. */
  async op<T>(process: number, f: string, value: unknown, run: () => Promise<T>, result?: (r: T) => unknown): Promise<T | undefined> {
    this.push({ process, type: 'invoke', f, value });
    this.inFlight++;
    let timer: NodeJS.Timeout | undefined;
    try {
      const bound = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HarnessDeadline(`no answer within the harness deadline of ${this.opDeadlineMs} ms`)), this.opDeadlineMs);
      });
      const running = run();
      // Its late rejection, after the harness gave up on it, must not go unhandled.
      running.catch(() => undefined);
      const r = await Promise.race([running, bound]);
      this.push({ process, type: 'ok', f, value: result ? result(r) : (r) });
      return r;
    } catch (err) {
      this.push({ process, type: classify(err), f, value, error: describe(err) });
      // Back off a little, so a client facing a down cluster does not fill the history with instant failures.
      await new Promise((resolve) => setTimeout(resolve, ERROR_BACKOFF_MS));
      return undefined;
    } finally {
      clearTimeout(timer);
      if (--this.inFlight === 0) this.drained?.();
    }
  }

  /** Resolves once no operation is in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = () => {
        this.drained = undefined;
        resolve();
      };
    });
  }

  /** Operations by outcome, and the ones that did not complete ok by outcome and error code (`fail NO_CAPACITY`): what kept clients from being served. */
  counts(): OpCounts {
    const errors: Record<string, number> = {};
    const c = { ok: 0, fail: 0, info: 0, invoked: 0, errors };
    for (const op of this.history) {
      if (op.type === 'invoke') c.invoked++;
      else c[op.type]++;
      if (op.type === 'fail' || op.type === 'info') {
        const key = `${op.type} ${(op.error ?? 'UNKNOWN').split(':')[0]}`;
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
    return c;
  }
}
