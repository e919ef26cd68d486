// `npm run bench -- <name> [--seconds N] [--warmup N]`: runs one bench (or
// `all`), prints progress on stderr, the table on stdout, and writes
// bench/results/<name>.json. Whatever a bench started is stopped before the
// process exits, also on error or Ctrl-C.

import { parseArgs } from 'node:util';
import { Teardown, progressFor, type BenchContext } from './harness.js';
import { formatTable, writeResults, type BenchReport } from './report.js';

interface BenchModule {
  run(ctx: BenchContext): Promise<BenchReport>;
}

// A new bench is one line here. Loaded lazily so one bench's imports (and
// their failures) never get in the way of another.
const BENCHES: Record<string, () => Promise<BenchModule>> = {
  floor: () => import('./floor.js'),
  kvs: () => import('./kvs.js'),
  calls: () => import('./calls.js'),
  consistency: () => import('./consistency.js'),
};
const ALL = 'all';

const USAGE = `usage: npm run bench -- <bench> [--seconds N] [--warmup N]
  benches: ${[...Object.keys(BENCHES), ALL].join(', ')}
  --seconds N   measured seconds per point (default 4)
  --warmup N    warmup seconds before each point (default 1)`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(1);
}

function seconds(flag: string, raw: string | undefined, fallback: number, zeroAllowed: boolean): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroAllowed)) fail(`--${flag} must be a number ${zeroAllowed ? '>= 0' : '> 0'}, not "${raw}"`);
  return n;
}

let active: Teardown | undefined;

async function runBench(name: string, load: () => Promise<BenchModule>, opts: Pick<BenchContext, 'seconds' | 'warmupSeconds'>): Promise<void> {
  const progress = progressFor(name);
  const teardown = new Teardown(progress);
  active = teardown;
  const startedAt = new Date();
  try {
    const bench = await load();
    const report = await bench.run({ ...opts, progress, teardown });
    process.stdout.write(formatTable(report));
    progress(`wrote ${await writeResults(name, report.rows, startedAt)}`);
  } finally {
    progress('stopping what the bench started');
    await teardown.run();
    active = undefined;
  }
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { seconds: { type: 'string' }, warmup: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    fail((err as Error).message);
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const [name, ...extra] = parsed.positionals;
  if (!name) fail('no bench named');
  if (extra.length > 0) fail(`one bench at a time (or "${ALL}"), not: ${parsed.positionals.join(' ')}`);
  const opts = {
    seconds: seconds('seconds', parsed.values.seconds, 4, false),
    warmupSeconds: seconds('warmup', parsed.values.warmup, 1, true),
  };

  const selected = name === ALL ? Object.entries(BENCHES) : Object.hasOwn(BENCHES, name) ? [[name, BENCHES[name]!] as const] : undefined;
  if (!selected) fail(`unknown bench "${name}"`);
  for (const [benchName, load] of selected) await runBench(benchName, load, opts);
}

// Ctrl-C mid-run: stop the cluster and children first, or they would be
// left to notice on their own that we are gone.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping\n`);
    void (active?.run() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
