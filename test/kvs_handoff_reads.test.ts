// A shard that has just become a replica of a key (a ring change) and does
// not hold it yet asks the replicas of the ring before the change. When
// those do not answer (paused, cut off), it cannot tell "absent" from "not
// here yet": it must say so (NoCapacity, which clients try again), never
// answer that an acknowledged key is absent; nor once they are gone from
// its ring (dead, or on the far side of a partition). Nor may it answer
// only what was written to it since it became a replica.

import t from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { request } from '../lib/actor/rpc.js';
import { deadlineIn } from '../lib/deadline.js';
import { KVS_BATCH, type KvsResult } from '../lib/kvs/protocol.js';
import { SetLattice } from '../lib/lattice/index.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { routerConfig } from '../lib/config.js';
import { subjectsFor } from '../lib/subjects.js';
import { RouterNode } from '../router/router_node.js';
import { startCluster, startShard } from './fixtures/cluster.js';
import { HashRing } from '../lib/kvs/hash_ring.js';
import { eventually } from './fixtures/eventually.js';
import { getFromShard } from './fixtures/shard_get.js';
import { startNats } from './fixtures/nats.js';
import { shardProcess } from './fixtures/shard_process.js';

t.test('a new replica whose previous replicas are paused, then gone from its ring, answers NoCapacity, not absent; then the value once they are back', async (t) => {
  const nats = await startNats(t);
  // Heartbeats a second apart: a paused shard stays in its peers' ring for 3 s, past a 500 ms peek.
  // Gossip rounds a minute apart: the hand-off cannot reach the new replica during the test.
  const ids = ['kvs-a', 'kvs-b', 'kvs-c'];
  const shards = ids.map((id) => shardProcess(t, nats.url, id, ['--gossip-ms', '60000', '--durability', 'none'], 'kill', 1000));
  await Promise.all(shards.map((s) => s.waitFor(/ready on/)));
  const router = await RouterNode.create(routerConfig({ nats: nats.url, heartbeatMs: 1000 }));
  await router.start();
  const client = await Cloudburst.connect({ servers: nats.url, timeoutMs: 10_000 });
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(async () => {
    for (const s of shards) if (s.child.exitCode === null) s.child.kill('SIGCONT');
    await transport.close();
    await client.close();
    await router.stop();
  });
  /** What shard `id` answers a get of `key` (`local`: only what it holds). */
  const ask = async (id: string, local: boolean): Promise<KvsResult> => {
    const op = local ? { op: 'get', key: 'moved', local } : { op: 'get', key: 'moved' };
    const body = (await request(transport, subjectsFor().kvsShard(id), KVS_BATCH, { ops: [op] }, deadlineIn(5000))) as { results: KvsResult[] };
    return body.results[0]!;
  };

  await client.put('moved', new SetLattice(['v']));
  const holders = async (): Promise<string[]> => {
    const answers = await Promise.all(ids.map((id) => ask(id, true)));
    return ids.filter((_, i) => answers[i]!.value !== undefined);
  };
  await eventually('two replicas hold the key', async () => (await holders()).length === 2);
  const before = await holders();
  const newcomer = ids.find((id) => !before.includes(id))!;
  await client.setReplication('moved', 3);
  await eventually('the third shard is a replica too (it no longer answers WrongShard)', async () => (await ask(newcomer, true)).error === undefined);
  t.equal((await ask(newcomer, true)).value, undefined, 'it does not hold the value yet');

  for (const id of before) shards[ids.indexOf(id)]!.child.kill('SIGSTOP');
  const answer = await ask(newcomer, false);
  t.equal(answer.error?.code, 'NO_CAPACITY', 'with the previous replicas silent, the read fails: it may not answer absent');
  t.equal(answer.value, undefined);
  // Past the member timeout they are gone from its ring, as shards on the far side of a partition are.
  await eventually(
    'once they are out of its ring, it still does not answer absent',
    // Refused as a new replica whose previous ones are gone, or as a shard hearing fewer than half of those it knows.
    async () => /none of them is in its ring|hears fewer than half/.test((await ask(newcomer, false)).error?.message ?? ''),
  );
  t.equal((await ask(newcomer, false)).value, undefined);

  for (const id of before) shards[ids.indexOf(id)]!.child.kill('SIGCONT');
  await eventually('once they answer, the read holds the value', async () => (await ask(newcomer, false)).value !== undefined);
  t.same((await ask(newcomer, false)).value?.reveal(), new Set(['v']));
});

