// A leaving shard stops by its hand-off deadline even when a peer it hands
// keys to never answers: a gossip request waits up to ten gossip rounds for
// its answer, and with minute-long rounds (as in tests) waiting on it held a
// stop, and a test's teardown, past tap's 240 s.

import t from 'tap';
import { SetLattice } from '../lib/lattice/index.js';
import { startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { kvsClient } from './fixtures/kvs_client.js';
import { startNats } from './fixtures/nats.js';
import { shardProcess } from './fixtures/shard_process.js';

t.test('a shard whose hand-off peer is paused stops by its hand-off deadline, saying what was not handed off', async (t) => {
  const nats = await startNats(t);
  // One replica each: what the leaving shard holds must go to the other.
  const peer = shardProcess(t, nats.url, 'kvs-peer', ['--gossip-ms', '60000', '--durability', 'none', '--replication', '1'], 'kill', 1000);
  await peer.waitFor(/ready on/);
  const leaving = await startShard(nats.url, { id: 'kvs-leaving', heartbeatMs: 200, gossipMs: 60_000, replication: 1, handoffTimeoutMs: 1_000 });
  t.teardown(() => leaving.stop().catch(() => undefined));
  const kvs = await kvsClient(t, nats.url);
  await eventually('the client sees both shards', () => kvs.ringMembers().length === 2);
  const keys = Array.from({ length: 40 }, (_, i) => `bounded-${i}`);
  for (const key of keys) await kvs.put(key, new SetLattice(['v']));
  t.ok(keys.some((k) => leaving.holds(k)), 'the leaving shard holds keys of its own');

  peer.child.kill('SIGSTOP');
  t.teardown(() => void peer.child.kill('SIGCONT'));
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'unsettled'>((resolve) => (timer = setTimeout(() => resolve('unsettled'), 60_000)));
  const stopped = await Promise.race([leaving.stop().then(() => 'resolved' as const, (err: unknown) => (err as Error).name), bound]);
  clearTimeout(timer);
  t.equal(stopped, 'HandoffIncomplete', 'stop() settles, rejecting: the paused peer acknowledged nothing');
});
