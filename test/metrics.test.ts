// Prometheus metrics as an operator scrapes them: each node given a metrics
// port serves /metrics, its counters move by exactly what happened, call
// latencies land in histograms, and `cloudburst up --metrics-port BASE`
// gives each node its own port.

import { createServer } from 'node:net';
import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { freePort } from '../bin/nats_server.js';
import { startCluster, startShard } from './fixtures/cluster.js';
import { CliProcess } from './fixtures/cli.js';
import { eventually } from './fixtures/eventually.js';
import { failure } from './fixtures/failure.js';
import { startNats } from './fixtures/nats.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { scrape, type Scrape } from './fixtures/prometheus.js';

/** `after - before` of one sample. */
function moved(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return after.value(name, labels) - before.value(name, labels);
}

t.test('an executor counts calls by function and outcome, times them, and counts cache reads', async (t) => {
  const { client, executors, router, kvs } = await startCluster(t, { threads: 1, executor: { metricsPort: 0 }, router: { metricsPort: 0 } });
  const port = executors[0]!.metricsPort!;
  t.type(port, 'number', 'the executor listens on the port it was given (0: a free one)');
  t.equal(kvs.metricsPort, undefined, 'a node given no metrics port serves none');
  await client.put('config', { depth: 3 });
  await client.register('readTen', async (cb: Cb) => {
    let last: unknown;
    for (let i = 0; i < 10; i++) last = await cb.get('config');
    return last;
  });
  await client.register('boom', async () => {
    throw new Error('no');
  });

  const before = await scrape(port);
  for (let i = 0; i < 3; i++) t.same(await client.call('readTen'), { depth: 3 });
  for (let i = 0; i < 2; i++) t.match(await failure(client.call('boom')), { code: 'EXECUTION_ERROR' });
  const after = await scrape(port);

  t.equal(after.types.get('cloudburst_calls_total'), 'counter');
  t.equal(moved(before, after, 'cloudburst_calls_total', { function: 'readTen', outcome: 'ok' }), 3, 'three calls of readTen ended ok');
  t.equal(moved(before, after, 'cloudburst_calls_total', { function: 'boom', outcome: 'EXECUTION_ERROR' }), 2, 'two calls of boom threw');
  t.equal(after.find('cloudburst_calls_total', { function: 'boom', outcome: 'ok' }).length, 0, 'boom never ended ok');

  t.equal(after.types.get('cloudburst_call_duration_seconds'), 'histogram');
  const fn = { function: 'readTen' };
  t.equal(moved(before, after, 'cloudburst_call_duration_seconds_count', fn), 3, 'three observations of readTen');
  t.ok(moved(before, after, 'cloudburst_call_duration_seconds_sum', fn) > 0, 'they took some time');
  const buckets = after.find('cloudburst_call_duration_seconds_bucket', fn).map((s) => s.value);
  t.same(
    buckets,
    [...buckets].sort((a, b) => a - b),
    'bucket counts are cumulative',
  );
  t.equal(after.value('cloudburst_call_duration_seconds_bucket', { ...fn, le: '+Inf' }), after.value('cloudburst_call_duration_seconds_count', fn));

  // 30 reads of one key: the first fetched it; the other 29 were hits in the worker thread.
  t.equal(moved(before, after, 'cloudburst_cache_misses_total'), 1, 'one read missed the cache');
  t.equal(moved(before, after, 'cloudburst_cache_hits_total'), 29, 'the worker\'s hits are counted');
  t.ok(after.value('cloudburst_cache_bytes') > 0);
  t.equal(after.value('cloudburst_executor_queue_depth'), 0, 'nothing waits for a thread now');
  t.equal(after.value('cloudburst_executor_threads'), 1);
  t.equal(after.value('cloudburst_calls_total', { function: 'readTen', outcome: 'ok', kind: 'executor', node: executors[0]!.id }), 3, 'labelled with the node');
  t.ok(after.value('process_cpu_seconds_total') > 0, 'prom-client\'s default process metrics are there');
  t.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404, 'only /metrics is served');

  // The router forwards every call, whatever the function does.
  const routerPort = router.metricsPort!;
  await eventually('the router counted the five calls and heard them done', async () => {
    const r = await scrape(routerPort);
    return r.value('cloudburst_requests_total', { type: 'call', outcome: 'ok' }) >= 5 && r.value('cloudburst_router_in_flight') === 0;
  });
  const r = await scrape(routerPort);
  t.equal(r.value('cloudburst_requests_total', { type: 'call', outcome: 'ok' }), 5, 'five calls forwarded');
  t.equal(r.value('cloudburst_request_duration_seconds_count', { type: 'call' }), 5, 'each timed');
  t.equal(r.value('cloudburst_router_known_executor_nodes'), 1);
});

