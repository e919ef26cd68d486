// Executors follow the load: a local cluster with autoscaling starts more
// executor processes while calls pile up and drains them when load stops.

import t from 'tap';
import { LocalCluster, memoryCluster } from '../bin/local_cluster.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import type { Cb } from '../lib/function_api.js';
import { eventually } from './fixtures/eventually.js';

t.test('executors grow under load and shrink back when it stops', async (t) => {
  const cluster = await LocalCluster.start(memoryCluster({ threads: 1, prefix: 'scale', heartbeatMs: 200, autoscale: { min: 1, max: 3, cooldownMs: 600 } }));
  t.teardown(() => cluster.stop());
  const client = await Cloudburst.connect({ servers: cluster.natsUrl, prefix: 'scale', timeoutMs: 30_000 });
  t.teardown(() => client.close());
  await client.register('work', async (_cb: Cb, ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // Busy: the thread is taken for the whole call.
    }
    return ms;
  });

  let loading = true;
  const load = Promise.all(
    Array.from({ length: 6 }, async () => {
      while (loading) await client.call('work', [40]);
    }),
  );
  await eventually('a second executor started', () => cluster.executors.length >= 2, 20_000);
  t.pass(`grew to ${cluster.executors.length} executors under load`);
  loading = false;
  await load;
  await eventually('back to one executor', () => cluster.executors.length === 1, 20_000);
  t.pass('shrank to one when the load stopped');
  t.equal(await client.call('work', [1]), 1, 'the remaining executor serves');
});
