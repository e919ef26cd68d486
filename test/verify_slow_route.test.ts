// The harness's slowed routes (verify/partition.ts), which the causal
// workload's control needs: a RouteProxy with a delay passes every byte on,
// in order, no sooner than the delay; in a NATS cluster of three, messages
// between the two servers of a slowed pair arrive that much later, the
// others as before. And the causal workload's slot placement, which makes
// posts' pushes cross the slowed pair and replies' not.

import { connect, type NatsConnection } from '@nats-io/transport-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { HashRing } from '../lib/kvs/hash_ring.js';
import { NatsCluster, RouteProxy } from '../verify/partition.js';
import { placeSlots } from '../verify/workloads/causal.js';

const DELAY_MS = 200;

t.test('a slowed proxy passes every chunk on in order, none sooner than the delay', async (t) => {
  // A sink that stamps what it reads.
  const received: { at: number; text: string }[] = [];
  const sink: Server = createServer((s) => s.on('data', (d: Buffer) => received.push({ at: performance.now(), text: d.toString() })));
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const port = (sink.address() as { port: number }).port;
  const proxy = await RouteProxy.start(port);
  t.teardown(async () => {
    await proxy.close();
    await new Promise((resolve) => sink.close(resolve));
  });
  proxy.setDelay(DELAY_MS);
  const socket = new Socket();
  await new Promise<void>((resolve) => socket.connect(proxy.port, '127.0.0.1', resolve));
  const sent: number[] = [];
  const total = 20;
  for (let i = 0; i < total; i++) {
    sent.push(performance.now());
    socket.write(`${String(i).padStart(2, '0')};`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // Halfway through the delay drops to 0: chunks still queued must not be overtaken.
  proxy.setDelay(0);
  socket.write('end;');
  while (!received.map((r) => r.text).join('').endsWith('end;')) await new Promise((resolve) => setTimeout(resolve, 10));
  socket.destroy();
  const text = received.map((r) => r.text).join('');
  t.equal(text, `${Array.from({ length: total }, (_, i) => `${String(i).padStart(2, '0')};`).join('')}end;`, 'every byte, in order');
  // The first chunk left at sent[0]; nothing reached the sink before the delay had passed.
  t.ok(received[0]!.at - sent[0]! >= DELAY_MS - 1, `first chunk after ${Math.round(received[0]!.at - sent[0]!)} ms`);
});

t.test('in a NATS cluster, a slowed pair of servers hears each other late and the others on time', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cb-slow-route-'));
  const cluster = await NatsCluster.start(3, dir);
  const conns: NatsConnection[] = [];
  t.teardown(async () => {
    await Promise.all(conns.map((nc) => nc.close()));
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  });
  cluster.setDelay(1, 2, DELAY_MS);
  for (const s of cluster.servers) conns.push(await connect({ servers: s.url }));
  const [c0, c1, c2] = conns as [NatsConnection, NatsConnection, NatsConnection];
  /** Milliseconds from a publish on `from` to its arrival on `to` (the subscription's interest given time to spread). */
  const latency = async (from: NatsConnection, to: NatsConnection): Promise<number> => {
    const subject = `probe.${Math.random().toString(36).slice(2)}`;
    let arrived: (at: number) => void = () => undefined;
    const sub = to.subscribe(subject, { callback: () => arrived(performance.now()) });
    await to.flush();
    // Interest crosses the slowed route too: publish until the first one arrives, then time a fresh one.
    const first = new Promise<number>((resolve) => (arrived = resolve));
    const timer = setInterval(() => from.publish(subject), 20);
    await first;
    clearInterval(timer);
    await new Promise((resolve) => setTimeout(resolve, 3 * DELAY_MS));
    const timed = new Promise<number>((resolve) => (arrived = resolve));
    const start = performance.now();
    from.publish(subject);
    const at = await timed;
    sub.unsubscribe();
    return at - start;
  };
  const slow = await latency(c2, c1);
  const fast = await latency(c2, c0);
  const alsoFast = await latency(c0, c1);
  t.ok(slow >= DELAY_MS - 1, `nats-2 -> nats-1: ${Math.round(slow)} ms`);
  // Relative, so a busy machine's own latency does not decide it.
  t.ok(fast <= slow - DELAY_MS / 2, `nats-2 -> nats-0: ${Math.round(fast)} ms`);
  t.ok(alsoFast <= slow - DELAY_MS / 2, `nats-0 -> nats-1: ${Math.round(alsoFast)} ms`);
});

t.test('causal slots: every post key on the last shard, no reply key there', (t) => {
  const shards = ['kvs-0', 'kvs-1', 'kvs-2'];
  const ring = new HashRing(shards);
  const slots = placeSlots(shards, 8);
  t.equal(new Set(slots).size, 8, 'one slot per process');
  for (const slot of slots) {
    t.equal(ring.replicas(`causal/post/${slot}`, 1)[0], 'kvs-2', `post of ${slot}`);
    t.not(ring.replicas(`causal/reply/${slot}`, 1)[0], 'kvs-2', `reply of ${slot}`);
  }
  t.same(placeSlots(['only'], 2), ['p0', 'p1'], 'one shard: nothing to place');
  t.end();
});
