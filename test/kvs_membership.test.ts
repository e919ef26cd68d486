// Shard membership and the data lifecycle around it: a joiner that dies
// mid-join leaves every ring, deletes leave tombstones that replicas and
// restarts respect, a leaving shard retries its hand-off, and old owners drop
// the keys a join moved away.

import { join } from 'node:path';
import t, { type Test } from 'tap';
import { KvsNode } from '../kvs-node/kvs_node.js';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { kvsConfig } from '../lib/config.js';
import { decodeMessage } from '../lib/codec/index.js';
import { KVS_JOIN } from '../lib/kvs/protocol.js';
import { SetLattice } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import { startCluster, startShard } from './fixtures/cluster.js';
import { startNats } from './fixtures/nats.js';
import { getFromShard } from './fixtures/shard_get.js';
import { dataRoot, shardProcess as shardCli } from './fixtures/shard_process.js';
import { eventually } from './fixtures/eventually.js';

/** A shard as its own process (memory only unless `args` say otherwise), killed at teardown; not waited for. */
const shardProcess = (t: Test, natsUrl: string, id: string, args = ['--durability', 'none']) => shardCli(t, natsUrl, id, args, 'kill');

/** An in-process shard keeping its data in `dir`, stopped at teardown. */
async function durableShard(t: Test, natsUrl: string, id: string, dir: string, extra: Record<string, unknown> = {}): Promise<KvsNode> {
  const shard = await startShard(natsUrl, { id, dataDir: dir, durability: 'group', heartbeatMs: 200, ...extra });
  t.teardown(() => shard.stop());
  return shard;
}

const setOf = (shard: KvsNode, key: string) => [...((shard.localValue(key)?.reveal() as ReadonlySet<string> | undefined) ?? [])].sort();

/** Puts new set elements on `keys` keys until stopped; records what was acknowledged. */
function writeLoad(client: KvsClient, keys: number) {
  const acked = new Map<string, Set<string>>();
  const errors: unknown[] = [];
  let running = true;
  let n = 0;
  const worker = async (w: number): Promise<void> => {
    while (running) {
      const key = `k${n % keys}`;
      const element = `w${w}-${n++}`;
      try {
        await client.put(key, new SetLattice([element]));
      } catch (err) {
        errors.push(err);
        continue;
      }
      let set = acked.get(key);
      if (!set) acked.set(key, (set = new Set()));
      set.add(element);
    }
  };
  const workers = [0, 1, 2, 3].map(worker);
  return {
    acked,
    errors,
    ops: () => n,
    /** Stops without waiting (teardown of a failed test). */
    halt: () => void (running = false),
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** Every acknowledged element of every key, read back through the ring; what is missing. */
async function missing(client: KvsClient, acked: Map<string, Set<string>>): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(
    [...acked].map(async ([key, want]) => {
      const have = ((await client.get(key, { all: true }))?.reveal() as ReadonlySet<string> | undefined) ?? new Set<string>();
      for (const e of want) if (!have.has(e)) out.push(`${key}:${e}`);
    }),
  );
  return out;
}

t.test('a shard killed (SIGKILL) while joining leaves every ring; puts and gossip stop going to it', async (t) => {
  const { nats, shards } = await startCluster(t, { shards: 3, executors: 0, heartbeatMs: 200 });
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600, timeoutMs: 20_000 });
  t.teardown(() => client.close());
  const traffic = writeLoad(client, 300);
  t.teardown(traffic.halt);
  await eventually('some load ran', () => traffic.ops() > 600);

  // Pause the joiner the moment it asks a shard for its first page: the
  // shard registers it as joining and starts forwarding writes to it.
  const joinerId = 'kvs-joiner';
  let paused: () => void = () => {};
  const pulled = new Promise<void>((resolve) => (paused = resolve));
  const subs = shards.map((s) =>
    transport.subscribe(s.subject, (m) => {
      try {
        const msg = decodeMessage(m.data);
        if (msg.t === 'join' && msg['id'] === joinerId && msg['cursor'] === 0) {
          joiner.child.kill('SIGSTOP');
          paused();
        }
      } catch {
        // a chunk of a large message, not a join
      }
    }),
  );
  const joiner = shardProcess(t, nats.url, joinerId);
  await pulled;
  for (const sub of subs) sub.unsubscribe();
  await eventually('a shard sees the joiner as joining', () => shards.some((s) => s.ringMembers().some((m) => m.id === joinerId && m.state === 'joining')));
  joiner.child.kill('SIGKILL');
  await joiner.exited();

  await eventually('no shard has the dead joiner in its ring', () => shards.every((s) => !s.ringMembers().some((m) => m.id === joinerId)));
  await eventually('the client has it no more', () => !client.ringMembers().some((m) => m.id === joinerId));
  t.pass('the dead joiner left every ring');
  const afterKill = traffic.ops();
  await eventually('load ran on after the kill', () => traffic.ops() > afterKill + 600);
  await eventually('no shard keeps keys queued for the dead joiner', () => shards.every((s) => s.gossipBacklog === 0));
  t.pass('gossip stopped retrying it');
  await traffic.stop();
  t.same(traffic.errors, [], 'every put was acknowledged');
  t.same(await missing(client, traffic.acked), [], 'every acknowledged element is readable');
});

