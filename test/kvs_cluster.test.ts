// Several shards over real NATS: replicas hold the join of every acknowledged
// write, gossip repairs a replica a write missed, and shards joining or
// leaving under load lose nothing and never leave a key unreadable.

import t from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { request } from '../lib/actor/rpc.js';
import type { Cloudburst } from '../lib/client/cloudburst.js';
import { deadlineIn } from '../lib/deadline.js';
import { KVS_BATCH } from '../lib/kvs/protocol.js';
import { SetLattice } from '../lib/lattice/index.js';
import type { KvsNode } from '../kvs-node/kvs_node.js';
import { startCluster, startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

const holders = (shards: KvsNode[], key: string) => shards.filter((s) => s.holds(key));
const elements = (shard: KvsNode, key: string) => [...((shard.localValue(key)?.reveal() as ReadonlySet<string> | undefined) ?? [])].sort();

/** Keeps writing new set elements and reading acknowledged ones until stopped; counts what went wrong. */
function load(client: Cloudburst, keys: number) {
  const acked = new Map<string, Set<string>>();
  const problems: string[] = [];
  let running = true;
  let n = 0;
  const worker = async (w: number): Promise<void> => {
    while (running) {
      const key = `k${n % keys}`;
      const element = `w${w}-${n++}`;
      await client.put(key, new SetLattice([element]));
      let set = acked.get(key);
      if (!set) acked.set(key, (set = new Set()));
      set.add(element);
      const probe = [...acked.keys()][n % acked.size]!;
      const want = [...acked.get(probe)!];
      const have = (await client.get<ReadonlySet<string>>(probe)) ?? new Set<string>();
      // Reads go to one replica: every acknowledged element must be there.
      const missing = want.filter((e) => !have.has(e));
      if (missing.length > 0) problems.push(`${probe} lacks ${missing.join(',')}`);
    }
  };
  const workers = [0, 1, 2, 3].map(worker);
  return {
    acked,
    problems,
    ops: () => n,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

t.test('concurrent writers on shared keys: every replica holds the join of all acknowledged writes', async (t) => {
  const { shards, client } = await startCluster(t, { shards: 3, executors: 0 });
  const writers = await Promise.all([0, 1, 2, 3].map(async (w) => {
    const acked: [string, string][] = [];
    for (let i = 0; i < 60; i++) {
      const key = `shared${i % 10}`;
      await client.put(key, new SetLattice([`w${w}-${i}`]));
      acked.push([key, `w${w}-${i}`]);
    }
    return acked;
  }));
  const expected = new Map<string, string[]>();
  for (const [key, e] of writers.flat()) expected.set(key, [...(expected.get(key) ?? []), e]);
  for (const [key, want] of expected) {
    const replicas = holders(shards, key);
    t.equal(replicas.length, 2, `${key} has two replicas`);
    for (const r of replicas) t.same(elements(r, key), want.sort(), `${key} at ${r.id}`);
  }
});

t.test('a write that reached one replica reaches the other by gossip', async (t) => {
  const { nats, shards } = await startCluster(t, { shards: 3, executors: 0 });
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const key = 'gossiped';
  const [first, second] = holders(shards, key);
  // As a client with an out-of-date ring would: one replica only.
  await request(transport, first!.subject, KVS_BATCH, { ops: [{ op: 'put', key, value: new SetLattice(['x']) }], ring: -1 }, deadlineIn(5000));
  t.same(elements(first!, key), ['x']);
  await eventually('the second replica has the write', () => elements(second!, key).length === 1);
  t.same(elements(second!, key), ['x']);
});

t.test('a shard joining under load: no acknowledged write is lost or unreadable, and it takes its share', async (t) => {
  const { nats, shards, client } = await startCluster(t, { shards: 2, executors: 0 });
  const traffic = load(client, 200);
  await eventually('some load ran', () => traffic.ops() > 400);
  const joiner = await startShard(nats.url);
  t.teardown(() => joiner.stop());
  const atJoin = traffic.ops();
  await eventually('load ran on after the join', () => traffic.ops() > atJoin + 400);
  await traffic.stop();
  t.same(traffic.problems, [], 'every read saw every acknowledged write');
  const all = [...shards, joiner];
  let taken = 0;
  for (const [key, want] of traffic.acked) {
    const replicas = holders(all, key);
    t.equal(replicas.length, 2, `${key} has two replicas`);
    for (const r of replicas) t.same(elements(r, key), [...want].sort(), `${key} complete at ${r.id}`);
    if (replicas.includes(joiner)) taken++;
  }
  t.ok(taken > 0, `the new shard holds ${taken} of ${traffic.acked.size} keys`);
});

t.test('a shard leaving under load hands its data off: nothing lost, replication restored', async (t) => {
  const { shards, client } = await startCluster(t, { shards: 3, executors: 0 });
  const traffic = load(client, 200);
  await eventually('some load ran', () => traffic.ops() > 400);
  const leaving = shards[2]!;
  await leaving.stop();
  const atLeave = traffic.ops();
  await eventually('load ran on after the leave', () => traffic.ops() > atLeave + 400);
  await traffic.stop();
  t.same(traffic.problems, [], 'every read saw every acknowledged write');
  const left = shards.slice(0, 2);
  await eventually('survivors agree they hold every key', () => [...traffic.acked.keys()].every((k) => holders(left, k).length === 2));
  for (const [key, want] of traffic.acked) {
    for (const r of holders(left, key)) t.same(elements(r, key), [...want].sort(), `${key} complete at ${r.id}`);
  }
});

t.test('with one replica per key, a leaving shard is the only copy and hands every key off', async (t) => {
  const { shards, client } = await startCluster(t, { shards: 2, executors: 0, kvs: { replication: 1 } });
  for (let i = 0; i < 100; i++) await client.put(`solo${i}`, new SetLattice([`v${i}`]));
  const leaving = shards[1]!;
  const own = Array.from({ length: 100 }, (_, i) => `solo${i}`).filter((k) => leaving.holds(k));
  t.ok(own.length > 0, `the leaving shard holds ${own.length} keys alone`);
  await leaving.stop();
  for (let i = 0; i < 100; i++) t.same([...((await client.get<ReadonlySet<string>>(`solo${i}`)) ?? [])], [`v${i}`], `solo${i} readable`);
});
