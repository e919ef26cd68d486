// Accepted means finished, for exactly-once calls: the executor records the
// call before it runs (lib/sends.ts), and when its executor dies with no
// other to take the call, the sweep of recorded calls finishes it once an
// executor runs again, and its result waits under the request id. The
// victim executor is a real process killed with SIGKILL mid-call.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { parseRecord, sendKey } from '../lib/sends.js';
import { eventually } from './fixtures/eventually.js';
import { startVictimCluster } from './fixtures/victim_cluster.js';

process.env['CB_TEST_TIMING'] = JSON.stringify({ sendDelayMs: 300, sweepEveryMs: 200 });

t.test('an exactly-once call whose executor died is finished by the sweep, once', async (t) => {
  const { client, victim, startSurvivor } = await startVictimCluster(t);
  await client.register('slow_tick', async (cb: Cb, key: string) => {
    await cb.put(`${key}/started`, true);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await cb.put(key, new cb.lattices.SetLattice([Math.random().toString(36).slice(2)]));
    return 'done';
  });
  const entries = async (key: string): Promise<number> => ((await client.get<ReadonlySet<string>>(key, { all: true })) ?? new Set()).size;

  const call = (key: string, exactlyOnce: boolean): Promise<unknown> =>
    client.call('slow_tick', [key], { exactlyOnce, requestId: `rid-${key}`, timeoutMs: 4_000 }).then(
      () => 'ok',
      (err: { code?: string }) => err.code,
    );
  const once = call('once', true);
  const plain = call('plain', false);
  await eventually('both calls started on the victim', async () => (await client.get('once/started')) === true && (await client.get('plain/started')) === true);
  victim.child.kill('SIGKILL');
  t.not(await once, 'ok', 'the exactly-once call fails for its caller: no executor is left to run it');
  t.not(await plain, 'ok');
  t.ok(parseRecord(await client['kvs'].get(sendKey('rid-once'), { all: true })), 'the exactly-once call was recorded');
  t.equal(parseRecord(await client['kvs'].get(sendKey('rid-plain'), { all: true })), undefined, 'a plain call is not: nothing will finish it');

  await startSurvivor();
  await eventually('the sweep finished the exactly-once call', async () => (await entries('once')) === 1, 30_000);
  t.equal(await client.result('rid-once'), 'done', 'its result waits under its request id');
  t.equal(await entries('once'), 1, 'it ran to its end once');
  t.equal(await entries('plain'), 0, 'the plain call stays half done (the control)');
});
