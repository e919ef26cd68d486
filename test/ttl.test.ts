// Key lifetimes end to end (docs/kvs.md, "Lifetimes"): a key put with a ttl
// reads as absent after it from the client, from every replica and from a
// function whose executor had it cached; a replica that missed the put, or
// a shard restarted from its data directory, does not bring it back; later
// puts combine with the expiry as documented; bad ttls and the call modes
// that cannot take one are refused.

import { join } from 'node:path';
import t, { type Test } from 'tap';
import { request } from '../lib/actor/rpc.js';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { deadlineIn } from '../lib/deadline.js';
import type { Cb } from '../lib/function_api.js';
import { KVS_BATCH } from '../lib/kvs/protocol.js';
import { SetLattice } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import type { KvsNode } from '../kvs-node/kvs_node.js';
import { startCluster, startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { startNats } from './fixtures/nats.js';
import { dataRoot, shardProcess } from './fixtures/shard_process.js';

const holders = (shards: KvsNode[], key: string): KvsNode[] => shards.filter((s) => s.holds(key));
const sorted = (value: unknown): unknown[] => [...((value as ReadonlySet<unknown> | undefined) ?? [])].sort();

/** An in-process shard keeping its data in `dir`, stopped at teardown. */
async function durableShard(t: Test, natsUrl: string, id: string, dir: string): Promise<KvsNode> {
  const shard = await startShard(natsUrl, { id, dataDir: dir, durability: 'group', heartbeatMs: 200 });
  t.teardown(() => shard.stop().catch(() => {}));
  return shard;
}

async function kvsClient(t: Test, natsUrl: string): Promise<{ client: KvsClient; transport: NatsTransport }> {
  const transport = await NatsTransport.connect({ servers: natsUrl });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600, timeoutMs: 20_000 });
  t.teardown(() => client.close());
  return { client, transport };
}

t.test('a key put with a ttl is gone after it: for the client, on every replica, and for a function whose executor cached it', async (t) => {
  const { client, shards, executors } = await startCluster(t, { shards: 2, executors: 1, threads: 1 });
  await client.register('read', async (cb: Cb, key: string) => cb.get(key));
  await client.put('plain', 'stays');
  // Long enough for two calls before it ends on a loaded machine.
  const ttlMs = 6000;
  const before = Date.now();
  await client.put('session', { user: 'ada' }, { ttlMs });
  for (const shard of shards) t.ok(shard.localExpiresAt('session') >= before + ttlMs, `${shard.id} holds the expiry with the value`);
  t.same(await client.call('read', ['session']), { user: 'ada' }, 'a function reads it, and its executor caches it');
  const cache = executors[0]!;
  const hits = cache.cacheStats.hits;
  t.same(await client.call('read', ['session']), { user: 'ada' });
  t.ok(cache.cacheStats.hits > hits, 'the second read was served by the cache');

  await eventually('the client reads the key as absent', async () => (await client.get('session')) === undefined, 15_000);
  t.ok(Date.now() >= before + ttlMs, 'not before its lifetime');
  t.equal(await client.get('session', { all: true }), undefined, 'every replica reads it as absent');
  for (const shard of shards) t.equal(shard.localValue('session'), undefined, `${shard.id} holds no value`);
  const misses = cache.cacheStats.misses;
  t.equal(await client.call('read', ['session']), undefined, 'the function reads it as absent too');
  t.ok(cache.cacheStats.misses > misses, 'its cached copy was not served: the read missed and asked the KVS');
  t.equal(await client.call('read', ['plain']), 'stays', 'keys without a ttl stay');
  await eventually('the shards folded the expiry into a tombstone', () => shards.every((s) => s.localExpiresAt('session') === 0));
});

t.test('a ttl put elsewhere reaches a cached copy with its expiry, in the merge push', async (t) => {
  const { client, executors } = await startCluster(t, { shards: 1, executors: 1, threads: 1 });
  await client.register('read', async (cb: Cb, key: string) => cb.get(key));
  await client.put('config', new SetLattice(['a']));
  t.same(sorted(await client.call('read', ['config'])), ['a'], 'cached, without an expiry');
  await client.put('config', new SetLattice(['b']), { ttlMs: 4000 });
  await eventually('the push reached the cache', async () => sorted(await client.call('read', ['config'])).length === 2);
  const cache = executors[0]!;
  await eventually('the key expired in the KVS', async () => (await client.get('config')) === undefined);
  const misses = cache.cacheStats.misses;
  t.equal(await client.call('read', ['config']), undefined, 'the cached copy took the expiry from the push: not served');
  t.ok(cache.cacheStats.misses > misses);
});