/**
 * Shard a in this process and shard b as its own process (replication 2:
 * both hold every key), and a client whose ring, like a's, has both. a is
 * stopped at teardown only if a test has not stopped it (a stop that hands
 * off must run before NATS stops, which teardowns do first); b is resumed
 * there in case a test left it paused.
 */
async function shardPair(t: Test) {
  const nats = await startNats(t);
  const a = await startShard(nats.url, { id: 'kvs-a', heartbeatMs: 200, handoffTimeoutMs: 10_000 });
  t.teardown(() => a.stop().catch(() => {}));
  const b = shardProcess(t, nats.url, 'kvs-b');
  t.teardown(() => void b.child.kill('SIGCONT'));
  await b.waitFor(/ready on/);
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600, timeoutMs: 20_000 });
  t.teardown(() => client.close());
  await eventually('a and the client have b in their rings', () => a.ringMembers().some((m) => m.id === 'kvs-b' && m.state === 'active') && client.ringMembers().length === 2);
  return { nats, a, b, transport, client };
}

t.test('a joiner whose peer stops answering mid-pull (SIGSTOP) skips it once it leaves the ring and starts; no key is lost', async (t) => {
  const { nats, a, b, transport, client } = await shardPair(t);
  // With replication 2 and two shards, both hold every key: the joiner's
  // pull from b takes several JOIN_PAGE (1000) pages.
  const keys = Array.from({ length: 3000 }, (_, i) => `p${i}`);
  await Promise.all(keys.map((key) => client.put(key, new SetLattice([key]))));
  await eventually('a holds every key and b acknowledged its gossip', () => a.localKeys === keys.length && a.gossipIdle, 20_000);

  // Pause b the moment the joiner asks it for its first page: that page or
  // the next gets no answer, as when a peer is paused mid-request.
  const joinerId = 'kvs-c';
  let sawPull: () => void = () => {};
  const pulled = new Promise<void>((resolve) => (sawPull = resolve));
  const sub = transport.subscribe(subjectsFor().kvsShard('kvs-b'), (m) => {
    try {
      const msg = decodeMessage(m.data);
      if (msg.t === KVS_JOIN && msg['id'] === joinerId) {
        b.child.kill('SIGSTOP');
        sawPull();
      }
    } catch {
      // a chunk of a large message, not a join
    }
  });
  t.teardown(() => void b.child.kill('SIGCONT'));
  const c = shardProcess(t, nats.url, joinerId);
  await pulled;
  sub.unsubscribe();

  // Member timeout (600 ms) plus one page attempt, with room for a busy machine.
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    c.waitFor(/ready on/).then(() => 'ready'),
    c.exited().then((code) => `exited ${code}`),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve('not ready after 15 s'), 15_000))),
  ]);
  clearTimeout(timer);
  t.equal(outcome, 'ready', 'the joiner started', { printed: c.lines });
  await eventually('the client has dropped b', () => !client.ringMembers().some((m) => m.id === 'kvs-b'), 10_000);
  await eventually('every key is readable', async () => (await missing(client, new Map(keys.map((k) => [k, new Set([k])]))).catch(() => ['a read failed'])).length === 0, 20_000);
  t.pass('every key is readable with b paused');
  await eventually('a has dropped b', () => !a.ringMembers().some((m) => m.id === 'kvs-b'));
  await t.resolves(a.stop(), 'a hands its keys to the joiner and stops');
});

