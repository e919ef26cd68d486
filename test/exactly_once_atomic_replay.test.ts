// An atomic exactly-once call whose first attempt read a version and died
// before it committed is run again on an executor whose clock is 30 s
// behind. The re-run replays the logged read: it must also act on the
// version that read returned, and commit after it. When the log kept only
// the value, the re-run proposed a commit time on its own clock, before the
// version it had built on, and atomic readers went on reading that older
// version: the increment (in the fault harness's bank, a transfer) was lost.

import t from 'tap';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { request } from '../lib/actor/rpc.js';
import { decode } from '../lib/codec/index.js';
import { deadlineIn } from '../lib/deadline.js';
import type { Cb } from '../lib/function_api.js';
import { subjectsFor } from '../lib/subjects.js';
import { CliProcess } from './fixtures/cli.js';
import { startCluster } from './fixtures/cluster.js';

const CLOCK_OFFSET = fileURLToPath(new URL('./fixtures/clock_offset.js', import.meta.url));

/** Reads k, holds for `holdMs` (a slow attempt: the first one's deadline passes here), writes k + 1. */
const bump = async (cb: Cb, holdMs: number): Promise<number> => {
  const n = (await cb.get<number>('k')) ?? 0;
  if (holdMs > 0) await cb.recv(holdMs).catch(() => undefined);
  await cb.put('k', n + 1);
  return n + 1;
};

t.test('a re-run that replays a logged atomic read commits after the version read, on a clock behind', async (t) => {
  const { nats, client, executors } = await startCluster(t, { threads: 2 });
  const env = { ...process.env, CB_TEST_CLOCK_OFFSET_MS: '-30000', NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${pathToFileURL(CLOCK_OFFSET).href}` };
  const behind = new CliProcess(['executor', '--nats', nats.url, '--id', 'exec-behind', '--heartbeat-ms', '1000'], env);
  t.teardown(() => void behind.child.kill('SIGKILL'));
  await behind.waitFor(/ready on/);
  await client.register('bump', bump);
  await client.register('peek', async (cb: Cb) => (await cb.get<number>('k')) ?? null);

  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const subjects = subjectsFor();
  // Each attempt is sent to its executor as a router sends a call (and a retry, to where it chooses).
  const callOn = async (executor: string, id: string, holdMs: number, once: boolean, timeoutMs: number): Promise<unknown> => {
    const fields = { fn: 'bump', args: [holdMs], consistency: 'lww', once, atomic: true, id };
    return decode(((await request(transport, subjects.exec(executor), 'call', fields, deadlineIn(timeoutMs))) as { result: Uint8Array }).result);
  };
  const onTime = executors[0]!.id;
  t.equal(await callOn(onTime, 'first', 0, false, 10_000), 1, 'k = 1, committed on the machine clock');
  // The first attempt of `second` reads k = 1 (logged) and is still holding when its deadline passes: it commits nothing.
  await t.rejects(callOn(onTime, 'second', 1_500, true, 700), 'the first attempt dies before it commits');
  t.equal(await callOn('exec-behind', 'second', 1_500, true, 15_000), 2, 'the re-run replays k = 1 and writes 2');
  t.equal(await client.call('peek', [], { atomic: true }), 2, 'atomic readers see the re-run: it committed after the version it read');
  t.equal(await client.get('k'), 2, 'and so does the plain key');
});
