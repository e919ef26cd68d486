// Merge dissemination: a watcher hears every merge of the keys it watches,
// batched, from whichever client wrote them; a lease not renewed expires.

import t, { type Test } from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { MaxIntLattice, SetLattice, type Lattice } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

async function kvsClient(t: Test, url: string, watchTtlMs?: number): Promise<KvsClient> {
  const transport = await NatsTransport.connect({ servers: url });
  const kvs = new KvsClient(transport, subjectsFor(), watchTtlMs ? { watchTtlMs } : {});
  t.teardown(async () => {
    kvs.close();
    await transport.close();
  });
  return kvs;
}

t.test('a watcher hears the merges of its keys, from any writer, batched', async (t) => {
  const { nats, shards } = await startCluster(t, { shards: 3, executors: 0 });
  const writer = await kvsClient(t, nats.url);
  const watcher = await kvsClient(t, nats.url);
  const heard: [string, Lattice][] = [];
  const watch = watcher.watch(['counter', 'guests'], (key, value) => heard.push([key, value]));
  t.teardown(() => watch.close());
  const leased = (key: string) => shards.filter((s) => s.watching(key)).length;
  await eventually('both keys are leased at their two replicas', () => leased('counter') === 2 && leased('guests') === 2);

  await Promise.all(Array.from({ length: 100 }, (_, i) => writer.put('counter', new MaxIntLattice(i))));
  await writer.put('guests', new SetLattice(['ada']));
  await writer.put('unwatched', new SetLattice(['x']));
  await eventually('the watcher saw the last merges', () =>
    heard.some(([k, v]) => k === 'counter' && v.reveal() === 99) && heard.some(([k]) => k === 'guests'),
  );
  const counts = heard.filter(([k]) => k === 'counter');
  t.ok(counts.length < 100, `100 merges in one tick arrived as ${counts.length} update(s)`);
  t.notOk(heard.some(([k]) => k === 'unwatched'), 'nothing about keys it does not watch');
});

t.test('a lease that is not renewed expires at the shard', async (t) => {
  const { nats, shards } = await startCluster(t, { shards: 1, executors: 0 });
  const watcher = await kvsClient(t, nats.url, 300);
  const watch = watcher.watch(['k'], () => {});
  await eventually('the key is leased', () => shards[0]!.watching('k'));
  watch.close();
  await eventually('the lease ran out', () => !shards[0]!.watching('k'), 3000);
  t.pass('expired');
});

t.test('a new watcher hears the current value once its lease holds, so no merge falls between read and lease', async (t) => {
  const { nats } = await startCluster(t, { shards: 2, executors: 0 });
  const writer = await kvsClient(t, nats.url);
  const watcher = await kvsClient(t, nats.url);
  await writer.put('existing', new SetLattice(['before']));
  const heard: Lattice[] = [];
  const watch = watcher.watch(['existing'], (_key, value) => heard.push(value));
  t.teardown(() => watch.close());
  await eventually('the current value arrived', () => heard.length > 0);
  t.same([...(heard[0]!.reveal() as ReadonlySet<string>)], ['before']);
});