t.test('a joiner whose peer stops answering for a moment, still in its ring, asks for the page again and gets it', async (t) => {
  const { nats, a, b, transport, client } = await shardPair(t);
  // Several pages: if b answers the first before it is paused, the next is lost.
  const keys = Array.from({ length: 3000 }, (_, i) => `q${i}`);
  await Promise.all(keys.map((key) => client.put(key, new SetLattice([key]))));
  await eventually('a holds every key and b acknowledged its gossip', () => a.localKeys === keys.length && a.gossipIdle, 20_000);

  // The joiner's member timeout is long, so b stays in its ring while
  // paused: its unanswered page must be asked again, not skipped. b is
  // paused at the joiner's first ask and resumed when a page is asked again.
  const joinerId = 'kvs-c';
  const asks: number[] = [];
  let repeated: number | undefined;
  const sub = transport.subscribe(subjectsFor().kvsShard('kvs-b'), (m) => {
    try {
      const msg = decodeMessage(m.data);
      if (msg.t !== KVS_JOIN || msg['id'] !== joinerId) return;
      const cursor = msg['cursor'] as number;
      if (asks.length === 0) b.child.kill('SIGSTOP');
      else if (repeated === undefined && asks.includes(cursor)) {
        repeated = cursor;
        b.child.kill('SIGCONT');
      }
      asks.push(cursor);
    } catch {
      // a chunk of a large message, not a join
    }
  });
  t.teardown(() => void b.child.kill('SIGCONT'));
  // Created apart from its start, so that it is stopped even if its start fails or hangs.
  const joiner = await KvsNode.create(kvsConfig({ nats: nats.url, durability: 'none', id: joinerId, heartbeatMs: 200, memberTimeoutMs: 20_000, handoffTimeoutMs: 10_000 }));
  t.teardown(() => joiner.stop().catch(() => {}));
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    joiner.start().then(
      () => 'ready',
      (err: unknown) => `failed: ${String(err)}`,
    ),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve('not ready after 20 s'), 20_000))),
  ]);
  clearTimeout(timer);
  sub.unsubscribe();
  t.equal(outcome, 'ready', 'the joiner started');
  t.not(repeated, undefined, `the unanswered page was asked again (asks at cursors ${asks.join(', ')})`);
  const own = keys.filter((k) => joiner.holds(k));
  t.ok(own.length > 0, `the joiner holds ${own.length} keys`);
  t.same(own.filter((k) => joiner.localValue(k) === undefined), [], 'it pulled every key it holds');
  await joiner.stop();
  await a.stop();
});

t.test('a shard paused past the member timeout answers no read from what it held before, until it has caught up', async (t) => {
  const { a, b, transport, client } = await shardPair(t);
  const keys = Array.from({ length: 20 }, (_, i) => `away${i}`);
  await Promise.all(keys.map((key) => client.put(key, new SetLattice(['old']))));
  const fromB = () => getFromShard(transport, subjectsFor().kvsShard('kvs-b'), keys);
  const has = (v: unknown, e: string) => ((v as { reveal(): ReadonlySet<string> } | undefined)?.reveal().has(e) ?? false);
  t.ok((await fromB()).every((v) => has(v, 'old')), 'b holds every key');

  b.child.kill('SIGSTOP');
  // The new values go to a alone (a put sent to b now would wait in its socket and reach it first).
  await eventually('a and the client take b for gone', () => !a.ringMembers().some((m) => m.id === 'kvs-b') && client.ringMembers().length === 1);
  await Promise.all(keys.map((key) => client.put(key, new SetLattice(['new']))));
  // Sent while b is stopped, these wait in its socket: the first thing b
  // does when it runs again is answer them, before any peer can bring it up
  // to date.
  const reads = fromB();
  await transport.flush();
  b.child.kill('SIGCONT');
  const answered = await reads;
  const stale = keys.filter((_, i) => has(answered[i], 'old') && !has(answered[i], 'new'));
  t.same(stale, [], 'no key answered from what b held before the pause (a refused read is retried elsewhere by clients)');
  await eventually('b catches up and serves reads again', async () => (await fromB()).every((v) => has(v, 'new')), 15_000);
});

