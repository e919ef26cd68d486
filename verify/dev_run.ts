// A development aid, not the harness: runs one workload against a fresh
// local cluster, with no faults, and prints its checker's verdict. The
// harness's runner (verify/run.ts) adds nemeses, recording and results;
// this only lets a workload be tried on its own:
//
//   node dist/verify/dev_run.js <workload> [--control] [--seconds 5] [--processes 4] [--executors 2] [--kvs 1]

import { LocalCluster, memoryCluster } from '../bin/local_cluster.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { workloads } from './workloads/index.js';
import type { History, Op, WorkloadContext } from './workload.js';

/** Codes of errors that say the operation certainly had no effect. */
const NO_EFFECT = new Set(['FUNCTION_NOT_FOUND', 'DAG_NOT_FOUND', 'INVALID_ARGUMENT']);

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** mulberry32: a small seeded generator. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const workload = workloads[args[0] ?? ''];
  if (!workload) throw new Error(`usage: dev_run <${Object.keys(workloads).join('|')}> [--control] [--seconds N] [--processes N]`);
  const control = args.includes('--control');
  const seconds = flag(args, 'seconds', 5);
  const processes = flag(args, 'processes', 4);
  const cluster = await LocalCluster.start(memoryCluster({ kvs: flag(args, 'kvs', 1), executors: flag(args, 'executors', 2), heartbeatMs: 200 }));
  const client = await Cloudburst.connect({ servers: cluster.natsUrl, timeoutMs: 10_000 });
  try {
    const history: History = [];
    const started = performance.now();
    const record = (op: Omit<Op, 'index' | 'time'>): void => {
      history.push({ ...op, index: history.length, time: Math.round(performance.now() - started) });
    };
    const abort = new AbortController();
    const ctx: WorkloadContext = {
      client,
      processes,
      rng: seeded(flag(args, 'seed', 1)),
      control,
      signal: abort.signal,
      async op(p, f, value, run, result) {
        record({ process: p, type: 'invoke', f, value });
        try {
          const r = await run();
          record({ process: p, type: 'ok', f, value: result ? result(r) : r });
          return r;
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          const error = `${String(code)}: ${(err as Error).message}`;
          record({ process: p, type: typeof code === 'string' && NO_EFFECT.has(code) ? 'fail' : 'info', f, value: null, error });
          return undefined;
        }
      },
    };
    await workload.setup(ctx);
    const timer = setTimeout(() => abort.abort(), seconds * 1000);
    await Promise.all(Array.from({ length: processes }, (_, p) => workload.client(ctx, p)));
    clearTimeout(timer);
    const final = await workload.final(ctx);
    const verdict = workload.check(history, final);
    const errors = new Map<string, number>();
    for (const op of history) if (op.error) errors.set(op.error.slice(0, 80), (errors.get(op.error.slice(0, 80)) ?? 0) + 1);
    process.stdout.write(`${JSON.stringify({ workload: workload.name, control, ...verdict, errors: Object.fromEntries(errors) }, null, 2)}\n`);
  } finally {
    await client.close();
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
