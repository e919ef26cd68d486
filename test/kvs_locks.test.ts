// The KVS's `lock` and `unlock` (lib/kvs/locks.ts, kvs-node/lock_rule.ts):
// no-wait grants decided by the lock record's primary, on every replica
// before the answer, leases that lapse by themselves, records that go away,
// and a primary stopped after a grant leaving the holder with the shard that
// takes over.

import t from 'tap';
import { RingView } from '../lib/kvs/ring_view.js';
import { LOCK_FIELD, lockKey, parseLock } from '../lib/kvs/locks.js';
import type { MapLattice, Lattice } from '../lib/lattice/index.js';
import type { KvsNode } from '../kvs-node/kvs_node.js';
import { startShard } from './fixtures/cluster.js';
import { kvsClient } from './fixtures/kvs_client.js';
import { eventually } from './fixtures/eventually.js';
import { startNats } from './fixtures/nats.js';

const ownerAt = (shard: KvsNode, key: string) => parseLock((shard.localValue(lockKey(key)) as MapLattice<Lattice> | undefined)?.get(LOCK_FIELD)).owner;

t.test('no-wait grants, re-grants to the holder, release, lapse, and records that go away', async (t) => {
  const nats = await startNats(t);
  const shards = [await startShard(nats.url), await startShard(nats.url), await startShard(nats.url)];
  const stopped = new Set<KvsNode>();
  t.teardown(async () => {
    for (const s of shards) if (!stopped.has(s)) await s.stop();
  });
  const kvs = await kvsClient(t, nats.url);
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

// The fence of serializable commits (lib/kvs/locks.ts, `seal`): a holder
// stalled past its lease cannot seal, and a sealed lock stays its holder's
// past its lease until the holder, or a release naming the seal's token,
// frees it. (Before seals, a holder that resumed after its lease lapsed
// committed over the next holder's update.)
t.test('seal: refused once the lease lapsed or at another generation; a sealed lock outlives its lease until released', async (t) => {
  const nats = await startNats(t);
  const shards = [await startShard(nats.url), await startShard(nats.url), await startShard(nats.url)];
  t.teardown(async () => {
    for (const s of shards) await s.stop();
  });
  const kvs = await kvsClient(t, nats.url);
  const backstop = () => Date.now() + 60_000;
  // Leases past by a margin on the shards' clock (the same machine's): waiting for the lapse is what is tested.
  const lapse = async (until: number) => new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 100));

  // A lease that lapsed, nobody else holding it: no seal.
  const a = await kvs.lock('s1', 'A', Date.now() + 300);
  await lapse(a.until);
  const late = await kvs.seal('s1', 'A', a.generation, 'tokA', backstop());
  t.equal(late.seal, undefined, 'a holder whose lease lapsed cannot seal, even with nobody else holding the lock');
  t.ok(late.until <= a.until, 'and the lapsed lease is not pushed back');

  // A lease that lapsed and went to another owner: no seal, and the answer names the holder.
  const b = await kvs.lock('s2', 'A', Date.now() + 300);
  await lapse(b.until);
  const other = await kvs.lock('s2', 'B', Date.now() + 5_000);
  t.equal(other.owner, 'B');
  const stolen = await kvs.seal('s2', 'A', b.generation, 'tokA', backstop());
  t.equal(stolen.owner, 'B', 'a seal after the lock went to another owner is refused');
  t.equal(stolen.seal, undefined);

  // Held at another generation (released and granted again): no seal with the old one.
  const c1 = await kvs.lock('s3', 'A', Date.now() + 5_000);
  await kvs.unlock('s3', 'A');
  const c2 = await kvs.lock('s3', 'A', Date.now() + 5_000);
  t.not(c2.generation, c1.generation);
  t.equal((await kvs.seal('s3', 'A', c1.generation, 'tokA', backstop())).seal, undefined, 'a seal at a generation the holder no longer holds is refused');
  t.equal((await kvs.seal('s3', 'A', c2.generation, 'tokA', backstop())).seal, 'tokA', 'at the generation held, it seals');

  // Sealed in time: held past its lease, renewals keep the seal, others are refused.
  const d = await kvs.lock('s4', 'A', Date.now() + 300);
  const sealed = await kvs.seal('s4', 'A', d.generation, 'tokA', backstop());
  t.equal(sealed.owner, 'A');
  t.equal(sealed.seal, 'tokA', 'a lock held at its generation within its lease seals');
  t.equal(sealed.generation, d.generation, 'at the same generation');
  t.equal((await kvs.seal('s4', 'A', d.generation, 'tokA', backstop())).seal, 'tokA', 'sealing again is harmless');
  await lapse(d.until);
  t.equal((await kvs.lock('s4', 'B', Date.now() + 5_000)).owner, 'A', 'after its lease time the sealed lock is not granted to another owner');
  const renewed = await kvs.lock('s4', 'A', Date.now() + 300);
  t.equal(renewed.seal, 'tokA', 'a renewal by the holder keeps the seal');
  t.equal(renewed.generation, d.generation);
  t.equal((await kvs.unlock('s4', 'A', undefined, 'another-token')).owner, 'A', 'a release naming another seal token does nothing');
  t.equal((await kvs.unlock('s4', 'B')).owner, 'A', 'nor one by another owner');
  const freed = await kvs.unlock('s4', 'A', undefined, 'tokA');
  t.equal(freed.owner, undefined, 'a release naming its token frees it (the collector\'s)');
  t.equal((await kvs.lock('s4', 'B', Date.now() + 5_000)).owner, 'B', 'then another owner gets it');

  // The holder's own release frees a sealed lock too (the committer, its commit complete).
  const e = await kvs.lock('s5', 'A', Date.now() + 5_000);
  await kvs.seal('s5', 'A', e.generation, 'tokA', backstop());
  t.equal((await kvs.unlock('s5', 'A')).owner, undefined, 'the holder releases its sealed lock');

  // Unsealed locks are as before: a lease lapses by itself.
  const f = await kvs.lock('s6', 'A', Date.now() + 300);
  await lapse(f.until);
  t.equal((await kvs.lock('s6', 'B', Date.now() + 5_000)).owner, 'B', 'an unsealed lock still lapses with its lease');
});
