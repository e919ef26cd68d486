// A development aid, not the harness: runs one workload against a fresh
// local cluster, with no faults, and prints its checker's verdict:
//
//   node dist/verify/dev_run.js <workload> [--control] [--seconds 5] [--processes 4] [--executors 2] [--kvs 1] [--seed 1] [--history FILE]

import { writeFile } from 'node:fs/promises';
import { LocalCluster, memoryCluster } from '../bin/local_cluster.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { runSession } from './dev_session.js';
import { workloads } from './workloads/index.js';

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const workload = workloads[args[0] ?? ''];
  if (!workload) throw new Error(`usage: dev_run <${Object.keys(workloads).join('|')}> [--control] [--seconds N] [--processes N]`);
  const control = args.includes('--control');
  const cluster = await LocalCluster.start(memoryCluster({ kvs: flag(args, 'kvs', 1), executors: flag(args, 'executors', 2), heartbeatMs: 200 }));
  try {
    const client = await Cloudburst.connect({ servers: cluster.natsUrl, timeoutMs: 10_000 });
    try {
      const opts = { processes: flag(args, 'processes', 4), durationMs: flag(args, 'seconds', 5) * 1000, control, seed: flag(args, 'seed', 1) };
      const { history, final, verdict } = await runSession(client, workload, opts);
      const file = args[args.indexOf('--history') + 1];
      if (args.includes('--history') && file) await writeFile(file, JSON.stringify({ history, final }));
      const errors: Record<string, number> = {};
      for (const op of history) if (op.error) errors[op.error.slice(0, 80)] = (errors[op.error.slice(0, 80)] ?? 0) + 1;
      process.stdout.write(`${JSON.stringify({ workload: workload.name, control, ...verdict, errors }, null, 2)}\n`);
    } finally {
      await client.close();
    }
  } finally {
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