t.test('a delete made while a replica is down stays deleted when it comes back from its data; a later put wins', async (t) => {
  const nats = await startNats(t);
  const root = await dataRoot(t);
  const a = await durableShard(t, nats.url, 'kvs-a', join(root, 'kvs-a'));
  const bProcess = shardProcess(t, nats.url, 'kvs-b', ['--data-dir', join(root, 'kvs-b')]);
  await bProcess.waitFor(/ready on/);
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600, timeoutMs: 20_000 });
  t.teardown(() => client.close());

  // A user key, a platform key (an effect log, deleted by delayed deletes) and one put again after its delete.
  const deleted = ['gone', '__cb/log/fn/req-1'];
  for (const key of [...deleted, 'again', 'kept']) await client.put(key, new SetLattice(['old']));
  const bSubject = subjectsFor().kvsShard('kvs-b');
  const onB = async (keys: string[]) => (await getFromShard(transport, bSubject, keys, { local: true })).map((v) => v?.reveal());
  t.same(await onB(['gone', 'again']), [new Set(['old']), new Set(['old'])], 'both replicas hold every key');

  bProcess.child.kill('SIGKILL');
  await bProcess.exited();
  for (const key of [...deleted, 'again']) await client.delete(key);
  await client.put('again', new SetLattice(['new']));
  t.same(setOf(a, 'gone'), [], 'deleted on the live replica');

  // Back from the same data directory, which still has the old values.
  const b = await durableShard(t, nats.url, 'kvs-b', join(root, 'kvs-b'));
  await eventually('every push between the replicas was acknowledged', () => a.gossipIdle && b.gossipIdle);
  for (const key of deleted) {
    t.same([setOf(a, key), setOf(b, key)], [[], []], `${key} stays deleted on both replicas`);
    t.equal(await client.get(key, { all: true }), undefined, `${key} reads as absent`);
  }
  t.same([setOf(a, 'again'), setOf(b, 'again')], [['new'], ['new']], 'the put after the delete is there, the deleted value is not');
  t.same(setOf(b, 'kept'), ['old'], 'an undeleted key is untouched');
});

t.test('with one replica, a leaving shard whose hand-off target is down for a moment retries until it is back: nothing is stranded', async (t) => {
  const nats = await startNats(t);
  const root = await dataRoot(t);
  const leaving = await startShard(nats.url, { id: 'kvs-a', replication: 1, heartbeatMs: 200 });
  t.teardown(() => leaving.stop().catch(() => {}));
  const targetArgs = ['--data-dir', join(root, 'kvs-b'), '--replication', '1'];
  const target = shardProcess(t, nats.url, 'kvs-b', targetArgs);
  await target.waitFor(/ready on/);
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600, timeoutMs: 20_000 });
  t.teardown(() => client.close());
  const keys = Array.from({ length: 200 }, (_, i) => `solo${i}`);
  await eventually('the client routes to both shards', () => client.ringMembers().length === 2);
  for (const key of keys) await client.put(key, new SetLattice([key]));
  const own = keys.filter((k) => leaving.holds(k) && leaving.localValue(k) !== undefined);
  t.ok(own.length > 0, `the leaving shard is the only copy of ${own.length} keys`);

  // The only shard that can take the keys is down (it restarts from its
  // data, as a supervisor would restart it) while they are handed off.
  target.child.kill('SIGKILL');
  await target.exited();
  t.ok(leaving.ringMembers().some((m) => m.id === 'kvs-b'), 'the target is in the ring as the leave starts');
  let settled = false;
  const stopping = leaving.stop().finally(() => (settled = true));
  stopping.catch(() => {}); // asserted below
  await eventually('a hand-off batch failed (or the shard stopped regardless)', () => settled || leaving.handoffFailures > 0, 20_000);
  const restarted = shardProcess(t, nats.url, 'kvs-b', targetArgs);
  await restarted.waitFor(/ready on/);
  await t.resolves(stopping, 'the leave completes once the target is back');
  const lost: string[] = [];
  for (const key of keys) {
    const got = (await client.get(key))?.reveal() as ReadonlySet<string> | undefined;
    if (!got?.has(key)) lost.push(key);
  }
  t.same(lost, [], 'every acknowledged key is readable after the leave');
});

