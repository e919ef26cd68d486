// An exactly-once call's reads see every write acknowledged before them,
// even when the executor's cache has not heard of it yet (a push late or
// lost): exactly-once read-modify-write calls made one after another each
// act on the last one's write, as a retried counter needs. The executor here
// gets merge pushes seconds late; a plain lww call reads its stale cache
// (allowed), an exactly-once call must not.

import t from 'tap';
import { ExecutorNode } from '../actors/executor/executor_node.js';
import { KvsNode } from '../kvs-node/kvs_node.js';
import type { InboundMessage, SubscribeOptions, Subscription } from '../lib/actor/transport.js';
import { actorOptions } from '../lib/actor/node_setup.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { executorConfig, kvsConfig, routerConfig } from '../lib/config.js';
import type { Cb } from '../lib/function_api.js';
import { RouterNode } from '../router/router_node.js';
import { ForwardingTransport } from './fixtures/forwarding_transport.js';
import { startNats } from './fixtures/nats.js';

/** Holds back merge pushes (`<prefix>.upd.*`) for 5 s: a cache that has not heard of a write yet. */
class LateUpdates extends ForwardingTransport {
  override subscribe(subject: string, handler: (msg: InboundMessage) => void, opts?: SubscribeOptions): Subscription {
    if (!subject.includes('.upd.')) return super.subscribe(subject, handler, opts);
    return super.subscribe(
      subject,
      (m) => {
        const late = { subject: m.subject, reply: m.reply, data: m.data.slice() };
        setTimeout(() => handler(late), 5_000).unref();
      },
      opts,
    );
  }
}

t.test('an exactly-once read sees a write its executor has not heard of; a plain lww read may not', async (t) => {
  const nats = await startNats(t);
  const common = { nats: nats.url, heartbeatMs: 200 };
  // Shard heartbeats name the pushes sent since the last one, which makes a
  // cache read a key again (push_tracker.ts): far apart here, so the cache
  // stays behind for the length of the test.
  const kvs = await KvsNode.create(kvsConfig({ ...common, heartbeatMs: 4_000, memberTimeoutMs: 20_000, durability: 'none' }));
  await kvs.start();
  const config = executorConfig(common);
  const opts = await actorOptions('executor', config);
  const executor = new ExecutorNode({ ...opts, transport: new LateUpdates(opts.transport) }, config);
  await executor.start();
  const router = await RouterNode.create(routerConfig(common));
  await router.start();
  const client = await Cloudburst.connect({ servers: nats.url, timeoutMs: 10_000 });
  t.teardown(async () => {
    await client.close();
    await router.stop();
    await executor.stop();
    await kvs.stop();
  });
  await client.register('incr', async (cb: Cb, key: string) => {
    const next = ((await cb.get<number>(key)) ?? 0) + 1;
    await cb.put(key, next);
    return next;
  });

  t.equal(await client.call('incr', ['n']), 1);
  t.equal(await client.call('incr', ['n']), 2, 'the key is now cached at the executor (read once it existed)');
  await client.put('n', 10);
  t.equal(await client.call('incr', ['n']), 3, 'a plain call reads the cache, which has not heard of the 10 yet (lww allows it)');
  await client.put('n', 20);
  t.equal(await client.call('incr', ['n'], { exactlyOnce: true, requestId: 'after-20' }), 21, 'an exactly-once call reads what the KVS holds');
  t.equal(await client.call('incr', ['n'], { exactlyOnce: true, requestId: 'after-20' }), 21, 'and a retry of it answers the same');
});
