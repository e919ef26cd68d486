// HTTP ingress: a no-op call through the gateway (`cloudburst gateway`,
// fastify, its own process) against a bare node:http server doing the same
// work in its own process (parse the body, one SDK call, the result as
// JSON), and against that server answering null with no call at all (HTTP
// alone). All three are driven by autocannon from this process, level by
// level, so the figures divided by each other were taken close in time.

import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result as CannonResult } from 'autocannon';
import { build } from 'hdr-histogram-js';
import { LocalCluster, memoryCluster } from '../bin/local_cluster.js';
import { childReady, stopChild } from '../bin/child_process.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { summarize, type BenchContext, type Measurement, type Teardown } from './harness.js';
import { row, type BenchReport, type Row } from './report.js';

const CLI = fileURLToPath(new URL('../bin/cloudburst.js', import.meta.url));
const HTTP_SERVER = fileURLToPath(new URL('./http_server.js', import.meta.url));

/** Connections autocannon keeps open, each with one request outstanding: the in-flight levels. */
const CONNECTIONS = [1, 32] as const;
type Connections = (typeof CONNECTIONS)[number];

const GROUP = 'HTTP no-op call';

interface HttpSystem {
  name: string;
  label: string;
  url: string;
}

/** Starts `args` under node and resolves the first stdout line that matches `ready`; the child is stopped at teardown with SIGTERM or by closing its stdin. */
async function startChild(what: string, args: string[], ready: RegExp, teardown: Teardown, stop: 'sigterm' | 'stdin'): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  teardown.defer(what, () => stopChild(child, 10_000, stop === 'stdin' ? (c) => c.stdin?.end() : undefined));
  let match: RegExpMatchArray | undefined;
  let out = '';
  await childReady(child, {
    what,
    timeoutMs: 20_000,
    detail: () => out,
    watch: (done) => {
      const onData = (chunk: Buffer): void => {
        out += chunk.toString();
        match = ready.exec(out) ?? undefined;
        if (match) done();
      };
      child.stdout?.on('data', onData);
      return () => {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
      };
    },
  });
  return { child, match: match! };
}

/**
 * One point: autocannon with `connections` connections for the warmup, then
 * for the measured window. Latencies are taken from each answer (autocannon
 * keeps its own in whole ms, too coarse here) into a µs histogram like
 * harness.ts's; any error, timeout or non-2xx answer fails the point.
 */
async function drive(ctx: BenchContext, system: HttpSystem, connections: number, body: string): Promise<Measurement> {
  const opts = { url: system.url, connections, method: 'POST', body, headers: { 'content-type': 'application/json' }, timeout: 10 };
  if (ctx.warmupSeconds > 0) check(system, connections, await autocannon({ ...opts, duration: ctx.warmupSeconds }));
  const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let ops = 0;
  const run = autocannon({ ...opts, duration: ctx.seconds });
  run.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status < 200 || status >= 300) return;
    hist.recordValue(Math.max(1, Math.round(ms * 1000)));
    ops++;
  });
  const from = performance.now();
  check(system, connections, await run);
  const windowMs = performance.now() - from;
  const m: Measurement = {
    inFlight: connections,
    ops,
    windowMs,
    opsPerSec: (ops * 1000) / windowMs,
    latencyUs: hist,
    p50Us: hist.getValueAtPercentile(50),
    p99Us: hist.getValueAtPercentile(99),
    maxUs: hist.maxValue,
  };
  ctx.progress(summarize(`${GROUP}: ${system.label}`, m));
  ctx.points.push({ group: GROUP, label: system.label, measurement: m });
  return m;
}

