// Read atomicity under concurrent committers: two callers commit (k1, k2) =
// (i, i) under `atomic: true` through two executors and one shard while
// four callers read both keys under `atomic: true`. No read may mix two
// transactions' writes.
//
// Separate machines stamp commits with their own millisecond clocks, so two
// commits at once can get the same time. Each executor here gets a clock of
// 10 ms steps (its own, as a machine's is), which makes such ties as common
// as a much busier cluster would.

import t from 'tap';
import { TxClock } from '../actors/executor/transaction.js';
import type { Cb } from '../lib/function_api.js';
import { startCluster } from './fixtures/cluster.js';

const READS = 1000;

t.test('concurrent atomic writers of the same keys never fracture an atomic reader', async (t) => {
  const { client, executors } = await startCluster(t, { executors: 2 });
  for (const executor of executors) executor.txClock = new TxClock(() => Math.floor(Date.now() / 10) * 10);
  await client.register('setPair', async (cb: Cb, v: number) => {
    await cb.put('k1', v);
    await cb.put('k2', v);
    return v;
  });
  await client.register('readPair', async (cb: Cb) => [await cb.get<number>('k1'), await cb.get<number>('k2')]);
  await client.call('setPair', [0], { atomic: true });

  let next = 1;
  let reads = 0;
  const fractured: [unknown, unknown][] = [];
  const writer = async () => {
    while (reads < READS) await client.call('setPair', [next++], { atomic: true });
  };
  const reader = async () => {
    while (reads < READS) {
      const [a, b] = await client.call<[number, number]>('readPair', [], { atomic: true });
      reads++;
      if (a !== b) fractured.push([a, b]);
    }
  };
  await Promise.all([writer(), writer(), reader(), reader(), reader(), reader()]);
  t.comment(`${reads} reads, ${next - 1} commits, ${fractured.length} fractured ${JSON.stringify(fractured.slice(0, 5))}`);
  t.same(fractured, [], 'no read mixes two transactions');
  const plain = [await client.get('k1'), await client.get('k2')];
  t.equal(plain[0], plain[1], 'the plain keys are left as one transaction wrote them');
});
