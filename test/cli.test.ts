// The `cloudburst` command line as a user runs it: `up` brings a cluster up
// with progress, the client commands work against it, a crashed child is
// restarted, and Ctrl-C leaves no process behind.

import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { statusView, type NodeStatus } from '../bin/status_view.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { clusterAddress } from '../lib/client/cluster_file.js';
import { Unavailable } from '../lib/errors.js';
import { CliProcess, alive, cli, cliIn } from './fixtures/cli.js';
import { eventually } from './fixtures/eventually.js';
import { startNats } from './fixtures/nats.js';

t.test('--help lists every command and each command documents its options', async (t) => {
  const help = await cli('--help');
  t.equal(help.code, 0);
  for (const cmd of ['up', 'kvs', 'executor', 'router', 'register', 'call', 'get', 'put', 'delete', 'replication', 'status', 'gateway', 'nats-config', 'demo']) {
    t.match(help.stdout, new RegExp(`cloudburst ${cmd}\\b`), `lists ${cmd}`);
  }
  t.match((await cli('call', '--help')).stdout, /--timeout/);
  t.match((await cli('up', '--help')).stdout, /--executors/);
  const gateway = (await cli('gateway', '--help')).stdout;
  for (const option of ['--port', '--host', '--body-limit', '--request-timeout-ms', '--max-connections', '--max-in-flight', '--max-timeout-ms']) t.match(gateway, option);
  t.match((await cli('up', '--help')).stdout, /--http /);
  const bad = await cli('frobnicate');
  t.equal(bad.code, 1, 'an unknown command fails');
});

t.test('a NATS nobody answers at is Unavailable, and the message names it', async (t) => {
  // A port just given up by a listener: nothing answers there.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  const url = `nats://127.0.0.1:${port}`;
  await t.rejects(Cloudburst.connect({ servers: url }), Unavailable, 'from the SDK');
  const out = await cli('get', 'k', '--nats', url);
  t.equal(out.code, 1);
  t.match(out.stderr, new RegExp(`^cloudburst: UNAVAILABLE: cannot connect to NATS at ${url}: `), 'from the CLI');
});

