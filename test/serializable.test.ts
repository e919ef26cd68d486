// Serializable calls (`isolation: 'serializable'`, actors/executor/locks.ts):
// read-modify-write increments from many callers through two executors lose
// no update, where `atomic` alone loses some (so the checker can fail); a
// lock whose holder's executor was killed lapses with its lease and the
// call, run again elsewhere, commits once; contention past a short deadline
// ends in TransactionAborted, never a hang.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import type { Cloudburst } from '../lib/client/cloudburst.js';
import { startCluster } from './fixtures/cluster.js';
import { kvsClient } from './fixtures/kvs_client.js';
import { eventually } from './fixtures/eventually.js';
import { failure } from './fixtures/failure.js';
import { startVictimCluster } from './fixtures/victim_cluster.js';

/** cb.put(k, (await cb.get(k) ?? 0) + 1), with a little time between the read and the write, as real work has. */
const increment = async (cb: Cb, key: string): Promise<number> => {
  const next = ((await cb.get<number>(key)) ?? 0) + 1;
  await new Promise((resolve) => setTimeout(resolve, 3));
  await cb.put(key, next);
  return next;
};

/** Calls `increment` on `key` CALLERS × ROUNDS times at once; how many were acknowledged, and what failed how. */
async function hammer(client: Cloudburst, key: string, opts: Record<string, unknown>): Promise<{ acked: number; failed: Map<string, number> }> {
  let acked = 0;
  const failed = new Map<string, number>();
  const caller = async () => {
    for (let i = 0; i < ROUNDS; i++) {
      try {
        await client.call('increment', [key], { timeoutMs: 30_000, ...opts });
        acked++;
      } catch (err) {
        const code = (err as { code?: string }).code ?? String(err);
        failed.set(code, (failed.get(code) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: CALLERS }, caller));
  return { acked, failed };
}

const CALLERS = 8;
const ROUNDS = 8;

/** The checker: every acknowledged increment is in the final value. */
const lostUpdates = (final: unknown, acked: number): number => acked - ((final as number | undefined) ?? 0);

t.test('concurrent read-modify-write: atomic loses updates, serializable loses none', async (t) => {
  const { client, executors } = await startCluster(t, { executors: 2, threads: 4, timeoutMs: 30_000 });
  await client.register('increment', increment);
  await client.register('peek', async (cb: Cb, key: string) => cb.get<number>(key));

  const atomic = await hammer(client, 'counter-atomic', { atomic: true });
  const atomicLost = lostUpdates(await client.get('counter-atomic'), atomic.acked);
  t.comment(`atomic: ${atomic.acked} acknowledged, ${atomicLost} lost, failed ${JSON.stringify([...atomic.failed])}`);
  t.ok(atomicLost > 0, 'under atomic alone the checker finds lost updates');

  const ser = await hammer(client, 'counter-ser', { isolation: 'serializable' });
  t.equal(await client.get('counter-ser'), ser.acked, 'the plain key holds it too');
  const final = await client.call('peek', ['counter-ser'], { isolation: 'serializable' });
  t.comment(`serializable: ${ser.acked} acknowledged, final ${String(final)}, failed ${JSON.stringify([...ser.failed])}`);
  t.equal(lostUpdates(final, ser.acked), 0, 'under serializable the final value is the number of acknowledged calls');
  t.ok(ser.acked >= CALLERS * ROUNDS * 0.9, 'and nearly every call commits within its deadline');
  for (const code of ser.failed.keys()) t.equal(code, 'TRANSACTION_ABORTED', 'a call that does not commit fails with TransactionAborted');
  t.ok(executors.length === 2);
});

t.test('a blind write under serializable is ordered after what it overwrites, and a caught conflict still aborts the try', async (t) => {
  const { client, nats } = await startCluster(t, { executors: 2 });
  await client.register('setTo', async (cb: Cb, key: string, v: number) => {
    await cb.put(key, v);
    return v;
  });
  await client.register('swallow', async (cb: Cb, key: string) => {
    try {
      await cb.get(key);
    } catch {
      // A conflict caught by the function does not let its try commit.
    }
    await cb.put(`${key}-side`, 1);
    return 'returned';
  });
  for (let i = 1; i <= 20; i++) await client.call('setTo', ['blind', i], { isolation: 'serializable' });
  t.equal(await client.get('blind'), 20, 'sequential blind writes end with the last one');

  const kvs = await kvsClient(t, nats.url);
  await kvs.lock('held', 'someone-else', Date.now() + 1_500);
  const started = Date.now();
  t.equal(await client.call('swallow', ['held'], { isolation: 'serializable', timeoutMs: 10_000 }), 'returned', 'the call commits once the lease lapsed');
  t.ok(Date.now() - started >= 1_000, 'not before the other holder\'s lease ran out');
  t.equal(await client.get('held-side'), 1);
});

t.test('contention with a short deadline ends in TransactionAborted, not a hang', async (t) => {
  const { client, nats } = await startCluster(t, { executors: 2 });
  await client.register('increment', increment);
  const kvs = await kvsClient(t, nats.url);
  // Warm: a cold worker thread's first start can take most of a short deadline on a loaded machine.
  await Promise.all(Array.from({ length: 6 }, (_, i) => client.call('increment', [`warm${i}`], { isolation: 'serializable' })));
  await kvs.lock('busy', 'long-holder', Date.now() + 20_000);
  const started = Date.now();
  const err = (await failure(client.call('increment', ['busy'], { isolation: 'serializable', timeoutMs: 1_000 }))) as { code?: string; data?: Record<string, unknown> } | undefined;
  const took = Date.now() - started;
  t.equal(err?.code, 'TRANSACTION_ABORTED', `the caller sees TransactionAborted (${JSON.stringify(err?.code)})`);
  t.equal(err?.data?.['key'], 'busy', 'naming the key');
  t.ok(took < 1_500, `within its deadline (${took} ms)`);
  t.equal(await client.get('busy'), undefined, 'nothing was committed');
  // Released: a serializable call goes through at once.
  await kvs.unlock('busy', 'long-holder');
  t.equal(await client.call('increment', ['busy'], { isolation: 'serializable', timeoutMs: 5_000 }), 1);
});

t.test('serializable options are checked before anything runs', async (t) => {
  const { client } = await startCluster(t);
  await client.register('increment', increment);
  for (const [what, opts] of [
    ['with atomic: false', { isolation: 'serializable', atomic: false }],
    ['causal', { isolation: 'serializable', consistency: 'causal' }],
    ['an unknown isolation', { isolation: 'snapshot' }],
  ] as const) {
    t.equal(((await failure(client.call('increment', ['x'], opts as never))) as { code?: string } | undefined)?.code, 'INVALID_ARGUMENT', what);
  }
  t.equal(((await failure(client.callDag('nope', {}, { isolation: 'serializable' }))) as { code?: string } | undefined)?.code, 'INVALID_ARGUMENT', 'a DAG call');
  t.equal(await client.get('x'), undefined);
});

t.test('a lock held by a call whose executor is killed lapses; the call, run again elsewhere, commits once', async (t) => {
  const { client, victim, startSurvivor, natsUrl } = await startVictimCluster(t);
  await client.register('incrementThenLinger', async (cb: Cb, key: string) => {
    const next = ((await cb.get<number>(key)) ?? 0) + 1;
    await cb.put(key, next);
    await cb.put('victim-ran', true);
    // On the victim: holds both locks, writes uncommitted, until it is killed.
    if (cb.id.startsWith('exec-victim.')) await new Promise((resolve) => setTimeout(resolve, 60_000));
    return next;
  });
  const kvs = await kvsClient(t, natsUrl);
  const call = client.call<number>('incrementThenLinger', ['locked'], { isolation: 'serializable', timeoutMs: 20_000 });
  await eventually('the victim holds the lock', async () => (await kvs.lock('locked', 'probe', Date.now() + 1)).owner !== 'probe', 10_000);
  await startSurvivor();
  victim.child.kill('SIGKILL');
  t.equal(await call, 1, 'the call, sent again to the survivor, commits once the dead holder\'s lease lapsed');
  t.equal(await client.get('locked'), 1, 'one increment: the victim never committed');
  t.equal(await client.call('incrementThenLinger', ['locked'], { isolation: 'serializable' }), 2, 'a later call goes through');
});

t.test('serializable with exactlyOnce: a request id runs once, concurrent increments lose none', async (t) => {
  const { client } = await startCluster(t, { executors: 2, threads: 4, timeoutMs: 30_000 });
  await client.register('increment', increment);
  t.equal(await client.call('increment', ['once'], { isolation: 'serializable', exactlyOnce: true, requestId: 'ser-1' }), 1);
  t.equal(await client.call('increment', ['once'], { isolation: 'serializable', exactlyOnce: true, requestId: 'ser-1' }), 1, 'the first result again');
  t.equal(await client.get('once'), 1, 'one increment');
  const both = await hammer(client, 'counter-once', { isolation: 'serializable', exactlyOnce: true });
  t.comment(`serializable + exactlyOnce: ${both.acked} acknowledged, failed ${JSON.stringify([...both.failed])}`);
  t.equal(await client.get('counter-once'), both.acked, 'the final value is the number of acknowledged calls');
  for (const code of both.failed.keys()) t.equal(code, 'TRANSACTION_ABORTED');
});

t.test('serializable with exactlyOnce: the executor killed holding the locks; the call commits once', async (t) => {
  const { client, victim, startSurvivor, natsUrl } = await startVictimCluster(t);
  await client.register('incrementThenLinger', async (cb: Cb, key: string) => {
    const next = ((await cb.get<number>(key)) ?? 0) + 1;
    await cb.put(key, next);
    if (cb.id.startsWith('exec-victim.')) await new Promise((resolve) => setTimeout(resolve, 60_000));
    return next;
  });
  const kvs = await kvsClient(t, natsUrl);
  const call = client.call<number>('incrementThenLinger', ['eo'], { isolation: 'serializable', exactlyOnce: true, timeoutMs: 20_000 });
  await eventually('the victim holds the lock', async () => (await kvs.lock('eo', 'probe', Date.now() + 1)).owner !== 'probe', 10_000);
  await startSurvivor();
  victim.child.kill('SIGKILL');
  t.equal(await call, 1, 'the re-run answers');
  t.equal(await client.get('eo'), 1, 'one increment');
});

