// Keys scheduled for deletion (effect logs, old transaction versions) go
// when due, and not before, filed in the KVS: an executor that filed them
// and went away leaves them to the others.

import t, { type Test } from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { DelayedDeletes } from '../lib/kvs/delayed_deletes.js';
import type { BucketTiming } from '../lib/kvs/time_buckets.js';
import { MaxIntLattice } from '../lib/lattice/index.js';
import { RESERVED_PREFIX } from '../lib/reserved_keys.js';
import { subjectsFor } from '../lib/subjects.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

/** Buckets of 100 ms, swept 300 ms after they end. */
const TIMING: BucketTiming = { bucketMs: 100, shards: 2, delayMs: 300, lookbackMs: 60_000, everyMs: 20, giveUpMs: 60_000 };

async function setUp(t: Test) {
  const { nats } = await startCluster(t, { executors: 0 });
  const transport = await NatsTransport.connect({ servers: nats.url });
  const kvs = new KvsClient(transport, subjectsFor());
  const opened: DelayedDeletes[] = [];
  t.teardown(async () => {
    for (const d of opened) await d.close();
    kvs.close();
    await transport.close();
  });
  const deletes = () => {
    const d = new DelayedDeletes(kvs, TIMING);
    opened.push(d);
    return d;
  };
  return { kvs, deletes };
}

t.test('a due key is deleted; one due later stays until then', async (t) => {
  const { kvs, deletes } = await setUp(t);
  const d = deletes();
  await kvs.put('soon', new MaxIntLattice(1));
  await kvs.put('later', new MaxIntLattice(2));
  d.at('soon', Date.now());
  const laterAt = Date.now() + 1_500;
  d.at('later', laterAt);
  await eventually('the due key is gone', async () => (await kvs.get('soon')) === undefined);
  t.equal((await kvs.get('later'))?.reveal(), 2, 'the other is still there');
  await eventually('the later key is gone', async () => (await kvs.get('later')) === undefined);
  t.ok(Date.now() >= laterAt, 'not before its time');
});

t.test('keys filed by deletes that are gone are deleted by others when due', async (t) => {
  const { kvs, deletes } = await setUp(t);
  // The one still running at the end.
  deletes();
  const filer = deletes();
  await kvs.put('left', new MaxIntLattice(1));
  await kvs.put('scheduled', new MaxIntLattice(2));
  const due = Date.now() + 500;
  filer.at('left', due);
  await filer.schedule(['scheduled'], due);
  // Files what it took, stops sweeping: as good as gone.
  await filer.close();
  await eventually('sweeps leave a progress mark', async () => (await kvs.get(`${RESERVED_PREFIX}due/swept`, { all: true })) instanceof MaxIntLattice);
  await eventually('the other deletes them', async () => (await kvs.get('left')) === undefined && (await kvs.get('scheduled')) === undefined, 5_000);
  t.ok(Date.now() >= due, 'not before their time');
});