t.test('up, client commands, a crashed child restarted, Ctrl-C leaves nothing behind', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'cb-up-'));
  t.teardown(() => rm(data, { recursive: true, force: true }));
  const up = new CliProcess(['up', '--prefix', 'clitest', '--threads', '1', '--data-dir', data]);
  t.teardown(async () => {
    if (up.child.exitCode === null && up.child.signalCode === null) {
      up.interrupt();
      await up.exited();
    }
  });
  const [, natsUrl] = (await up.waitFor(/cluster ready: --nats (\S+)/)) as [string, string];
  const pids = up.lines.flatMap((l) => [...l.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1])));
  t.equal(pids.length, 4, 'nats-server and one node of each kind, each with its pid');
  t.ok(up.lines.some((l) => /starting nats-server/.test(l)), 'start-up shows progress');
  const conn = ['--nats', natsUrl, '--prefix', 'clitest'];

  const dir = await mkdtemp(join(tmpdir(), 'cb-cli-'));
  const file = join(dir, 'sum.mjs');
  await writeFile(file, "export default async function (cb, a, b) { await cb.put('last-sum', a + b); return a + b; }\n");
  t.match((await cli('register', file, ...conn)).stdout, /registered sum/);
  t.equal((await cli('call', 'sum', '2', '3', ...conn)).stdout.trim(), '5');
  t.equal((await cli('get', 'last-sum', ...conn)).stdout.trim(), '5');
  const schema = join(dir, 'sum.args.json');
  await writeFile(schema, JSON.stringify({ type: 'array', items: [{ type: 'number' }, { type: 'number' }], minItems: 2, maxItems: 2 }));
  t.match((await cli('register', file, '--name', 'checked_sum', '--args-schema', schema, ...conn)).stdout, /registered checked_sum .*checked against the schema/);
  t.equal((await cli('call', 'checked_sum', '2', '3', ...conn)).stdout.trim(), '5');
  const badArgs = await cli('call', 'checked_sum', '2', 'three', ...conn);
  t.equal(badArgs.code, 1);
  t.match(badArgs.stderr, /INVALID_ARGUMENT.*args\[1\] must be number/);
  await writeFile(schema, '{ not json');
  t.match((await cli('register', file, '--args-schema', schema, ...conn)).stderr, /INVALID_ARGUMENT.*--args-schema .*not JSON/);
  t.equal((await cli('put', 'cfg', '{"a":1}', ...conn)).stdout.trim(), 'ok');
  t.equal((await cli('get', 'cfg', ...conn)).stdout.trim(), '{"a":1}');
  t.equal((await cli('put', 'tags', '["a"]', '--type', 'set', ...conn)).stdout.trim(), 'ok');
  t.equal((await cli('put', 'tags', 'b', '--type', 'set', ...conn)).stdout.trim(), 'ok');
  t.equal((await cli('get', 'tags', '--all', ...conn)).stdout.trim(), '["a","b"]', 'set puts merge');
  t.same(JSON.parse((await cli('get', 'tags', '--lattice', ...conn)).stdout), { kind: 'set', data: ['a', 'b'] });
  const mismatch = await cli('put', 'tags', '"x"', ...conn);
  t.equal(mismatch.code, 1);
  t.match(mismatch.stderr, /LATTICE_TYPE_MISMATCH/);
  t.equal((await cli('replication', 'tags', '1', ...conn)).stdout.trim(), 'ok');
  t.match((await cli('replication', 'tags', 'zero', ...conn)).stderr, /INVALID_ARGUMENT/);
  const missing = await cli('call', 'nope', ...conn);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /FUNCTION_NOT_FOUND/);

  const [, oldPid] = (await up.waitFor(/executor \S+ ready \(pid (\d+)\)/)) as [string, string];
  const mark = up.lines.length;
  process.kill(Number(oldPid), 'SIGKILL');
  const [, newPid] = (await up.waitFor(/executor \S+ ready \(pid (\d+)\)/, mark)) as [string, string];
  t.not(newPid, oldPid, 'the crashed executor was restarted');
  t.equal((await cli('call', 'sum', '1', '1', ...conn)).stdout.trim(), '2', 'calls work after the restart');
  // status shows the crash: the supervisor told the new process how often it
  // was restarted. Read in this process (what `status --json` prints), as a
  // CLI process per look would cost seconds each on a loaded machine.
  const client = await Cloudburst.connect({ servers: natsUrl, prefix: 'clitest' });
  let rows: NodeStatus[] = [];
  try {
    await eventually(
      'status shows the executor restarted once',
      async () => {
        rows = statusView(await client.status()).nodes;
        return rows.find((n) => n.kind === 'executor')?.restarts === 1;
      },
      30_000,
    ).catch((err: Error) => t.fail(`${err.message}: ${JSON.stringify(rows)}`));
  } finally {
    await client.close();
  }
  t.same(rows.map((n) => [n.kind, n.restarts]), [['kvs', 0], ['executor', 1], ['router', 0]], 'the others were never restarted');

  up.interrupt();
  t.equal(await up.exited(), 0, 'up exits cleanly on Ctrl-C');
  t.ok(up.lines.some((l) => /router \S+ stopped|stopped/.test(l)), 'says it stopped');
  const all = [...pids, Number(newPid)];
  t.same(all.filter(alive), [], 'no child process outlives up');
});

