// The fence of serializable commits (actors/executor/locks.ts `seal`): an
// executor whose main thread stalls (a long GC pause, a SIGSTOP) after its
// last lock check and before its commit's index entries, for longer than
// its lease, while another call takes the lock, reads the key and commits.
// Without a fence the stalled call then commits what it computed from the
// value before, and both calls are acknowledged: one increment is lost.
// With it the stalled call's seal is refused, its try is given up and run
// again, and it reads the other call's write.
//
// The stall is deterministic: the executor process blocks its main thread
// at that point until the test creates a file (CB_TEST_STALL_AFTER_CHECK,
// actors/executor/test_hooks.ts). Heartbeats are slow (5 s, a 15 s member
// timeout) so the router does not take the stalled executor for dead and
// send its call elsewhere. The other call goes to a second executor
// directly.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ExecutorNode } from '../actors/executor/executor_node.js';
import { decode } from '../lib/codec/index.js';
import { KvsNode } from '../kvs-node/kvs_node.js';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { request } from '../lib/actor/rpc.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { executorConfig, kvsConfig, routerConfig } from '../lib/config.js';
import type { Cb } from '../lib/function_api.js';
import { RouterNode } from '../router/router_node.js';
import { CliProcess } from './fixtures/cli.js';
import { startNats } from './fixtures/nats.js';

t.test('an executor stalled past its lease after its last lock check does not commit over the next holder', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cb-fence-'));
  const release = join(dir, 'go');
  const nats = await startNats(t);
  const common = { nats: nats.url, heartbeatMs: 5_000 };
  const kvs = await KvsNode.create(kvsConfig({ ...common, durability: 'none' }));
  await kvs.start();
  const router = await RouterNode.create(routerConfig(common));
  await router.start();
  const stalling = new CliProcess(['executor', '--nats', nats.url, '--id', 'exec-stalling', '--heartbeat-ms', '5000'], { ...process.env, CB_TEST_STALL_AFTER_CHECK: release });
  await stalling.waitFor(/ready on/);
  const client = await Cloudburst.connect({ servers: nats.url, timeoutMs: 60_000 });
  const transport = await NatsTransport.connect({ servers: nats.url });
  const started: ExecutorNode[] = [];
  t.teardown(async () => {
    await writeFile(release, '').catch(() => undefined);
    stalling.child.kill('SIGKILL');
    await client.close();
    await transport.close();
    await router.stop();
    for (const e of started) await e.stop();
    await kvs.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await client.register('increment', async (cb: Cb, key: string) => {
    const next = ((await cb.get<number>(key)) ?? 0) + 1;
    await cb.put(key, next);
    return next;
  });

  // The only executor running: the call goes to the one that stalls.
  const first = client.call<number>('increment', ['fenced'], { isolation: 'serializable', timeoutMs: 60_000 });
  await stalling.waitFor(/CB_TEST_STALL_AFTER_CHECK/);
  const other = await ExecutorNode.create(executorConfig({ ...common, id: 'exec-other' }));
  started.push(other);
  await other.start();
  // Meets the stalled holder's lock, tries again until its lease lapses (3 s), then reads and commits.
  const reply = (await request(transport, other.subject, 'call', { fn: 'increment', args: ['fenced'], consistency: 'lww', once: false, atomic: true, isolation: 'serializable', deadline: Date.now() + 30_000 }, Date.now() + 30_000)) as {
    result: Uint8Array;
  };
  const second = decode(reply.result) as number;
  t.equal(second, 1, 'the other call took the lock once the stalled holder\'s lease lapsed, and read the value before');
  await writeFile(release, '');
  const stalled = await first;
  const final = await client.get<number>('fenced');
  t.comment(`stalled call answered ${stalled}, other call ${second}, final ${final}`);
  t.equal(stalled, 2, 'the stalled call did not commit what it read before the stall: it ran again after the other call');
  t.equal(final, 2, 'both acknowledged increments are in the final value');
});
