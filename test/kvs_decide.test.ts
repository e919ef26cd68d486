// The KVS's `decide` (first writer wins on a field of a map key, decided by
// the key's primary replica): every caller gets the first value, every
// replica holds it before anybody is answered, only the primary decides,
// and a primary killed right after answering leaves the decision with the
// shard that takes over.

import { join } from 'node:path';
import t, { type Test } from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { request } from '../lib/actor/rpc.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { deadlineIn } from '../lib/deadline.js';
import { KVS_ACCEPT, KVS_BATCH, type KvsResult } from '../lib/kvs/protocol.js';
import type { CloudburstError } from '../lib/errors.js';
import { MapLattice, PriorityLattice, type Lattice } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import type { KvsNode } from '../kvs-node/kvs_node.js';
import { dataRoot, shardProcess } from './fixtures/shard_process.js';
import { startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { startNats } from './fixtures/nats.js';

const proposal = (value: string) => new PriorityLattice(0, value);
const valueOf = (decided: Lattice) => (decided as PriorityLattice<string>).value;
const fieldHeld = (shard: KvsNode, key: string, field: string) => ((shard.localValue(key) as MapLattice<Lattice> | undefined)?.get(field) as PriorityLattice<string> | undefined)?.value;

async function client(t: Test, url: string): Promise<{ kvs: KvsClient; transport: NatsTransport }> {
  const transport = await NatsTransport.connect({ servers: url });
  const kvs = new KvsClient(transport, subjectsFor());
  t.teardown(async () => {
    kvs.close();
    await transport.close();
  });
  return { kvs, transport };
}

/** What each shard answers a decide sent straight to it, not routed by the ring: a value, or an error code. */
async function decideAt(transport: NatsTransport, shardIds: string[], key: string, field: string, value: string): Promise<string[]> {
  return Promise.all(
    shardIds.map(async (id) => {
      const body = (await request(transport, subjectsFor().kvsShard(id), KVS_BATCH, { ops: [{ op: 'decide', key, field, value: proposal(value) }] }, deadlineIn(5_000))) as { results: KvsResult[] };
      const r = body.results[0]!;
      return r.value ? `value ${valueOf(r.value)}` : `error ${r.error?.code}`;
    }),
  );
}

t.test('the first value wins, on every replica before anybody hears it; only the primary decides', async (t) => {
  const nats = await startNats(t);
  const shards = [await startShard(nats.url), await startShard(nats.url), await startShard(nats.url)];
  t.teardown(async () => {
    for (const s of shards) await s.stop();
  });
  const [{ kvs, transport }, other] = [await client(t, nats.url), await client(t, nats.url)];
  t.equal(valueOf(await kvs.decide('dk', 'f', proposal('first'))), 'first');
  const replicas = shards.filter((s) => s.holds('dk'));
  t.equal(replicas.length, 2, 'two replicas');
  t.same(replicas.map((s) => fieldHeld(s, 'dk', 'f')), ['first', 'first'], 'each replica held the decision when it was answered');
  t.equal(valueOf(await other.kvs.decide('dk', 'f', proposal('second'))), 'first', 'a later proposal gets the first value');
  t.equal(valueOf(await kvs.decide('dk', 'f', proposal('first'))), 'first', 'a retry gets it again');
  const answers = await decideAt(transport, shards.map((s) => s.id), 'dk', 'f', 'third');
  t.same(answers.sort(), ['error WRONG_SHARD', 'error WRONG_SHARD', 'value first'], 'the primary answers; the others send the caller to it');

  const fromElsewhere = await request(transport, subjectsFor().kvsShard(replicas[0]!.id), KVS_ACCEPT, { from: 'kvs-elsewhere', key: 'dk', field: 'h', value: proposal('x') }, deadlineIn(5_000)).then(
    () => 'taken',
    (err: CloudburstError) => err.code,
  );
  t.equal(fromElsewhere, 'WRONG_SHARD', 'a replica takes a decided value only from the shard it sees as the primary');
  t.equal(fieldHeld(replicas[0]!, 'dk', 'h'), undefined);

  const racing = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? kvs : other.kvs).decide('dk', 'g', proposal(`p${i}`))));
  t.equal(new Set(racing.map(valueOf)).size, 1, 'proposals racing on one field all get one value');
  t.equal((await kvs.get('dk', { all: true }))?.reveal() instanceof Map, true, 'the key is a plain map lattice that reads and merges as any other');
});

t.test('a decide after its key was deleted decides afresh, and hand-off carries the decision past the tombstone', async (t) => {
  const nats = await startNats(t);
  const shards = [await startShard(nats.url), await startShard(nats.url), await startShard(nats.url)];
  const stopped = new Set<KvsNode>();
  t.teardown(async () => {
    for (const s of shards) if (!stopped.has(s)) await s.stop();
  });
  const { kvs } = await client(t, nats.url);
  t.equal(valueOf(await kvs.decide('tk', 'f', proposal('before'))), 'before');
  await kvs.delete('tk');
  const replicas = shards.filter((s) => s.holds('tk'));
  t.same(replicas.map((s) => fieldHeld(s, 'tk', 'f')), [undefined, undefined], 'the delete removed the decision on every replica');
  // Stored like a put: stamped after the key's tombstone, so kept.
  t.equal(valueOf(await kvs.decide('tk', 'f', proposal('after'))), 'after', 'the deleted decision is not found again');
  t.same(replicas.map((s) => fieldHeld(s, 'tk', 'f')), ['after', 'after'], 'each replica holds the new decision');
  // One replica leaves: its record of the key (the decision and the older tombstone) goes to the shard that takes its place.
  const leaving = replicas[0]!;
  const heir = shards.find((s) => !s.holds('tk'))!;
  stopped.add(leaving);
  await leaving.stop();
  await eventually('the new replica holds the decision', () => fieldHeld(heir, 'tk', 'f') === 'after');
  t.equal(fieldHeld(replicas[1]!, 'tk', 'f'), 'after', 'the replica that stayed still holds it');
  t.equal(valueOf(await kvs.decide('tk', 'f', proposal('later'))), 'after', 'and the decision stands');
});

t.test('kill -9 of the primary right after it answered: the shard that takes over answers the same', async (t) => {
  const nats = await startNats(t);
  const root = await dataRoot(t);
  const ids = ['kvs-a', 'kvs-b', 'kvs-c'];
  const procs = await Promise.all(
    ids.map(async (id) => {
      const p = shardProcess(t, nats.url, id, ['--data-dir', join(root, id)]);
      await p.waitFor(/ready on/);
      return p;
    }),
  );
  const { kvs, transport } = await client(t, nats.url);
  const deadline = () => deadlineIn(15_000);
  const keys = Array.from({ length: 20 }, (_, i) => `fk${i}`);
  const before = await Promise.all(keys.map((key) => kvs.decide(key, 'f', proposal('a'), deadline())));
  t.same(before.map(valueOf), keys.map(() => 'a'));
  // The primary of fk0, killed at once: its decisions are not gossiped later, they are on the other replica already.
  const primary = ids[(await decideAt(transport, ids, 'fk0', 'f', 'a')).findIndex((a) => a.startsWith('value'))]!;
  procs[ids.indexOf(primary)]!.child.kill('SIGKILL');
  const after = await Promise.all(keys.map((key) => kvs.decide(key, 'f', proposal('b'), deadline())));
  t.same(after.map(valueOf), keys.map(() => 'a'), 'every decision made before the kill stands');
});
