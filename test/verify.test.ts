// The fault harness end to end, short: the smoke workload on a real cluster
// (nats-server, 3 shards, 2 executors, 2 routers, each its own process) under
// a seeded schedule of kill -9s and pauses, then its control run. The run
// must be valid and its results file written; the control run, which drops
// the set-lattice merge, must be caught by the same checker.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
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
