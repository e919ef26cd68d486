// Member timeouts are measured on the monotonic clock. When they were
// measured on the wall clock, a node whose clock was stepped forward (NTP,
// an operator; the fault harness's `skew`) took every peer for gone at its
// next sweep: a KVS shard then saw itself alone in the ring, the primary and
// only replica of every key, for up to a heartbeat; a router took its
// executors for dead and sent their calls again.

import t from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { Membership } from '../lib/membership.js';
import { subjectsFor } from '../lib/subjects.js';
import { eventually } from './fixtures/eventually.js';
import { startNats } from './fixtures/nats.js';
import { shardProcess } from './fixtures/shard_process.js';

/** Resolves once `membership` has heard `count` more heartbeats of `id`. */
function heartbeats(membership: Membership, id: string, count: number): Promise<void> {
  return new Promise((resolve) => {
    let left = count;
    const off = membership.onHeard((m) => {
      if (m.id !== id || --left > 0) return;
      off();
      resolve();
    });
  });
}

t.test('a wall clock stepped forward does not make a live member look silent', async (t) => {
  const nats = await startNats(t);
  // Heartbeats every 200 ms; taken as gone after 600 ms of silence.
  const peer = shardProcess(t, nats.url, 'kvs-peer', ['--durability', 'none'], 'kill');
  await peer.waitFor(/ready on/);
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const membership = new Membership(600);
  const following = membership.follow(transport, subjectsFor());
  t.teardown(() => following.unsubscribe());
  await eventually('the peer is a member', () => membership.live('kvs').length === 1);

  let changes = 0;
  membership.onChange(() => changes++);
  const realNow = Date.now;
  Date.now = () => realNow.call(Date) + 5_000;
  try {
    t.same(
      membership.live('kvs').map((m) => m.id),
      ['kvs-peer'],
      'a member right after the step (live() sweeps first)',
    );
    // Four heartbeats span more than the timeout, so sweeps ran on the stepped clock meanwhile.
    await heartbeats(membership, 'kvs-peer', 4);
    t.same(
      membership.live('kvs').map((m) => m.id),
      ['kvs-peer'],
      'still a member',
    );
  } finally {
    Date.now = realNow;
  }
  await heartbeats(membership, 'kvs-peer', 4);
  t.equal(changes, 0, 'the view never changed: nobody was dropped and heard again');
  t.equal(membership.wentSilent('kvs-peer'), false);
});
