// Placement: calls referencing cached keys go to the executor caching them;
// a call whose executor dies is sent once more, elsewhere.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import type { Member } from '../lib/membership.js';
import { ref } from '../lib/reference.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { startVictimCluster } from './fixtures/victim_cluster.js';

const executorOf = (instanceId: string) => instanceId.split('.')[0]!;

t.test('calls referencing cached keys go to the executors that cache them', async (t) => {
  const { client } = await startCluster(t, { executors: 3, heartbeatMs: 100 });
  const keys = Array.from({ length: 10 }, (_, i) => `model${i}`);
  await Promise.all(keys.map((k, i) => client.put(k, { weights: [i, 1] })));
  await client.register('where', async (cb: Cb, model: { weights: number[] }) => ({ at: cb.id, sum: model.weights.reduce((a, b) => a + b, 0) }));
  // One call per key: each key ends up cached where its call ran.
  const cachers = new Map<string, Set<string>>();
  for (const [i, k] of keys.entries()) {
    const first = await client.call<{ at: string; sum: number }>('where', [ref(k)]);
    t.equal(first.sum, i + 1);
    cachers.set(k, new Set([executorOf(first.at)]));
  }
  await eventually('heartbeats report every key cached', async () => {
    const { members } = (await client.status()) as { members: Member[] };
    const reported = new Set(members.flatMap((m) => (Array.isArray(m['cached']) ? (m['cached'] as string[]) : [])));
    return keys.every((k) => reported.has(k));
  });
  // Sequential calls, so load never outweighs locality. A call that explores
  // (a small random share) makes one more executor a cacher of its key.
  let local = 0;
  for (let round = 0; round < 3; round++) {
    for (const k of keys) {
      const at = executorOf((await client.call<{ at: string }>('where', [ref(k)])).at);
      if (cachers.get(k)!.has(at)) local++;
      cachers.get(k)!.add(at);
    }
  }
  t.ok(local >= 26, `${local} of 30 calls ran where their key was already cached (at random it would be about half)`);
});

t.test('a call whose executor is killed mid-call runs again on another executor', async (t) => {
  const { client, victim, startSurvivor } = await startVictimCluster(t);
  await startSurvivor();
  // The first attempt marks where it runs, then waits long enough to be killed.
  await client.register('slow', async (cb: Cb) => {
    await cb.put('attempts', new cb.lattices.SetLattice([cb.id]));
    if (cb.id.startsWith('exec-victim.')) await new Promise((resolve) => setTimeout(resolve, 30_000));
    return cb.id;
  });
  // Keep calling until one lands on the victim (placement spreads by load).
  let onVictim: Promise<string> | undefined;
  const others: Promise<string>[] = [];
  while (!onVictim) {
    const call = client.call<string>('slow');
    await eventually('the call started', async () => ((await client.get<ReadonlySet<string>>('attempts'))?.size ?? 0) > others.length);
    const attempts = [...((await client.get<ReadonlySet<string>>('attempts')) ?? [])];
    if (attempts.some((a) => a.startsWith('exec-victim.'))) onVictim = call;
    else others.push(call);
  }
  victim.child.kill('SIGKILL');
  const answer = await onVictim;
  t.match(answer, /^exec-survivor\./, 'the call was answered from the surviving executor');
  t.ok((await Promise.all(others)).every((a) => a.startsWith('exec-survivor.')));
});