t.test('a leaving shard whose only peer died stops with HandoffIncomplete after its deadline, not as if it had handed off', async (t) => {
  const nats = await startNats(t);
  const leaving = await startShard(nats.url, { id: 'kvs-a', replication: 1, heartbeatMs: 200, handoffTimeoutMs: 1500 });
  const peer = shardProcess(t, nats.url, 'kvs-b', ['--durability', 'none', '--replication', '1']);
  await peer.waitFor(/ready on/);
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600 });
  t.teardown(() => client.close());
  await eventually('the client routes to both shards', () => client.ringMembers().length === 2);
  const keys = Array.from({ length: 50 }, (_, i) => `solo${i}`);
  for (const key of keys) await client.put(key, new SetLattice([key]));
  const own = keys.filter((k) => leaving.holds(k)).length;

  peer.child.kill('SIGSTOP');
  t.ok(leaving.ringMembers().some((m) => m.id === 'kvs-b'), 'the peer is in the ring as the leave starts');
  const stopping = leaving.stop();
  await t.rejects(stopping, { code: 'HANDOFF_INCOMPLETE', data: { keys: own } }, 'the stop says the keys were not handed off');
  peer.child.kill('SIGKILL');
});

t.test('the last shard of a cluster that is stopping leaves at once, its data kept on disk', async (t) => {
  const nats = await startNats(t);
  const root = await dataRoot(t);
  const [a, b] = [await durableShard(t, nats.url, 'kvs-a', join(root, 'a'), { replication: 1 }), await durableShard(t, nats.url, 'kvs-b', join(root, 'b'), { replication: 1 })];
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600 });
  t.teardown(() => client.close());
  for (let i = 0; i < 20; i++) await client.put(`k${i}`, new SetLattice(['v']));
  await Promise.all([a.stop(), b.stop()]);
  t.pass('both stopped without waiting for a hand-off deadline');
});

t.test('after a join settles, every key is held by exactly its replicas; a lowered replication factor drops the extra copies', async (t) => {
  const { nats, shards, client: cb } = await startCluster(t, { shards: 3, executors: 0, heartbeatMs: 200 });
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600, timeoutMs: 20_000 });
  t.teardown(() => client.close());
  const keys = Array.from({ length: 300 }, (_, i) => `j${i}`);
  await Promise.all(keys.map((key) => client.put(key, new SetLattice([key]))));
  await client.delete('j0'); // a tombstone moves and is dropped like a value

  const joiner = await startShard(nats.url, { heartbeatMs: 200 });
  t.teardown(() => joiner.stop());
  const all = [...shards, joiner];
  const misplaced = () =>
    keys.filter((key) => {
      const replicas = all.filter((s) => s.holds(key));
      const holding = all.filter((s) => s.localValue(key) !== undefined);
      return key !== 'j0' && (replicas.length !== 2 || holding.length !== 2 || holding.some((s) => !replicas.includes(s)));
    });
  await eventually('every key is held by exactly its two replicas', () => misplaced().length === 0, 20_000);
  t.same(misplaced(), [], 'no old owner keeps a key it no longer replicates');
  t.ok(all.filter((s) => s.holds('j1')).includes(joiner) || keys.some((k) => joiner.holds(k)), 'the joiner took its share');
  t.equal(all.reduce((n, s) => n + s.localKeys, 0), 2 * (keys.length - 1), 'as many values in memory as replicas');
  t.same(await missing(client, new Map(keys.slice(1).map((k) => [k, new Set([k])]))), [], 'every key is readable');
  t.equal(await client.get('j0'), undefined, 'the deleted key stays deleted');

  await cb.setReplication('j1', 1);
  await eventually('one replica of j1 left, holding it', () => all.filter((s) => s.localValue('j1') !== undefined).length === 1 && all.filter((s) => s.holds('j1')).length === 1, 20_000);
  t.same([...(((await client.get('j1'))?.reveal() as Set<string>) ?? [])], ['j1'], 'the pinned key is readable from its one replica');
});