t.test('a shard counts operations by kind and its gossip rounds', async (t) => {
  const nats = await startNats(t);
  const shard = await startShard(nats.url, { metricsPort: 0 });
  t.teardown(() => shard.stop());
  const client = await Cloudburst.connect({ servers: nats.url, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  const port = shard.metricsPort!;

  const before = await scrape(port);
  await Promise.all(Array.from({ length: 5 }, (_, i) => client.put(`k${i}`, i)));
  for (let i = 0; i < 3; i++) t.equal(await client.get(`k${i}`), i);
  await client.delete('k4');
  const after = await scrape(port);
  t.equal(moved(before, after, 'cloudburst_kvs_ops_total', { op: 'put' }), 5);
  t.equal(moved(before, after, 'cloudburst_kvs_ops_total', { op: 'get' }), 3);
  t.equal(moved(before, after, 'cloudburst_kvs_ops_total', { op: 'del' }), 1);
  t.equal(after.value('cloudburst_kvs_keys'), 4);
  t.ok(moved(before, after, 'cloudburst_requests_total', { type: 'batch', outcome: 'ok' }) > 0, 'batches counted as requests');

  // A second shard joins: the first sends it the keys it now replicates, in gossip rounds.
  const second = await startShard(nats.url);
  t.teardown(() => second.stop());
  await eventually('the new replica has every key', () => [0, 1, 2, 3].every((i) => second.localValue(`k${i}`) !== undefined));
  await eventually('the first shard gossiped and its queue drained', async () => {
    const s = await scrape(port);
    return s.value('cloudburst_kvs_gossip_rounds_total') > 0 && s.value('cloudburst_kvs_gossip_queue_keys') === 0;
  });
  t.pass('gossip rounds counted');
});

/** `n` consecutive TCP ports nothing listens on now. */
async function freePorts(n: number): Promise<number> {
  const free = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, () => srv.close(() => resolve(true)));
    });
  for (;;) {
    const base = await freePort();
    if (base + n > 65_535) continue;
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await free(p);
    if (ok) return base;
  }
}

t.test('up --metrics-port BASE: shards, executors, routers on BASE, BASE+1, ...; a restarted node keeps its port', async (t) => {
  const base = await freePorts(3);
  const up = new CliProcess(['up', '--prefix', 'metricstest', '--threads', '1', '--durability', 'none', '--metrics-port', String(base)]);
  t.teardown(async () => {
    if (up.child.exitCode === null && up.child.signalCode === null) {
      up.interrupt();
      await up.exited();
    }
  });
  await up.waitFor(/cluster ready/);
  const ports: Record<string, number> = {};
  for (const kind of ['kvs', 'executor', 'router']) {
    const [, port] = (await up.waitFor(new RegExp(`${kind} \\S+ ready \\(pid \\d+\\), metrics on port (\\d+)`))) as [string, string];
    ports[kind] = Number(port);
  }
  t.same(ports, { kvs: base, executor: base + 1, router: base + 2 }, 'ports in start order');
  for (const [kind, port] of Object.entries(ports)) {
    t.ok((await scrape(port)).find('process_cpu_seconds_total', { kind }).length === 1, `${kind} serves its metrics on ${port}`);
  }

  const [, pid] = (await up.waitFor(/executor \S+ ready \(pid (\d+)\)/)) as [string, string];
  const mark = up.lines.length;
  process.kill(Number(pid), 'SIGKILL');
  const [, port] = (await up.waitFor(/executor \S+ ready \(pid \d+\), metrics on port (\d+)/, mark)) as [string, string];
  t.equal(Number(port), base + 1, 'the restarted executor serves on its port again');
  up.interrupt();
  t.equal(await up.exited(), 0);
});
