// `cloudburst status` as an operator uses it: every node with its figures,
// as JSON or a table, refreshed in place in a terminal; and the table itself
// on fixed input.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import type { Member } from '../lib/membership.js';
import { bytes, duration, statusTable, statusView, type NodeStatus, type StatusView } from '../bin/status_view.js';
import { startCluster } from './fixtures/cluster.js';
import { CLI, cli } from './fixtures/cli.js';
import { eventually } from './fixtures/eventually.js';

async function statusJson(nats: string): Promise<StatusView> {
  const out = await cli('status', '--json', '--nats', nats);
  if (out.code !== 0) throw new Error(`status failed: ${out.stderr}`);
  return JSON.parse(out.stdout) as StatusView;
}

t.test('status --json shows every node with its figures; the hit rate follows cached reads', async (t) => {
  const { nats, client, shards, executors, router } = await startCluster(t, { shards: 2, threads: 1, heartbeatMs: 100 });
  const executor = executors[0]!;
  await client.put('config', { depth: 3 });
  await client.register('readTen', async (cb: Cb) => {
    let last: unknown;
    for (let i = 0; i < 10; i++) last = await cb.get('config');
    return last;
  });

  const first = await statusJson(nats.url);
  t.equal(first.router, router.id);
  t.same(
    first.nodes.map((n) => `${n.kind} ${n.id}`),
    [...shards.map((s) => `kvs ${s.id}`).sort(), `executor ${executor.id}`, `router ${router.id}`],
    'every node, shards first, then executors, then routers',
  );
  for (const n of first.nodes) {
    t.ok(n.uptimeMs > 0 && n.uptimeMs < 120_000, `${n.id}: uptime ${n.uptimeMs} ms`);
    t.ok(n.lastHeardMs >= 0, `${n.id}: last heard ${n.lastHeardMs} ms ago`);
  }
  const [shard] = first.nodes.filter((n) => n.kind === 'kvs');
  t.match(shard, { state: 'active', replication: 2, keys: Number, opsPerSec: Number }, 'a shard: state, keys, replication, load');
  const ex = first.nodes.find((n) => n.kind === 'executor')!;
  t.match(ex, { state: 'up', threads: 1, running: 0, queued: 0, cacheBytes: 0, cacheHits: 0, cacheMisses: 0, keys: 0 }, 'an executor: threads, load, cache');
  t.equal(ex.hitRate, null, 'no hit rate before the first read');
  t.match(
    first.nodes.find((n) => n.kind === 'router'),
    { callsPerSec: Number, inFlight: 0 },
  );
  const stored = first.nodes.filter((n) => n.kind === 'kvs').reduce((sum, n) => sum + n.keys!, 0);
  t.ok(stored >= 4, `the shards hold the key and the function, twice each (${stored})`);

  const executorNow = async (): Promise<NodeStatus> => (await statusJson(nats.url)).nodes.find((n) => n.kind === 'executor')!;
  t.same(await client.call('readTen'), { depth: 3 });
  // One miss fetched the key; the worker thread answered the other nine reads from shared memory.
  await eventually('a heartbeat reports the first call\'s reads', async () => (await executorNow()).cacheMisses === 1);
  t.match(await executorNow(), { cacheHits: 9, cacheMisses: 1, hitRate: 0.9, keys: 1 });
  t.same(await client.call('readTen'), { depth: 3 });
  await eventually('a heartbeat reports the second call\'s reads', async () => (await executorNow()).cacheHits === 19);
  t.match(await executorNow(), { cacheMisses: 1, hitRate: 0.95 }, 'ten more hits, no miss: the rate went up');
});

t.test('status without a terminal prints the table once', async (t) => {
  const { nats, executors, router } = await startCluster(t);
  const out = await cli('status', '--nats', nats.url);
  t.equal(out.code, 0);
  const lines = out.stdout.trimEnd().split('\n');
  t.match(lines[0], /^KIND\s+ID\s+STATE\s+UPTIME\s+RESTARTS\s+LOAD\s+THREADS\s+CACHE\s+HIT RATE\s+KEYS\s+REPL$/);
  t.equal(lines.length, 4, 'a header and one line per node');
  t.match(out.stdout, new RegExp(`executor\\s+${executors[0]!.id}\\s+up\\s`));
  t.match(out.stdout, new RegExp(`router\\s+${router.id}\\s+up\\s`));
  t.notOk(out.stdout.includes('\x1b['), 'no terminal control sequences in a pipe');
  const bad = await cli('status', '--interval', '0', '--nats', nats.url);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /INVALID_ARGUMENT.*--interval/);
});

