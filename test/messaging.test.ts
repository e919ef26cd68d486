// cb.send / cb.recv between running function instances, across executors.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { DeadlineExceeded, InvalidArgument } from '../lib/errors.js';
import { startCluster } from './fixtures/cluster.js';

t.test('two running functions talk directly: ping and pong, across executors', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  // The receiver publishes its id in the KVS, then waits for a message.
  await client.register('receiver', async (cb: Cb, slot: string) => {
    await cb.put(slot, cb.id);
    const first = await cb.recv();
    await cb.send(first.from, new TextEncoder().encode(`pong:${new TextDecoder().decode(first.data)}`));
    return new TextDecoder().decode(first.data);
  });
  await client.register('sender', async (cb: Cb, slot: string) => {
    let to: string | undefined;
    while (!(to = await cb.get<string>(slot))) await new Promise((r) => setTimeout(r, 5));
    await cb.send(to, new TextEncoder().encode('ping'));
    const answer = await cb.recv();
    return new TextDecoder().decode(answer.data);
  });
  const [received, answered] = await Promise.all([client.call('receiver', ['slot1']), client.call('sender', ['slot1'])]);
  t.equal(received, 'ping');
  t.equal(answered, 'pong:ping');
});

t.test('recv with nothing sent ends at its timeout; a bad recipient id is InvalidArgument', async (t) => {
  const { client } = await startCluster(t);
  await client.register('lonely', async (cb: Cb) => cb.recv(100));
  await t.rejects(client.call('lonely'), DeadlineExceeded);
  await client.register('badsend', async (cb: Cb) => cb.send('no-such*id', new Uint8Array([1])));
  await t.rejects(client.call('badsend'), InvalidArgument);
});