function check(system: HttpSystem, connections: number, r: CannonResult): void {
  const bad = r.errors + r.timeouts + r.non2xx;
  if (bad > 0) {
    throw new Error(`${system.label} at ${connections} connections: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} answers not 2xx out of ${r.requests.total}`);
  }
}

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const { progress, teardown } = ctx;
  const cluster = await LocalCluster.start(memoryCluster({ onProgress: (line) => progress(`cluster: ${line}`) }));
  teardown.defer('local cluster', () => cluster.stop());
  const client = await Cloudburst.connect({ servers: cluster.natsUrl, prefix: cluster.prefix, timeoutMs: 10_000 });
  teardown.defer('cloudburst client', () => client.close());
  await client.register('noop', async () => null);
  await client.call('noop', []);

  const gw = await startChild(
    'gateway',
    [CLI, 'gateway', '--nats', cluster.natsUrl, '--prefix', cluster.prefix, '--port', '0', '--log-level', 'warn'],
    /listening on (http:\/\/\S+)/,
    teardown,
    'sigterm',
  );
  const bare = await startChild('node:http server', [HTTP_SERVER, cluster.natsUrl, cluster.prefix], /listening (\d+)/, teardown, 'stdin');
  const bareUrl = `http://127.0.0.1:${bare.match[1]}`;
  const gateway: HttpSystem = { name: 'gateway', label: 'gateway (fastify)', url: `${gw.match[1]}/call/noop` };
  const same: HttpSystem = { name: 'node-http', label: 'node:http + SDK call', url: `${bareUrl}/call/noop` };
  const floor: HttpSystem = { name: 'http-floor', label: 'node:http, no call', url: `${bareUrl}/empty` };
  const systems = [gateway, same, floor];

  for (const s of systems) {
    const answer = await fetch(s.url, { method: 'POST', body: '[]', headers: { 'content-type': 'application/json' } });
    const text = await answer.text();
    if (answer.status !== 200 || text !== 'null') throw new Error(`${s.label} answered ${answer.status} ${text}, not 200 null`);
  }

  const results = new Map<HttpSystem, Map<Connections, Measurement>>(systems.map((s) => [s, new Map()]));
  for (const connections of CONNECTIONS) {
    for (const s of systems) results.get(s)!.set(connections, await drive(ctx, s, connections, '[]'));
  }
  const at = (s: HttpSystem, c: Connections): Measurement => results.get(s)!.get(c)!;

  const specs: { metric: string; unit: string; c: Connections; pick: (m: Measurement) => number; against: HttpSystem[] }[] = [
    { metric: 'HTTP no-op call ops/s, 32 connections', unit: 'ops/s', c: 32, pick: (m) => m.opsPerSec, against: [same, floor] },
    { metric: 'HTTP no-op call p50, 1 connection', unit: 'µs', c: 1, pick: (m) => m.p50Us, against: [same, floor] },
    { metric: 'HTTP no-op call p99, 1 connection', unit: 'µs', c: 1, pick: (m) => m.p99Us, against: [same] },
    { metric: 'HTTP no-op call p99, 32 connections', unit: 'µs', c: 32, pick: (m) => m.p99Us, against: [same] },
  ];
  const rows: Row[] = [];
  for (const base of [same, floor]) {
    for (const spec of specs.filter((s) => s.against.includes(base))) {
      rows.push(row({ metric: spec.metric, unit: spec.unit, ours: spec.pick(at(gateway, spec.c)), baseline: spec.pick(at(base, spec.c)), baselineName: base.name, goal: '-' }));
    }
  }

  return {
    title:
      `http: no-op call through the gateway (fastify, own process) vs a bare node:http server making the same SDK call (own process), ` +
      `and that server answering null with no call; autocannon from the bench process at ${CONNECTIONS.join(' and ')} connections, ` +
      `${ctx.warmupSeconds} s warmup + ${ctx.seconds} s per point; cluster: 1 kvs, 1 executor × 2 threads, 1 router`,
    rows,
    notes: [
      'against node-http: what fastify, the option parsing and the error mapping add to the same call; against http-floor: what the call through the cluster adds to HTTP alone',
      'the load generator shares the 2 cores with the servers and the cluster, alike for every system',
    ],
  };
}
