// The KVS's `lock` and `unlock` (lib/kvs/locks.ts, kvs-node/lock_rule.ts):
// no-wait grants decided by the lock record's primary, on every replica
// before the answer, leases that lapse by themselves, records that go away,
// and a primary stopped after a grant leaving the holder with the shard that
// takes over.

import t, { type Test } from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { RingView } from '../lib/kvs/ring_view.js';
import { LOCK_FIELD, lockKey, parseLock } from '../lib/kvs/locks.js';
import type { MapLattice, Lattice } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import type { KvsNode } from '../kvs-node/kvs_node.js';
import { startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { startNats } from './fixtures/nats.js';

async function client(t: Test, url: string): Promise<KvsClient> {
  const transport = await NatsTransport.connect({ servers: url });
  const kvs = new KvsClient(transport, subjectsFor());
  t.teardown(async () => {
    kvs.close();
    await transport.close();
  });
  return kvs;
}

const ownerAt = (shard: KvsNode, key: string) => parseLock((shard.localValue(lockKey(key)) as MapLattice<Lattice> | undefined)?.get(LOCK_FIELD)).owner;

t.test('no-wait grants, re-grants to the holder, release, lapse, and records that go away', async (t) => {
  const nats = await startNats(t);
  const shards = [await startShard(nats.url), await startShard(nats.url), await startShard(nats.url)];
  const stopped = new Set<KvsNode>();
  t.teardown(async () => {
    for (const s of shards) if (!stopped.has(s)) await s.stop();
  });
  const kvs = await client(t, nats.url);
  const soon = () => Date.now() + 5_000;

  const a = await kvs.lock('k', 'A', soon());
  t.equal(a.owner, 'A', 'a free lock is granted');
  const replicas = shards.filter((s) => s.holds(lockKey('k')));
  t.same(replicas.map((s) => ownerAt(s, 'k')), ['A', 'A'], 'every replica holds the grant when it is answered');
  const b = await kvs.lock('k', 'B', soon());
  t.equal(b.owner, 'A', 'another owner is answered with the holder at once');
  const again = await kvs.lock('k', 'A', soon() + 1_000);
  t.equal(again.generation, a.generation, 'a re-grant to the holder keeps the generation');
  t.ok(again.until > a.until, 'and pushes the lease back');
  const racing = await Promise.all(['C', 'D', 'E', 'F'].map((o) => kvs.lock('r', o, soon())));
  t.equal(new Set(racing.map((s) => s.owner)).size, 1, 'owners racing for one lock all hear one holder');

  const freed = await kvs.unlock('k', 'A');
  t.equal(freed.owner, undefined, 'the holder releases it');
  t.ok(freed.generation > a.generation, 'a release moves the generation on');
  t.equal((await kvs.unlock('k', 'A')).generation, freed.generation, 'a repeated release changes nothing');
  const b2 = await kvs.lock('k', 'B', soon());
  t.equal(b2.owner, 'B', 'then another owner gets it');
  t.ok(b2.generation > freed.generation, 'at a later generation');
  t.equal((await kvs.unlock('k', 'A')).owner, 'B', 'a release by a non-holder does nothing');

  const short = await kvs.lock('lapse', 'X', Date.now() + 300);
  t.equal(short.owner, 'X');
  t.equal((await kvs.lock('lapse', 'Y', soon())).owner, 'X', 'held while the lease runs');
  await new Promise((r) => setTimeout(r, 350));
  const y = await kvs.lock('lapse', 'Y', Date.now() + 300);
  t.equal(y.owner, 'Y', 'a lapsed lease is granted to the next owner');
  t.ok(y.generation > short.generation);

  // The record expires with its lease (a free one a moment after its release): none is kept.
  await eventually('the lapsed record is gone from every shard', () => shards.every((s) => s.localValue(lockKey('lapse')) === undefined), 5_000);
  await kvs.unlock('k', 'B');
  // An expiry only moves later: the released record goes at the last lease it carried (B's, 5 s).
  await eventually('the released record is gone from every shard', () => shards.every((s) => s.localValue(lockKey('k')) === undefined), 10_000);

  // The primary of the lock record leaves: the shard that takes over knows the holder.
  const held = await kvs.lock('p', 'H', Date.now() + 20_000);
  t.equal(held.owner, 'H');
  const ring = new RingView();
  ring.update(kvs.ringMembers());
  const leaving = shards.find((s) => s.id === ring.readReplicas(lockKey('p'))[0]!.id)!;
  t.equal(ownerAt(leaving, 'p'), 'H');
  stopped.add(leaving);
  await leaving.stop();
  const after = await kvs.lock('p', 'I', Date.now() + 5_000, Date.now() + 15_000);
  t.equal(after.owner, 'H', 'after the primary left, the lock is still its holder\'s');
  t.equal(after.generation, held.generation);
});
