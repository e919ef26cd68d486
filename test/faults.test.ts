// Fault injection under load: exactly-once calls keep incrementing counters
// while an executor is killed in the middle of calls (the router runs them
// again elsewhere), a KVS replica is killed (the supervisor restarts it from
// its data) and NATS itself is restarted. Callers retry failed calls with
// the same request id. At the end every counter is exactly 1: no
// acknowledged effect lost, none doubled, though some calls ran twice.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LocalCluster, memoryCluster } from '../bin/local_cluster.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import type { Cb } from '../lib/function_api.js';
import { eventually } from './fixtures/eventually.js';
import { startNats } from './fixtures/nats.js';

t.test('an executor and a KVS replica killed and NATS restarted under load: every counter is incremented exactly once', async (t) => {
  const nats = await startNats(t);
  const data = await mkdtemp(join(tmpdir(), 'cb-faults-'));
  t.teardown(() => rm(data, { recursive: true, force: true }));
  const cluster = await LocalCluster.start(
    memoryCluster({ nats: nats.url, kvs: 3, executors: 2, heartbeatMs: 200, shards: { durability: 'group', dataDir: data, replication: 2, gossipMs: 20 } }),
  );
  t.teardown(() => cluster.stop());
  const client = await Cloudburst.connect({ servers: nats.url, timeoutMs: 5_000 });
  t.teardown(() => client.close());
  await client.register('bump', async (cb: Cb, key: string) => {
    const next = ((await cb.get<number>(key)) ?? 0) + 1;
    await cb.put(key, next);
    // Slow enough that killing an executor catches calls in the middle.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return next;
  });

  const calls = 240;
  let next = 0;
  let retries = 0;
  const worker = async (): Promise<void> => {
    while (next < calls) {
      const i = next++;
      // Retry with the same request id until the call is acknowledged.
      for (;;) {
        try {
          await client.call('bump', [`counter/${i}`], { exactlyOnce: true, requestId: `faults-${i}` });
          break;
        } catch {
          retries++;
        }
      }
    }
  };
  const load = Promise.all([worker(), worker(), worker(), worker()]);

  await eventually('load is running', () => next > 20, 30_000);
  cluster.executors[0]!.process.kill('SIGKILL');
  await eventually('more load after the executor died', () => next > 60, 30_000);
  const shard = cluster.nodes.find((n) => n.id === 'kvs-2')!;
  shard.process.kill('SIGKILL');
  await eventually('more load after the replica died', () => next > 120, 30_000);
  await nats.kill();
  await nats.restart();
  await load;

  const counters = await Promise.all(Array.from({ length: calls }, (_, i) => client.get<number>(`counter/${i}`, { all: true })));
  const wrong = counters.map((c, i) => [i, c] as const).filter(([, c]) => c !== 1);
  t.same(wrong, [], `all ${calls} counters are exactly 1 (${retries} calls were retried)`);
});
