// The fault harness end to end, short: the smoke workload on a real cluster
// (nats-server, 3 shards, 2 executors, 2 routers, each its own process) under
// a seeded schedule of kill -9s and pauses, then its control run. The run
// must be valid and its results file written; the control run, which drops
// the set-lattice merge, must be caught by the same checker.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DeadlineExceeded, ExecutionError, FunctionNotFound, InvalidArgument, NoCapacity, Unavailable } from '../lib/errors.js';
import { classify } from '../verify/history.js';
import { planSchedule } from '../verify/nemesis.js';
import { DEFAULT_TOPOLOGY } from '../verify/cluster.js';
import type { VerifyResultFile } from '../verify/results.js';
import { verifyWorkload } from '../verify/suite.js';
import { smoke } from '../verify/workloads/smoke.js';

t.test('one seed gives one fault schedule', async (t) => {
  const a = planSchedule(7, ['kill', 'pause', 'skew', 'nats', 'supervisor', 'membership'], DEFAULT_TOPOLOGY, 60_000);
  const b = planSchedule(7, ['kill', 'pause', 'skew', 'nats', 'supervisor', 'membership'], DEFAULT_TOPOLOGY, 60_000);
  const c = planSchedule(8, ['kill', 'pause', 'skew', 'nats', 'supervisor', 'membership'], DEFAULT_TOPOLOGY, 60_000);
  t.ok(a.length > 10, `${a.length} faults planned in 60 s`);
  t.same(a, b);
  t.notSame(a, c);
  t.same(planSchedule(7, [], DEFAULT_TOPOLOGY, 60_000), []);
});

t.test('only errors raised before anything ran are fail; the rest is info', async (t) => {
  t.equal(classify(new FunctionNotFound('no f')), 'fail');
  t.equal(classify(new InvalidArgument('bad')), 'fail');
  t.equal(classify(new NoCapacity('no executor is running')), 'fail');
  t.equal(classify(new NoCapacity('nobody is listening on cb.sched')), 'fail');
  t.equal(classify(new NoCapacity('shard kvs-1 left the ring')), 'info', 'a KVS write that may have landed');
  t.equal(classify(new DeadlineExceeded('late')), 'info');
  t.equal(classify(new Unavailable('gone')), 'info');
  t.equal(classify(new ExecutionError('threw after a write')), 'info');
  t.equal(classify(new Error('connection lost')), 'info');
});

t.test('the skew preload shifts a process\'s wall clock by what its file says, and follows the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cb-skew-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'skew');
  await writeFile(file, '5000');
  const preload = fileURLToPath(new URL('../verify/clock_skew.js', import.meta.url));
  // The child prints its skew (wall clock minus the monotonic one) as read, then again after the file says -2000.
  const script = `
    const skew = () => Math.round((Date.now() - (performance.timeOrigin + performance.now())) / 100) * 100;
    const first = [skew(), Math.round((new Date().getTime() - Date.now()) / 100) * 100, typeof Date(), new Date(0).getTime()];
    require('fs').writeFileSync(${JSON.stringify(file)}, '-2000');
    const check = () => (skew() === -2000 ? console.log(JSON.stringify([...first, skew()])) : setTimeout(check, 10));
    check();`;
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--import', preload, '-e', script], { env: { ...process.env, CB_CLOCK_SKEW_FILE: file }, timeout: 10_000 }, (err, stdout) =>
      err ? reject(new Error(err.message)) : resolve(stdout),
    ),
  );
  t.same(JSON.parse(out), [5000, 0, 'string', 0, -2000], 'Date.now and new Date skewed alike; Date() and dates from numbers still work');
});

t.test('smoke under kill and pause: no anomaly, and the control run is caught', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cb-verify-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { path, file } = await verifyWorkload(smoke, {
    seed: 42,
    seconds: 15,
    controlSeconds: 8,
    nemeses: ['kill', 'pause'],
    processes: 4,
    mode: 'both',
    resultsDir: dir,
    progress: (line) => t.comment(line),
  });
  const written = JSON.parse(await readFile(path, 'utf8')) as VerifyResultFile;
  t.equal(written.seed, 42);
  t.same(written.nemeses, ['kill', 'pause']);
  t.match(written.rerun, /--seed 42/);
  const run = written.run!;
  t.ok(run.faultsInjected > 0, `${run.faultsInjected} faults injected`);
  for (const f of run.faults) t.ok(f.end === null || f.end >= f.start, `${f.kind} ${f.target} healed after it started`);
  t.ok(run.ops.ok > 0, `${run.ops.ok} acknowledged adds`);
  t.equal(run.anomalyCount, 0, `no anomaly: ${JSON.stringify(run.anomalies)}`);
  t.ok(written.control!.anomalyCount > 0, `the control run found ${written.control!.anomalyCount} anomalies`);
  t.same(file, written);
});
