// Selective replication: a key under heavy load gets a replica on every
// shard, and goes back to the default once it has cooled down; a shard that
// becomes a replica answers reads before the hand-off reaches it.

import t from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { SetLattice } from '../lib/lattice/index.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { getFromShard } from './fixtures/shard_get.js';

t.test('a hot key is replicated on every shard, then back to two when it cools', async (t) => {
  const { shards, client } = await startCluster(t, {
    shards: 3,
    executors: 0,
    heartbeatMs: 200,
    router: { hotKeyOpsPerSec: 300, coolKeyOpsPerSec: 100, hotKeyCooldownMs: 1000 },
  });
  await client.put('hot', new SetLattice(['v']));
  await client.put('cold', new SetLattice(['v']));
  const holding = (key: string) => shards.filter((s) => s.holds(key) && s.localValue(key) !== undefined).length;
  await eventually('two replicas at first, once every shard sees the same ring', () => holding('hot') === 2);

  let hammering = true;
  const hammer = (async () => {
    while (hammering) await Promise.all(Array.from({ length: 20 }, () => client.get('hot')));
  })();
  await eventually('every shard holds the hot key', () => holding('hot') === 3);
  t.pass('three replicas under load');
  t.equal(holding('cold'), 2, 'a cold key keeps two');
  t.same([...((await client.get<ReadonlySet<string>>('hot')) ?? [])], ['v'], 'the value is intact');
  hammering = false;
  await hammer;

  await eventually('the hot key cooled back to two replicas', () => shards.filter((s) => s.holds('hot')).length === 2, 15_000);
  t.pass('two replicas after the cool-down');
});

t.test('a user can pin the replication of a key, and unpin it', async (t) => {
  const { shards, client } = await startCluster(t, { shards: 3, executors: 0, heartbeatMs: 200 });
  await client.put('pinned', new SetLattice(['v']));
  const holding = () => shards.filter((s) => s.holds('pinned') && s.localValue('pinned') !== undefined).length;
  await eventually('two replicas once every shard sees the same ring', () => holding() === 2);
  await client.setReplication('pinned', 3);
  await eventually('pinned on all three shards', () => holding() === 3);
  await client.setReplication('pinned', 1);
  await eventually('pinned to one shard', () => shards.filter((s) => s.holds('pinned')).length === 1);
  await client.setReplication('pinned', null);
  // A new owner gets the value by hand-off, a moment after it owns the key: wait for the value itself.
  await eventually('back to the default', () => holding() === 2);
  t.same([...((await client.get<ReadonlySet<string>>('pinned')) ?? [])], ['v'], 'the value survived every move');
  await t.rejects(client.setReplication('pinned', 0), { code: 'INVALID_ARGUMENT' });
});

t.test('a shard that has just become a replica answers a read before the hand-off reaches it', async (t) => {
  // Gossip rounds a minute apart: the hand-off cannot arrive during the test.
  const { nats, shards, client } = await startCluster(t, { shards: 3, executors: 0, heartbeatMs: 200, kvs: { gossipMs: 60_000 } });
  await client.put('moved', new SetLattice(['v']));
  await eventually('two replicas once every shard sees the same ring', () => shards.filter((s) => s.holds('moved')).length === 2);
  await client.setReplication('moved', 3);
  await eventually('every shard is a replica', () => shards.every((s) => s.holds('moved')));
  const newcomer = shards.find((s) => s.localValue('moved') === undefined);
  if (!newcomer) return t.fail('the new replica got the value before any read (a gossip round ran)');
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const get = async (local: boolean) => (await getFromShard(transport, newcomer.subject, ['moved'], { local }))[0]?.reveal();
  t.equal(await get(true), undefined, 'it does not hold the value yet');
  t.same(await get(false), new Set(['v']), 'a read asks the replicas it had before');
  t.same(newcomer.localValue('moved')?.reveal(), new Set(['v']), 'and keeps what it got');
});