t.test('a key nobody reads is folded into a tombstone by each shard on its own', async (t) => {
  const { client, shards } = await startCluster(t, { shards: 2, executors: 0 });
  await client.put('unread', new SetLattice(['x']), { ttlMs: 1500 });
  t.ok(shards.every((s) => s.localExpiresAt('unread') > 0));
  // localExpiresAt reads no value, so only the shards' sweep takes the expiry away.
  await eventually('both shards swept the expiry into a tombstone', () => shards.every((s) => s.localExpiresAt('unread') === 0), 10_000);
  t.same(shards.map((s) => s.localValue('unread')), [undefined, undefined]);
});

t.test('a function puts with a ttl: it reads its own write, then nobody does', async (t) => {
  const { client } = await startCluster(t, { executors: 1, threads: 2 });
  await client.register('remember', async (cb: Cb, key: string, ttlMs: number) => {
    await cb.put(key, 'for a while', { ttlMs });
    return cb.get(key);
  });
  await client.register('read', async (cb: Cb, key: string) => cb.get(key));
  t.equal(await client.call('remember', ['note', 2000]), 'for a while');
  await eventually('the function reads it as absent', async () => (await client.call('read', ['note'])) === undefined);
  t.equal(await client.get('note', { all: true }), undefined);
  // A repeatable-read call keeps the version it pinned (its own write) until it ends, past the expiry.
  await client.register('outlive', async (cb: Cb, key: string, ttlMs: number) => {
    await cb.put(key, 'pinned', { ttlMs });
    const until = Date.now() + ttlMs + 50;
    while (Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    return cb.get(key);
  });
  t.equal(await client.call('outlive', ['rr-key', 300], { consistency: 'rr' }), 'pinned', 'rr: the call reads its pinned version past the expiry');
  t.equal(await client.call('outlive', ['lww-key', 300]), undefined, 'lww: the call reads it as absent after the expiry');
});

t.test('later puts: without a ttl the expiry is kept, a longer ttl pushes it back, a delete does not cancel it, after it a put starts afresh', async (t) => {
  const { client, shards } = await startCluster(t, { shards: 2, executors: 0 });

  // Ttls long enough for the next steps to come before the expiry on a loaded machine.
  await client.put('kept', new SetLattice(['a']), { ttlMs: 2000 });
  await client.put('kept', new SetLattice(['b']));
  t.same(sorted(await client.get('kept')), ['a', 'b'], 'the values merge');
  for (const shard of shards) t.ok(shard.localExpiresAt('kept') > 0, `${shard.id}: the put without a ttl kept the expiry`);
  await eventually('the key is gone at the expiry, the value put without a ttl too', async () => (await client.get('kept', { all: true })) === undefined);
  await client.put('kept', new SetLattice(['c']));
  t.same(sorted(await client.get('kept', { all: true })), ['c'], 'a put after the expiry starts afresh');
  for (const shard of shards) t.equal(shard.localExpiresAt('kept'), 0, `${shard.id}: and it does not expire`);

  await client.put('pushed', 'short', { ttlMs: 1000 });
  const first = shards[0]!.localExpiresAt('pushed');
  const longer = Date.now();
  await client.put('pushed', 'long', { ttlMs: 60_000 });
  await client.put('pushed', 'shorter again', { ttlMs: 300 });
  for (const shard of shards) t.ok(shard.localExpiresAt('pushed') >= longer + 60_000, `${shard.id}: the later expiry wins`);
  await eventually('the first expiry passed', () => Date.now() > first + 100);
  t.equal(await client.get('pushed', { all: true }), 'shorter again', 'the key is still there');

  await client.put('deleted', 'x', { ttlMs: 2000 });
  await client.delete('deleted');
  await client.put('deleted', 'y');
  t.equal(await client.get('deleted'), 'y');
  await eventually('the expiry set before the delete still deletes the key', async () => (await client.get('deleted', { all: true })) === undefined);
});

t.test('a replica that missed the put gets the expiry by gossip, and expires the key too', async (t) => {
  const { nats, shards } = await startCluster(t, { shards: 3, executors: 0 });
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const key = 'gossiped';
  const [first, second] = holders(shards, key);
  const expiresAt = Date.now() + 3000;
  // As a client with an out-of-date ring would: one replica only, which passes it on.
  await request(transport, first!.subject, KVS_BATCH, { ops: [{ op: 'put', key, value: new SetLattice(['x']), expiresAt }], ring: -1 }, deadlineIn(5000));
  await eventually('the other replica has the value and its expiry', () => second!.localExpiresAt(key) === expiresAt);
  await eventually('both replicas expire the key', () => first!.localValue(key) === undefined && second!.localValue(key) === undefined);
  t.ok(Date.now() >= expiresAt, 'not before its expiry');
  await eventually('both hold the tombstone stamped at the expiry', () => [first!, second!].every((s) => s.localExpiresAt(key) === 0));
  t.equal(second!.localValue(key), undefined);
});

t.test('a shard restarted from its data directory after the expiry does not bring the key back', async (t) => {
  const nats = await startNats(t);
  const root = await dataRoot(t);
  const { client } = await kvsClient(t, nats.url);
  const alone = await startShard(nats.url, { id: 'kvs-alone', dataDir: join(root, 'alone'), durability: 'group', heartbeatMs: 200 });
  await client.put('brief', new SetLattice(['v']), { ttlMs: 2000 });
  const expiresAt = alone.localExpiresAt('brief');
  t.ok(expiresAt > 0);
  // The only shard stops with the value and its expiry on disk (nobody to hand it to).
  await alone.stop();
  await eventually('the expiry passed while the shard was down', () => Date.now() > expiresAt);
  const again = await durableShard(t, nats.url, 'kvs-alone', join(root, 'alone'));
  t.equal(again.localValue('brief'), undefined, 'the expiry was on disk with the value');
  t.equal(await client.get('brief', { all: true }), undefined);
});

t.test('a replica down during a put with a ttl, back from its data after the expiry, drops its older value', async (t) => {
  const nats = await startNats(t);
  const root = await dataRoot(t);
  const a = await durableShard(t, nats.url, 'kvs-a', join(root, 'kvs-a'));
  const bProcess = shardProcess(t, nats.url, 'kvs-b', ['--data-dir', join(root, 'kvs-b')], 'kill');
  await bProcess.waitFor(/ready on/);
  const { client } = await kvsClient(t, nats.url);
  await client.put('k', new SetLattice(['old']));
  bProcess.child.kill('SIGKILL');
  await bProcess.exited();
  // A put while the client still routes to b waits for b to leave its ring and goes
  // again, with the expiry it computed at first.
  const ttlMs = 60_000;
  const before = Date.now();
  await client.put('retried', new SetLattice(['r']), { ttlMs });
  t.ok(Date.now() - before >= 100, 'the put went again');
  t.ok(a.localExpiresAt('retried') <= before + ttlMs + 1, 'with the expiry of its first attempt');
  // b's data directory keeps {old}, written without a ttl; the put with one reaches a alone
  // (once the client takes b for gone: until then the put waits for b, and its ttl runs).
  await eventually('the client takes b for gone', () => client.ringMembers().length === 1);
  await client.put('k', new SetLattice(['new']), { ttlMs: 2000 });
  const expiresAt = a.localExpiresAt('k');
  t.ok(expiresAt > 0, 'the live replica holds the expiry');
  await eventually('the key expired on the live replica', () => a.localValue('k') === undefined);
  const b = await durableShard(t, nats.url, 'kvs-b', join(root, 'kvs-b'));
  await eventually('every push between the replicas was acknowledged', () => a.gossipIdle && b.gossipIdle);
  t.same([a.localValue('k'), b.localValue('k')], [undefined, undefined], 'neither replica holds a value: b took the tombstone the expiry left');
  t.equal(await client.get('k', { all: true }), undefined);
});

t.test('a bad ttl is refused, and so is a ttl in atomic, exactly-once and causal calls', async (t) => {
  const { nats, client } = await startCluster(t, { executors: 1 });
  const { client: kvs } = await kvsClient(t, nats.url);
  for (const ttlMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, '300' as unknown as number]) {
    await t.rejects(client.put('k', 'v', { ttlMs }), { code: 'INVALID_ARGUMENT', message: /ttlMs must be a positive finite number/ }, `client: ${String(ttlMs)}`);
    await t.rejects(kvs.put('k', new SetLattice(['v']), { ttlMs }), { code: 'INVALID_ARGUMENT' }, `KvsClient: ${String(ttlMs)}`);
  }
  await t.rejects(client.put('k', 'v', 300 as never), { code: 'INVALID_ARGUMENT', message: /options must be an object/ });
  t.equal(await client.get('k'), undefined, 'nothing was written');

  await client.register('putFor', async (cb: Cb, ttlMs: number) => {
    await cb.put('f', 'v', { ttlMs });
    return 'put';
  });
  await t.rejects(client.call('putFor', [0]), { code: 'INVALID_ARGUMENT', message: /ttlMs must be a positive finite number/ }, 'in a function');
  for (const [mode, opts] of [
    ['atomic', { atomic: true }],
    ['exactly-once', { exactlyOnce: true }],
    ['causal', { consistency: 'causal' }],
  ] as const) {
    await t.rejects(client.call('putFor', [60_000], opts), { code: 'INVALID_ARGUMENT', message: new RegExp(`not supported in ${mode} calls`) }, mode);
  }
  t.equal(await client.get('f'), undefined, 'no refused put was written');
  t.equal(await client.call('putFor', [60_000]), 'put', 'a plain call may');
});