t.test('kill -9 of up takes its nats-server and every node with it; the record it leaves is ignored, saying so', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'cb-up-kill-'));
  t.teardown(() => rm(data, { recursive: true, force: true }));
  const up = new CliProcess(['up', '--prefix', 'clikill', '--threads', '1', '--data-dir', data], process.env, data);
  let pids: number[] = [];
  // Whatever this test finds, it leaves nothing running.
  t.teardown(() => {
    for (const pid of [up.child.pid!, ...pids]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  await up.waitFor(/cluster ready: --nats/);
  const [, natsPid] = (await up.waitFor(/nats-server ready on \S+ \(pid (\d+)\)/)) as [string, string];
  pids = up.lines.flatMap((l) => [...l.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1])));
  t.equal(pids.length, 4, 'nats-server and one node of each kind, each with its pid');
  t.ok(alive(Number(natsPid)), 'nats-server runs');

  process.kill(up.child.pid!, 'SIGKILL');
  await up.exited();
  await eventually('nats-server and the nodes are gone', () => pids.every((pid) => !alive(pid)), 10_000).catch((err: Error) =>
    t.fail(`${err.message}; still running: ${pids.filter(alive).join(', ')} (nats-server ${natsPid})`),
  );
  t.same(pids.filter(alive), [], 'no child outlives a killed up');

  // A killed up cannot remove its record: a command run there must not take
  // the dead cluster's URL (nor its prefix), and says why it ignores it.
  const recordPath = join(data, '.cloudburst', 'cluster.json');
  t.ok(existsSync(recordPath), 'the record is left behind');
  t.match(clusterAddress({}, data), { servers: 'nats://127.0.0.1:4222', prefix: 'cb', from: 'default' }, 'the SDK ignores it');
  // Whatever answers on 4222 here (nothing, or a NATS without this cluster), the command fails fast.
  const out = await cliIn({ cwd: data }, 'get', 'k', '--timeout', '1000');
  t.match(
    out.stderr,
    `cloudburst: ignoring ${recordPath}: the cloudburst up that wrote it (pid ${up.child.pid}) is no longer running; using nats://127.0.0.1:4222\n`,
    'the CLI says it ignores the record and why',
  );
});

t.test('a second up on the same data directory fails fast naming it and the holder; after a kill -9 the directory is free', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'cb-up-lock-'));
  t.teardown(() => rm(data, { recursive: true, force: true }));
  const args = ['up', '--prefix', 'clilock', '--threads', '1', '--data-dir', data, '--durability', 'group'];
  const first = new CliProcess(args);
  let pids: number[] = [];
  t.teardown(() => {
    for (const pid of [first.child.pid!, ...pids]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  await first.waitFor(/cluster ready/);
  pids = first.lines.flatMap((l) => [...l.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1])));
  const [, shardPid] = (await first.waitFor(/kvs kvs-0 ready \(pid (\d+)\)/)) as [string, string];

  const second = await cli(...args);
  t.not(second.code, 0, 'the second up fails');
  const dir = join(data, 'clilock', 'kvs-0');
  t.match(second.stderr, `DATA_DIR_LOCKED: data directory ${dir} is in use by kvs shard kvs-0 (pid ${shardPid})`, 'naming the directory and the holder');

  process.kill(first.child.pid!, 'SIGKILL');
  await eventually('the first cluster is gone', () => pids.every((pid) => !alive(pid)));
  const third = new CliProcess(args);
  t.teardown(async () => {
    if (third.child.exitCode === null && third.child.signalCode === null) {
      third.interrupt();
      await third.exited();
    }
  });
  await third.waitFor(/cluster ready/);
  t.pass('a new up starts on the directory once the first is killed');
});

t.test('CB_LOG_LEVEL sets the default log level of a node', async (t) => {
  const nats = await startNats(t);
  const node = new CliProcess(['router', '--nats', nats.url], { ...process.env, CB_LOG_LEVEL: 'info' });
  t.teardown(async () => {
    node.interrupt();
    await node.exited();
  });
  const [line] = await node.waitFor(/\{[^\n]*"msg":"node started"[^\n]*\}/);
  t.equal((JSON.parse(line) as { level: number }).level, 30, 'an info line, which the default level (warn) would drop');
});
