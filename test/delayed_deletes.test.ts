// Keys scheduled for deletion (effect logs, old transaction versions) go
// when due, and not before.

import t from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { DelayedDeletes } from '../lib/kvs/delayed_deletes.js';
import { MaxIntLattice } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

t.test('a due key is deleted; one due later stays until then', async (t) => {
  const { nats } = await startCluster(t, { executors: 0 });
  const transport = await NatsTransport.connect({ servers: nats.url });
  const kvs = new KvsClient(transport, subjectsFor());
  const deletes = new DelayedDeletes(kvs, 20);
  t.teardown(async () => {
    deletes.close();
    kvs.close();
    await transport.close();
  });
  await kvs.put('soon', new MaxIntLattice(1));
  await kvs.put('later', new MaxIntLattice(2));
  deletes.at('soon', Date.now());
  deletes.at('later', Date.now() + 60_000);
  await eventually('the due key is gone', async () => (await kvs.get('soon')) === undefined);
  t.equal((await kvs.get('later'))?.reveal(), 2, 'the other is still there');
});
