// An exactly-once call's reads see every write acknowledged before them,
// even when the executor's cache has not heard of it yet (a push late or
// lost): exactly-once read-modify-write calls made one after another each
// act on the last one's write, as a retried counter needs. The executor here
// gets merge pushes seconds late; a plain lww call reads its stale cache
// (allowed), an exactly-once call must not.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { clusterWithLatePushes } from './fixtures/late_pushes.js';

t.test('an exactly-once read sees a write its executor has not heard of; a plain lww read may not', async (t) => {
  // Shard heartbeats name the pushes sent since the last one, which makes a
  // cache read a key again (push_tracker.ts): far apart here, so the cache
  // stays behind (pushes 5 s late) for the length of the test.
  const client = await clusterWithLatePushes(t, 5_000, { heartbeatMs: 4_000, memberTimeoutMs: 20_000 });
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
