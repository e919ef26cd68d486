// What a newcomer reads first: every command's --help shows its own options
// before the NATS security ones, each node kind describes --id for itself,
// and what the client commands print is JSON even when there is nothing.

import t from 'tap';
import { cli } from './fixtures/cli.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

// One command of each builder (cluster, node, client): each CLI start is a
// whole process, so the list is kept short.
const OWN: Record<string, string> = {
  up: '--executors',
  kvs: '--data-dir',
  executor: '--threads',
  router: '--heartbeat-ms',
  get: '--lattice',
  put: '--ttl-ms',
  replication: '--timeout',
  gateway: '--max-in-flight',
};

const helps = new Map<string, Promise<string>>();
function help(cmd: string): Promise<string> {
  if (!helps.has(cmd)) helps.set(cmd, cli(cmd, '--help').then((r) => r.stdout));
  return helps.get(cmd)!;
}

t.test('--nats and a command\'s own options come before the NATS security group', async (t) => {
  for (const [cmd, own] of Object.entries(OWN)) {
    const text = await help(cmd);
    const security = text.indexOf('NATS security');
    t.ok(security > 0, `${cmd}: has the security group`);
    t.ok(text.indexOf('  --nats ') >= 0 && text.indexOf('  --nats ') < security, `${cmd}: --nats before the security group`);
    t.ok(text.indexOf(`  ${own} `) >= 0 && text.indexOf(`  ${own} `) < security, `${cmd}: ${own} before the security group`);
  }
});

t.test('--id says what a fixed id does for each kind of node', async (t) => {
  const id = (text: string): string => /--id\s+([\s\S]*?)\[string\]/.exec(text)?.[1]?.replace(/\s+/g, ' ') ?? '';
  const kvs = id(await help('kvs'));
  t.match(kvs, /data/, 'a shard finds its data again under its id');
  for (const kind of ['executor', 'router']) {
    const text = id(await help(kind));
    t.ok(text.length > 0, `${kind} documents --id`);
    t.notMatch(text, /shard/, `${kind}: --id does not speak of shards`);
  }
});

t.test('replication: help and a bad factor name the word that unpins, before any connection', async (t) => {
  t.match(await help('replication'), /none/);
  // Nothing listens on port 1: the argument is refused before connecting.
  const bad = await cli('replication', 'k', 'zero', '--nats', 'nats://127.0.0.1:1');
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^cloudburst: INVALID_ARGUMENT: .*none to unpin/);
  t.notMatch(bad.stderr, /null/);
});

t.test('get of a missing key and a call returning nothing print JSON null', async (t) => {
  const { nats, client } = await startCluster(t);
  const conn = ['--nats', nats.url];
  const get = await cli('get', 'never-written', ...conn);
  t.equal(get.code, 0);
  t.equal(get.stdout, 'null\n', 'valid JSON, as --help promises');
  t.same(JSON.parse(get.stdout), null);
  const lattice = await cli('get', 'never-written', '--lattice', ...conn);
  t.equal(lattice.stdout, 'null\n');
  t.match(await help('get'), /null/, '--help says what a missing key prints');
  await client.register('nothing', async () => undefined);
  t.equal((await cli('call', 'nothing', ...conn)).stdout, 'null\n');
});

t.test('replication above the number of shards is stored, with a warning that says how many hold the key now', async (t) => {
  const { nats } = await startCluster(t, { shards: 1 });
  const out = await cli('replication', 'hot', '3', '--nats', nats.url);
  t.equal(out.code, 0);
  t.equal(out.stdout, 'ok\n');
  t.match(out.stderr, /warning: .*3 replicas.*1 KVS shard/);
  const within = await cli('replication', 'hot', '1', '--nats', nats.url);
  t.equal(within.stderr, '', 'no warning within the shard count');
});

t.test('put --ttl-ms: the key reads as null after its lifetime; help says how it combines; a bad one is refused before any connection', async (t) => {
  const text = (await help('put')).replace(/\s+/g, ' ');
  t.match(text, /--ttl-ms delete the key this many ms from now, on every replica/);
  t.match(text, /a put without --ttl-ms does not clear it, a delete does not cancel it/, 'as docs/kvs.md says');
  for (const bad of ['0', '-1', 'soon']) {
    const refused = await cli('put', 'k', 'v', '--ttl-ms', bad, '--nats', 'nats://127.0.0.1:1');
    t.equal(refused.code, 1, `--ttl-ms ${bad}`);
    t.match(refused.stderr, /^cloudburst: INVALID_ARGUMENT: --ttl-ms must be a positive number of milliseconds/);
  }
  const { nats, client } = await startCluster(t, { executors: 0 });
  const conn = ['--nats', nats.url];
  // Long enough to read it back once on a loaded machine.
  t.equal((await cli('put', 'brief', '"here"', '--ttl-ms', '5000', ...conn)).stdout, 'ok\n');
  t.equal(await client.get('brief'), 'here');
  await eventually('get prints null once the lifetime is over', async () => (await cli('get', 'brief', ...conn)).stdout === 'null\n', 30_000);
  t.pass('expired');
});
