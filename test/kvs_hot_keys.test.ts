// Selective replication: a key under heavy load gets a replica on every
// shard, and goes back to the default once it has cooled down.

import t from 'tap';
import { SetLattice } from '../lib/lattice/index.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

t.test('a hot key is replicated on every shard, then back to two when it cools', async (t) => {
  const { shards, client } = await startCluster(t, {
    shards: 3,
    executors: 0,
    heartbeatMs: 200,
    router: { hotKeyOpsPerSec: 300, coolKeyOpsPerSec: 100, hotKeyCooldownMs: 1000 },
  });
  await client.put('hot', new SetLattice(['v']));
  await client.put('cold', new SetLattice(['v']));
  const holding = (key: string) => shards.filter((s) => s.holds(key) && s.localValue(key) !== undefined).length;
  t.equal(holding('hot'), 2, 'two replicas at first');

  let hammering = true;
  const hammer = (async () => {
    while (hammering) await Promise.all(Array.from({ length: 20 }, () => client.get('hot')));
  })();
  await eventually('every shard holds the hot key', () => holding('hot') === 3);
  t.pass('three replicas under load');
  t.equal(holding('cold'), 2, 'a cold key keeps two');
  t.same([...((await client.get<ReadonlySet<string>>('hot')) ?? [])], ['v'], 'the value is intact');
  hammering = false;
  await hammer;

  await eventually('the hot key cooled back to two replicas', () => shards.filter((s) => s.holds('hot')).length === 2, 15_000);
  t.pass('two replicas after the cool-down');
});
