// A shard that loses sight of a key's replicas (they went silent: paused
// here, as a NATS partition or a clock jump also makes them look) becomes a
// replica of that key in its own view of the ring. Until their hand-off
// reaches it, it knows nothing of the key's writes: it must neither answer
// a read of it (as absent, or from a copy left from an earlier time it held
// the key) nor decide a field of it alone. Under the fault harness such a
// shard read exactly-once counters as 0, or as an old value, and the calls
// routed to it wrote them back: increments lost, results repeated.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { request } from '../lib/actor/rpc.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { deadlineIn } from '../lib/deadline.js';
import { KVS_BATCH, KVS_GOSSIP, type KvsResult } from '../lib/kvs/protocol.js';
import { PriorityLattice, SetLattice, type Lattice } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import type { KvsNode } from '../kvs-node/kvs_node.js';
import { startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { startNats } from './fixtures/nats.js';
import { dataRoot, shardProcess } from './fixtures/shard_process.js';

/** What shard `id` answers one op sent straight to it: its value, `absent`, or `error <code>`. */
async function askShard(transport: NatsTransport, id: string, op: Record<string, unknown>): Promise<string> {
  const body = (await request(transport, subjectsFor().kvsShard(id), KVS_BATCH, { ops: [op] }, deadlineIn(5_000))) as { results: KvsResult[] };
  const r = body.results[0]!;
  if (r.error) return `error ${r.error.code}`;
  return r.value ? `value ${JSON.stringify(show(r.value))}` : 'absent';
}

const show = (v: Lattice): unknown => {
  const revealed = v.reveal();
  return revealed instanceof Set ? [...(revealed as Set<unknown>)] : revealed instanceof Map ? Object.fromEntries([...(revealed as Map<string, Lattice>)].map(([k, f]) => [k, f.reveal()])) : revealed;
};

/** The first key `<prefix><n>` that `shard` does not replicate. */
const notOn = (shard: KvsNode, prefix: string): string => {
  for (let i = 0; ; i++) if (!shard.holds(`${prefix}${i}`)) return `${prefix}${i}`;
};

async function cutOffShard(t: Test) {
  const nats = await startNats(t);
  const s = await startShard(nats.url, { id: 'kvs-s', heartbeatMs: 200, handoffTimeoutMs: 500 });
  const peers = ['kvs-a', 'kvs-b'].map((id) => shardProcess(t, nats.url, id, ['--durability', 'none'], 'kill'));
  for (const p of peers) await p.waitFor(/ready on/);
  t.teardown(async () => {
    for (const p of peers) {
      p.child.kill('SIGKILL');
      p.child.kill('SIGCONT');
      await p.exited();
    }
    // Its peers are gone with keys it took from them: its hand-off cannot complete, and says so.
    await s.stop().catch((err: unknown) => {
      if ((err as { code?: string }).code !== 'HANDOFF_INCOMPLETE') throw err;
    });
  });
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  await eventually('every shard sees the other two active', () => s.ringMembers().filter((m) => m.state === 'active').length === 3);
  await eventually('the client sees three shards', () => client.ringMembers().length === 3);
  return { s, peers, transport, client };
}

t.test('a shard cut off from a key it did not hold reads it as neither absent nor stale, and decides none of its fields alone', async (t) => {
  const { s, peers, transport, client } = await cutOffShard(t);
  const key = notOn(s, 'cut-k');
  const logKey = notOn(s, 'cut-log');
  await client.put(key, new SetLattice(['written']));
  t.equal(((await client.decide(logKey, 'step', new PriorityLattice(0, 'first'))) as PriorityLattice<string>).value, 'first', 'decided on the two replicas');
  t.equal(await askShard(transport, 'kvs-s', { op: 'get', key }), 'error WRONG_SHARD', 's does not hold the key while its replicas are seen');

  for (const p of peers) p.child.kill('SIGSTOP');
  await eventually('s takes both peers for gone: it alone replicates every key in its view', () => s.ringMembers().length === 1 && s.holds(key) && s.holds(logKey), 5_000);

  const read = await askShard(transport, 'kvs-s', { op: 'get', key });
  t.match(read, /^error (NO_CAPACITY|WRONG_SHARD)$/, `a read is refused, not answered from nothing (got: ${read})`);
  const decided = await askShard(transport, 'kvs-s', { op: 'decide', key: logKey, field: 'step', value: new PriorityLattice(0, 'second') });
  t.match(decided, /^error (NO_CAPACITY|WRONG_SHARD)$/, `a decide is refused, not decided afresh (got: ${decided})`);
});

t.test('a copy left from an earlier time the shard held a key is not served as the key once it holds it again', async (t) => {
  const { s, peers, transport, client } = await cutOffShard(t);
  const key = notOn(s, 'left-k');
  await client.put(key, new SetLattice(['old']));
  // The copy s is left with: merged into it as gossip is (a record of a key it does not replicate is kept until the sweep drops it).
  t.equal(await askShard(transport, 'kvs-s', { op: 'get', key }), 'error WRONG_SHARD');
  await request(transport, subjectsFor().kvsShard('kvs-s'), KVS_GOSSIP, { records: [[key, (await client.get(key))!, 1, 0]] }, deadlineIn(5_000));
  t.same(show(s.localValue(key)!), ['old'], 's holds the old copy');
  await client.put(key, new SetLattice(['new']));

  for (const p of peers) p.child.kill('SIGSTOP');
  await eventually('s takes both peers for gone', () => s.ringMembers().length === 1 && s.holds(key), 5_000);
  const read = await askShard(transport, 'kvs-s', { op: 'get', key });
  t.notMatch(read, /^value/, `the old copy is not answered (got: ${read})`);
});

/** The first key `<prefix><n>` that `shard` replicates. */
const on = (shard: KvsNode, prefix: string): string => {
  for (let i = 0; ; i++) if (shard.holds(`${prefix}${i}`)) return `${prefix}${i}`;
};

// Under the harness, a shard cut off by a partition decided exactly-once steps
// alone on its side while the shards on the other side decided them too: an
// increment applied twice. A decide needs a majority of the shards the primary
// knows of, or of the key's replicas among them.
t.test('a shard cut off from the other replicas of a key it holds decides no field of it alone', async (t) => {
  const { s, peers, transport, client } = await cutOffShard(t);
  const logKey = on(s, 'held-log');
  t.equal(((await client.decide(logKey, 'step', new PriorityLattice(0, 'first'))) as PriorityLattice<string>).value, 'first');

  for (const p of peers) p.child.kill('SIGSTOP');
  await eventually('s takes both peers for gone', () => s.ringMembers().length === 1, 5_000);
  const fresh = await askShard(transport, 'kvs-s', { op: 'decide', key: logKey, field: 'next', value: new PriorityLattice(0, 'alone') });
  t.equal(fresh, 'error NO_CAPACITY', `a new field is not decided by s alone (got: ${fresh})`);

  for (const p of peers) p.child.kill('SIGCONT');
  await eventually('s hears its peers again', () => s.ringMembers().length === 3, 10_000);
  t.equal(((await client.decide(logKey, 'next', new PriorityLattice(0, 'together'))) as PriorityLattice<string>).value, 'together', 'decided once a majority is back');
});

t.test('a shard restarted from its data directory where it hears none of its peers decides nothing alone', async (t) => {
  const nats = await startNats(t);
  const root = await dataRoot(t);
  const ids = ['kvs-a', 'kvs-b', 'kvs-c'];
  const start = (id: string) => shardProcess(t, nats.url, id, ['--data-dir', join(root, id)], 'kill');
  const procs = ids.map(start);
  for (const p of procs) await p.waitFor(/ready on/);
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  await eventually('the client sees three shards', () => client.ringMembers().length === 3);
  // Each shard keeps the shards it knows in its data directory once it has heard them.
  await eventually('kvs-a has saved its two peers', async () => {
    const saved = await readFile(join(root, 'kvs-a', 'known-shards.json'), 'utf8').catch(() => '[]');
    return (JSON.parse(saved) as { id: string }[]).length === 2;
  });
  const [a, ...rest] = procs;
  a!.child.kill('SIGKILL');
  await a!.exited();
  for (const p of rest) p.child.kill('SIGSTOP');
  t.teardown(() => {
    for (const p of rest) p.child.kill('SIGCONT');
  });
  const again = start('kvs-a');
  await again.waitFor(/ready on/);
  const decided = await askShard(transport, 'kvs-a', { op: 'decide', key: 'restart-log', field: 'step', value: new PriorityLattice(0, 'alone') });
  t.equal(decided, 'error NO_CAPACITY', `kvs-a, back alone, does not decide (got: ${decided})`);
});