t.test('a new replica that took a put before the hand-off reached it answers the merged value, not the put alone', async (t) => {
  // Gossip rounds a minute apart: the hand-off cannot arrive during the test.
  const { nats, shards, client } = await startCluster(t, { shards: 3, executors: 0, heartbeatMs: 200, kvs: { gossipMs: 60_000 } });
  await client.put('guests', new SetLattice(['ada', 'grace']));
  await eventually('two replicas once every shard sees the same ring', () => shards.filter((s) => s.holds('guests')).length === 2);
  await client.setReplication('guests', 3);
  await eventually('every shard is a replica', () => shards.every((s) => s.holds('guests')));
  const newcomer = shards.find((s) => s.localValue('guests') === undefined);
  if (!newcomer) return t.fail('the new replica got the value before any read (a gossip round ran)');
  // A put goes to every replica, the newcomer too: it then holds the put alone.
  await client.put('guests', new SetLattice(['edsger']));
  t.same(newcomer.localValue('guests')?.reveal(), new Set(['edsger']), 'it holds only the put');
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const [read] = await getFromShard(transport, newcomer.subject, ['guests']);
  t.same(read?.reveal(), new Set(['ada', 'edsger', 'grace']), 'a read merges what the previous replicas hold');
});

t.test('a joiner, once it serves, answers a key acknowledged by the shards that served it before (a writer with the ring before the join), not absent', async (t) => {
  // Gossip rounds a minute apart: the old replicas' forwarding cannot reach the joiner during the test.
  const { nats, shards } = await startCluster(t, { shards: 2, executors: 0, heartbeatMs: 200, kvs: { gossipMs: 60_000, replication: 2 } });
  const joiner = await startShard(nats.url, { heartbeatMs: 200, gossipMs: 60_000, replication: 2 });
  t.teardown(() => joiner.stop());
  const all = [...shards, joiner];
  // A key the joiner now serves with one of the old shards, which still takes writes of it.
  const hashRing = new HashRing(all.map((s) => s.id));
  const key = Array.from({ length: 200 }, (_, i) => `joined-${i}`).find((k) => hashRing.replicas(k, 2).includes(joiner.id))!;
  const kept = all.find((s) => s !== joiner && hashRing.replicas(key, 2).includes(s.id))!;
  await eventually('every shard sees the joiner serving', () => all.every((s) => s.holds(key) === hashRing.replicas(key, 2).includes(s.id)));
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  // A writer and a shard that both still have the ring before the join: the
  // writer puts to the old replicas, and a shard that shares its ring passes
  // nothing on (the writer wrote every replica it knows). Here: the put names
  // the shard's own ring, so the shard takes it as such a writer's.
  const ring = (kept as unknown as { ring: { version: unknown } }).ring.version;
  const put = (await request(transport, kept.subject, KVS_BATCH, { ops: [{ op: 'put', key, value: new SetLattice(['ada']) }], ring }, deadlineIn(5000))) as { results: KvsResult[] };
  t.equal(put.results[0]!.error, undefined, 'acknowledged by the old shard');
  t.equal(joiner.localValue(key), undefined, 'the joiner has not heard of it');
  const [read] = await getFromShard(transport, joiner.subject, [key]);
  t.same(read?.reveal(), new Set(['ada']), 'the joiner asks the shards that served the key before it');
});