// `script` (util-linux) runs the command on a pseudo-terminal, as a shell in a terminal would.
const SCRIPT = '/usr/bin/script';

t.test('in a terminal, status redraws in place until Ctrl-C', { skip: existsSync(SCRIPT) ? false : `no ${SCRIPT} to make a terminal` }, async (t) => {
  const { nats, router } = await startCluster(t, { heartbeatMs: 100 });
  // `exec`: script runs the command through $SHELL -c, and a shell that stayed
  // in between (dash does) would take the Ctrl-C too and die of it.
  const command = ['exec', ...[process.execPath, CLI, 'status', '--interval', '100', '--nats', nats.url].map((a) => `'${a}'`)].join(' ');
  const term = spawn(SCRIPT, ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let screen = '';
  term.stdout.on('data', (d: Buffer) => (screen += d.toString()));
  const exited = new Promise<number | null>((resolve) => term.once('exit', (code) => resolve(code)));
  t.teardown(() => void term.kill('SIGKILL'));
  const redraws = (): number => screen.split('\x1b[H').length - 1;
  await eventually('the table was drawn three times', () => redraws() >= 3);
  t.match(screen, new RegExp(`router\\s+${router.id}`), 'the table is on the screen');
  t.match(screen, /Ctrl-C to stop/);
  term.stdin.write('\x03'); // what the terminal sends for Ctrl-C
  t.equal(await exited, 0, 'Ctrl-C ends it cleanly');
});

t.test('the table on fixed input', async (t) => {
  const at = 1_700_000_000_000;
  const member = (m: Partial<Member> & Pick<Member, 'id' | 'kind'>): Member => ({ subject: `cb.${m.id}`, startedAt: at - 60_000, at: at - 500, seenAt: at - 400, ...m });
  const view = statusView({
    router: 'router-1',
    at,
    members: [
      member({ id: 'router-1', kind: 'router', callsPerSec: 1234.4, inFlight: 3, uptimeMs: 59_500 }),
      member({ id: 'executor-b', kind: 'executor', threads: 4, running: 2, queued: 1, cacheBytes: 1536, cacheEntries: 7, cacheHits: 3, cacheMisses: 1, uptimeMs: 3_723_000, restarts: 2 }),
      member({ id: 'executor-a', kind: 'executor', threads: 2, running: 0, queued: 0, cacheBytes: 0, cacheEntries: 0, cacheHits: 0, cacheMisses: 0 }),
      member({ id: 'kvs-0', kind: 'kvs', state: 'active', keys: 120, replication: 2, opsPerSec: 2.25, uptimeMs: 90_061_000 }),
    ],
  });
  t.same(
    view.nodes.map((n) => n.id),
    ['kvs-0', 'executor-a', 'executor-b', 'router-1'],
  );
  t.equal(view.nodes[1]!.uptimeMs, 59_500 + 400, 'without uptimeMs in the heartbeat: at - startedAt, plus the time since it was heard');
  t.equal(view.nodes[2]!.hitRate, 0.75);
  const stopping = statusView({ router: 'router-1', at, members: [member({ id: 'executor-c', kind: 'executor', draining: true })] });
  t.equal(stopping.nodes[0]!.state, 'draining', 'an executor that is stopping shows as draining');
  t.equal(
    statusTable(view),
    [
      'KIND      ID          STATE   UPTIME  RESTARTS  LOAD                 THREADS    CACHE  HIT RATE  KEYS  REPL',
      'kvs       kvs-0       active  1d 01h         -  2.3 ops/s                  -        -         -   120     2',
      'executor  executor-a  up         59s         -  0 running, 0 queued        2      0 B         -     0     -',
      'executor  executor-b  up      1h 02m         2  2 running, 1 queued        4  1.5 KiB     75.0%     7     -',
      'router    router-1    up         59s         -  1234 calls/s, 3 out        -        -         -     -     -',
      '',
    ].join('\n'),
  );
  t.equal(statusTable({ router: 'r', at, nodes: [] }), 'router r knows of no node\n');
  t.equal(duration(59_999), '59s');
  t.equal(duration(60_000), '1m 00s');
  t.equal(bytes(64 * 2 ** 20), '64.0 MiB');
  t.equal(bytes(1023), '1023 B');
});
