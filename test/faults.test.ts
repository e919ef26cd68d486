// Fault injection under load: exactly-once calls keep incrementing counters,
// and atomic exactly-once DAG calls keep moving money between accounts,
// while an executor is killed in the middle of calls (the router runs them
// again elsewhere), a KVS replica is killed (the supervisor restarts it from
// its data) and NATS itself is restarted. Callers retry failed calls with
// the same request id. At the end every counter is exactly 1 and every
// transfer is in both ledgers: no acknowledged effect lost, none doubled,
// though some calls ran twice; and every atomic audit saw the same total.

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
  // Each transferrer owns a pair of accounts and moves money back and forth
  // between them, one transfer at a time: read-atomic transactions rule out
  // fractured reads, not lost updates, so no two transfers touch one account
  // at once. Audits read every account atomically.
  await client.register('debit', async (cb: Cb, account: string, amount: number) => {
    await cb.put(account, ((await cb.get<number>(account)) ?? 100) - amount);
    return amount;
  });
  await client.register('credit', async (cb: Cb, account: string, amount: number) => {
    await cb.put(account, ((await cb.get<number>(account)) ?? 100) + amount);
    return amount;
  });
  await client.registerDag('transfer', ['debit', 'credit'], [['debit', 'credit']]);
  const pairs = [0, 1].map((p) => [`account/${p}a`, `account/${p}b`] as const);
  const accounts = pairs.flat();
  await client.register('audit', async (cb: Cb, keys: string[]) => {
    let total = 0;
    for (const key of keys) total += (await cb.get<number>(key)) ?? 100;
    return total;
  });
  const transfers = 30;
  const transferrer = async ([a, b]: readonly [string, string]): Promise<void> => {
    for (let i = 0; i < transfers; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      for (;;) {
        try {
          await client.callDag('transfer', { debit: [from, 1 + i], credit: [to] }, { atomic: true, exactlyOnce: true, requestId: `transfer-${a}-${i}` });
          break;
        } catch {
          retries++;
        }
      }
    }
  };
  let loading = true;
  const totals: number[] = [];
  const auditor = (async () => {
    while (loading) {
      // An audit that fails (NATS is down) is simply not counted.
      await client.call<number>('audit', [accounts], { atomic: true }).then(
        (total) => totals.push(total),
        () => undefined,
      );
    }
  })();
  const load = Promise.all([worker(), worker(), worker(), worker(), ...pairs.map(transferrer)]);

  await eventually('load is running', () => next > 20, 30_000);
  cluster.executors[0]!.process.kill('SIGKILL');
  await eventually('more load after the executor died', () => next > 60, 30_000);
  const shard = cluster.nodes.find((n) => n.id === 'kvs-2')!;
  shard.process.kill('SIGKILL');
  await eventually('more load after the replica died', () => next > 120, 30_000);
  await nats.kill();
  await nats.restart();
  await load;
  loading = false;
  await auditor;

  const counters = await Promise.all(Array.from({ length: calls }, (_, i) => client.get<number>(`counter/${i}`, { all: true })));
  const wrong = counters.map((c, i) => [i, c] as const).filter(([, c]) => c !== 1);
  t.same(wrong, [], `all ${calls} counters are exactly 1 (${retries} calls were retried)`);

  // Transfer i moves 1 + i from a to b when i is even, back when odd: after 30, a has gained 15.
  const balances = await Promise.all(accounts.map((a) => client.get<number>(a, { all: true })));
  t.same(balances, pairs.flatMap(() => [100 + transfers / 2, 100 - transfers / 2]), `every one of ${2 * transfers} transfers applied once, all or nothing`);
  t.ok(totals.length > 0, `${totals.length} audits ran during the load`);
  t.same([...new Set(totals)], [100 * accounts.length], 'every atomic audit saw the same total');
});
