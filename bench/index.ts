// `npm run bench -- <name> [--seconds N] [--warmup N]`: runs one bench (or
// `all`), prints progress on stderr, the table on stdout, writes
// bench/results/<name>.json, then renders bench/results/report.html from every
// results file there. `npm run bench -- report` only renders. Whatever a bench
// started is stopped before the process exits, also on error or Ctrl-C.

import { parseArgs } from 'node:util';
import { writeReport } from './html_report.js';
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
  scale: () => import('./scale.js'),
  http: () => import('./http.js'),
};
const ALL = 'all';
const REPORT = 'report';

const USAGE = `usage: npm run bench -- <bench> [--seconds N] [--warmup N]
       npm run bench -- ${REPORT}
  benches: ${[...Object.keys(BENCHES), ALL].join(', ')} (${ALL}: each in turn; one that fails does not stop the rest)
  ${REPORT}        render bench/results/report.html again from bench/results/*.json, running nothing
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
    const points: BenchContext['points'] = [];
    const report = await bench.run({ ...opts, progress, teardown, points });
    process.stdout.write(formatTable(report));
    progress(`wrote ${await writeResults(name, report, points, startedAt)}`);
  } finally {
    progress('stopping what the bench started');
    await teardown.run();
    active = undefined;
  }
}

async function renderReport(): Promise<void> {
  process.stderr.write(`[${REPORT}] wrote ${await writeReport(Object.keys(BENCHES))}\n`);
}

/** Every bench in turn; a failure is reported and the rest still run, so one broken bench does not cost the others' figures. */
async function runAll(opts: Pick<BenchContext, 'seconds' | 'warmupSeconds'>): Promise<void> {
  const entries = Object.entries(BENCHES);
  const failed: string[] = [];
  for (const [i, [name, load]] of entries.entries()) {
    process.stderr.write(`[${ALL}] bench ${i + 1} of ${entries.length}: ${name}\n`);
    try {
      await runBench(name, load, opts);
    } catch (err) {
      failed.push(name);
      process.stderr.write(`[${ALL}] ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
  }
  await renderReport();
  if (failed.length > 0) throw new Error(`${failed.length} of ${entries.length} benches failed: ${failed.join(', ')} (the report shows their last results)`);
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
  if (name === REPORT) {
    if (parsed.values.seconds !== undefined || parsed.values.warmup !== undefined) fail(`"${REPORT}" runs nothing, so it takes no --seconds or --warmup`);
    return renderReport();
  }
  const opts = {
    seconds: seconds('seconds', parsed.values.seconds, 4, false),
    warmupSeconds: seconds('warmup', parsed.values.warmup, 1, true),
  };
  if (name === ALL) return runAll(opts);
  const load = Object.hasOwn(BENCHES, name) ? BENCHES[name] : undefined;
  if (!load) fail(`unknown bench "${name}"`);
  await runBench(name, load, opts);
  await renderReport();
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
