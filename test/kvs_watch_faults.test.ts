// Merge pushes under faults: pushes are plain NATS messages, so a watcher
// must find the ones it missed. A shard killed and started again under its
// id (before anyone took it for dead) lost its leases; pushes lost on the way
// (a NATS restart, a partition between servers) are named by the shard's
// next heartbeat. Either way the watcher reads the key again, well before its
// lease's renewal (10 s here), and never stays behind.

import t, { type Test } from 'tap';
import { join } from 'node:path';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import type { InboundMessage, SubscribeOptions, Subscription, Transport } from '../lib/actor/transport.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { SetLattice, type Lattice } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import { ForwardingTransport } from './fixtures/forwarding_transport.js';
import { startNats } from './fixtures/nats.js';
import { startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { dataRoot, shardProcess } from './fixtures/shard_process.js';

/** Well under the 10 s after which a 30 s lease is renewed. */
const WITHIN_MS = 6_000;

/** Drops the next `drop` messages on update subjects, as a cut route would. */
class LossyUpdates extends ForwardingTransport {
  drop = 0;
  dropped = 0;
  override subscribe(subject: string, handler: (msg: InboundMessage) => void, opts?: SubscribeOptions): Subscription {
    if (!subject.includes('.upd.')) return super.subscribe(subject, handler, opts);
    return super.subscribe(
      subject,
      (msg) => {
        if (this.drop > 0) {
          this.drop--;
          this.dropped++;
          return;
        }
        handler(msg);
      },
      opts,
    );
  }
}

async function kvsClient(t: Test, transport: Transport): Promise<KvsClient> {
  // A restart (under 2 s) never looks like a leave: the ring does not move.
  const kvs = new KvsClient(transport, subjectsFor(), { watchTtlMs: 30_000, memberTimeoutMs: 20_000 });
  t.teardown(async () => {
    kvs.close();
    await transport.close();
  });
  return kvs;
}

const elements = (v: Lattice | undefined): string[] => (v ? [...(v.reveal() as ReadonlySet<string>)].sort() : []);

t.test('a shard killed and restarted under its id is leased again: a merge made after its restart reaches the watcher', async (t) => {
  const nats = await startNats(t);
  const root = await dataRoot(t);
  const args = ['--data-dir', join(root, 'kvs-a')];
  let shard = shardProcess(t, nats.url, 'kvs-a', args, 'kill');
  await shard.waitFor(/ready on/);
  const writer = await kvsClient(t, await NatsTransport.connect({ servers: nats.url }));
  const watcher = await kvsClient(t, await NatsTransport.connect({ servers: nats.url }));
  await writer.put('guests', new SetLattice(['ada']));
  let heard: string[] = [];
  const watch = watcher.watch(['guests'], (_k, v) => (heard = elements(v)));
  t.teardown(() => watch.close());
  await eventually('the watcher holds the value', () => heard.includes('ada'));

  shard.child.kill('SIGKILL');
  await shard.exited();
  // Sent now, the put lands as soon as the new start serves: before any watcher can lease anything there.
  const put = writer.put('guests', new SetLattice(['grace']));
  shard = shardProcess(t, nats.url, 'kvs-a', args, 'kill');
  await put;
  await eventually('the merge made after the restart reached the watcher', () => heard.includes('grace'), WITHIN_MS);
  t.same(heard, ['ada', 'grace']);
});

t.test('pushes lost on the way are found from the next heartbeat, and the key read again', async (t) => {
  const nats = await startNats(t);
  const shard = await startShard(nats.url, { heartbeatMs: 200 });
  t.teardown(() => shard.stop());
  const writer = await kvsClient(t, await NatsTransport.connect({ servers: nats.url }));
  const lossy = new LossyUpdates(await NatsTransport.connect({ servers: nats.url }));
  const watcher = await kvsClient(t, lossy);
  await writer.put('guests', new SetLattice(['ada']));
  let heard: string[] = [];
  const watch = watcher.watch(['guests'], (_k, v) => (heard = elements(v)));
  t.teardown(() => watch.close());
  await eventually('the watcher holds the value', () => heard.includes('ada'));

  lossy.drop = 1;
  await writer.put('guests', new SetLattice(['grace']));
  await eventually('the push was lost', () => lossy.dropped === 1);
  await eventually('the lost merge was read again', () => heard.includes('grace'), WITHIN_MS);
  t.same(heard, ['ada', 'grace']);
});
