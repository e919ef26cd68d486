// What every bench shares: the closed-loop load driver, progress lines, and
// teardown that runs however a bench ends. Reporting (rows, table, JSON) is
// in report.ts.

import { performance } from 'node:perf_hooks';
import { build, type Histogram } from 'hdr-histogram-js';

export interface MeasureOptions {
  /** Operations kept outstanding at all times (closed loop: one ends, the next starts). */
  inFlight: number;
  /** Length of the measured window. Give this or `ops`. */
  durationMs?: number;
  /** Stop after this many measured operations instead of after a time. */
  ops?: number;
  /** Load run before the window opens, so JIT, connection buffers and caches are warm. Default 0. */
  warmupMs?: number;
}

export interface Measurement {
  inFlight: number;
  /** Operations completed inside the measured window. */
  ops: number;
  windowMs: number;
  opsPerSec: number;
  /** Latencies in microseconds, whole numbers, 3 significant digits. */
  latencyUs: Histogram;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

// Long enough for any deadline we set; autoResize covers the rest.
const HIGHEST_TRACKABLE_US = 60_000_000;

/**
 * Runs `op` with `inFlight` copies outstanding: warmup first, then the
 * measured window. An operation counts when it completes inside the window,
 * whenever it started: counting by completion keeps throughput unbiased at
 * both edges. The first failing operation stops the run and is rethrown,
 * since numbers from a run that had errors are not numbers of the same thing.
 */
export async function measure(op: () => Promise<unknown>, opts: MeasureOptions): Promise<Measurement> {
  const { inFlight, durationMs, ops: targetOps, warmupMs = 0 } = opts;
  if (!(inFlight >= 1)) throw new Error(`inFlight must be at least 1, not ${inFlight}`);
  if ((durationMs === undefined) === (targetOps === undefined)) throw new Error('measure needs exactly one of durationMs and ops');

  const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_TRACKABLE_US, numberOfSignificantValueDigits: 3 });
  const windowFrom = performance.now() + warmupMs;
  let windowTo = durationMs === undefined ? Infinity : windowFrom + durationMs;
  let count = 0;
  let failure: { err: unknown } | undefined;

  const loop = async (): Promise<void> => {
    while (failure === undefined) {
      const t0 = performance.now();
      if (t0 >= windowTo) return;
      try {
        await op();
      } catch (err) {
        failure ??= { err };
        return;
      }
      const t1 = performance.now();
      if (t1 < windowFrom || t1 > windowTo) continue;
      hist.recordValue(Math.max(1, Math.round((t1 - t0) * 1000)));
      if (++count === targetOps) windowTo = t1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  if (failure) throw new Error(`operation failed during measurement (${inFlight} in flight): ${describe(failure.err)}`, { cause: failure.err });

  const windowMs = windowTo - windowFrom;
  return {
    inFlight,
    ops: count,
    windowMs,
    opsPerSec: windowMs > 0 ? (count * 1000) / windowMs : 0,
    latencyUs: hist,
    p50Us: hist.getValueAtPercentile(50),
    p99Us: hist.getValueAtPercentile(99),
    maxUs: hist.maxValue,
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** A progress line on stderr, so stdout stays the table alone. */
export type Progress = (line: string) => void;

export function progressFor(bench: string): Progress {
  return (line) => process.stderr.write(`[${bench}] ${line}\n`);
}

/** "nats echo, 32 in flight: 12,345 ops/s, p50 210 µs, p99 1,020 µs" */
export function summarize(label: string, m: Measurement): string {
  return `${label}, ${m.inFlight} in flight: ${fmt(m.opsPerSec)} ops/s, p50 ${fmt(m.p50Us)} µs, p99 ${fmt(m.p99Us)} µs (${fmt(m.ops)} ops)`;
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * Undo steps run last-in first-out (clients before the servers they talk to)
 * whether the bench finished, threw or was interrupted. A step that fails is
 * reported and the rest still run.
 */
export class Teardown {
  private readonly steps: { what: string; undo: () => unknown }[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly progress: Progress) {}

  defer(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
  }

  /** Like defer, and returns a function that runs the step now instead (for what a bench stops midway); it runs once either way. */
  deferOnce(what: string, undo: () => unknown): () => Promise<void> {
    let done: Promise<void> | undefined;
    const once = (): Promise<void> => (done ??= Promise.resolve().then(undo).then(() => undefined));
    this.defer(what, once);
    return once;
  }

  run(): Promise<void> {
    this.running ??= this.runSteps();
    return this.running;
  }

  private async runSteps(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.undo();
      } catch (err) {
        this.progress(`cleanup of ${step.what} failed: ${describe(err)}`);
      }
    }
  }
}

/** A point a bench measured, kept so the results file can carry its distribution and the report can plot it. */
export interface PointRecord {
  /** What the point belongs with in the report's plots ("get 64 B"); "" for the bench as a whole. */
  group: string;
  /** The system measured ("no-op call", "redis GET 64 B"): one curve or line in a plot. */
  label: string;
  measurement: Measurement;
}

/** What index.ts gives each bench. */
export interface BenchContext {
  /** Measured window of each point. */
  seconds: number;
  /** Warmup before each point. */
  warmupSeconds: number;
  progress: Progress;
  teardown: Teardown;
  /** Every point measured through `point()`, in order. */
  points: PointRecord[];
}

/**
 * One measured point at the run's durations, reported as a progress line and
 * recorded in `ctx.points`. Points of one `group` are plotted together: each
 * label's latency distribution per in-flight level, and its throughput
 * against in-flight when it was measured at more than one level.
 */
export async function point(ctx: BenchContext, label: string, op: () => Promise<unknown>, inFlight: number, group = ''): Promise<Measurement> {
  const m = await measure(op, { inFlight, durationMs: ctx.seconds * 1000, warmupMs: ctx.warmupSeconds * 1000 });
  ctx.progress(summarize(group ? `${group}: ${label}` : label, m));
  ctx.points.push({ group, label, measurement: m });
  return m;
}
