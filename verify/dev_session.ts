// A development aid, not the harness: runs one workload's clients against a
// cluster for a while, recording a history the way the contract asks
// (verify/workload.ts), with no faults, then reads the final state and
// checks it. The harness's runner (verify/run.ts) adds nemeses, recording to
// disk and results; this lets a workload be tried on its own (verify/dev_run.ts)
// and smoke-tested (test/verify_workloads.test.ts).

import type { Cloudburst } from '../lib/client/cloudburst.js';
import type { CheckResult, History, Op, Workload, WorkloadContext } from './workload.js';

/** Codes of errors that say the operation certainly had no effect (the runner's verify/history.ts knows a few more cases). */
const NO_EFFECT = new Set(['FUNCTION_NOT_FOUND', 'DAG_NOT_FOUND', 'INVALID_ARGUMENT']);
/** A pause after an operation that did not complete ok, so a client does not spin while the cluster is down (as the runner does). */
const BACKOFF_MS = 100;

export interface SessionOptions {
  processes: number;
  durationMs: number;
  control: boolean;
  seed?: number;
}

export interface Session {
  history: History;
  final: unknown;
  verdict: CheckResult;
}

/** mulberry32: a small seeded generator. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runSession(client: Cloudburst, workload: Workload, opts: SessionOptions): Promise<Session> {
  const history: History = [];
  const started = performance.now();
  const record = (op: Omit<Op, 'index' | 'time'>): void => {
    history.push({ ...op, index: history.length, time: Math.round(performance.now() - started) });
  };
  const abort = new AbortController();
  const ctx: WorkloadContext = {
    client,
    processes: opts.processes,
    rng: seeded(opts.seed ?? 1),
    control: opts.control,
    signal: abort.signal,
    async op(process, f, value, run, result) {
      record({ process, type: 'invoke', f, value });
      try {
        const r = await run();
        record({ process, type: 'ok', f, value: result ? result(r) : r });
        return r;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        const type = typeof code === 'string' && NO_EFFECT.has(code) ? 'fail' : 'info';
        record({ process, type, f, value, error: `${String(code)}: ${err instanceof Error ? err.message : String(err)}` });
        await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS));
        return undefined;
      }
    },
  };
  await workload.setup(ctx);
  const timer = setTimeout(() => abort.abort(), opts.durationMs);
  try {
    await Promise.all(Array.from({ length: opts.processes }, (_, p) => workload.client(ctx, p)));
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  const final = await workload.final(ctx);
  return { history, final, verdict: workload.check(history, final) };
}
