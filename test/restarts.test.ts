// A node restarted under the same id (as `cloudburst up` restarts a crashed
// one) is a new incarnation: work the old one had is lost, though the node's
// id never stopped heartbeating long enough to time out. Routers send such
// work again; a late `leave` of the old incarnation removes nothing.

import t from 'tap';
import { LocalCluster, memoryCluster } from '../bin/local_cluster.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import type { Heartbeat } from '../lib/actor/actor.js';
import type { Cb } from '../lib/function_api.js';
import { Membership } from '../lib/membership.js';
import { InFlight, type Tracked } from '../router/in_flight.js';
import { eventually } from './fixtures/eventually.js';

const beat = (id: string, incarnation: string | undefined): Heartbeat => ({
  id,
  kind: 'executor',
  subject: `cb.exec.${id}`,
  startedAt: 0,
  at: Date.now(),
  ...(incarnation === undefined ? {} : { incarnation }),
});

t.test('membership: a new incarnation is a change; a leave of an old one is ignored', async (t) => {
  const members = new Membership(60_000);
  let changes = 0;
  members.onChange(() => changes++);
  members.heard(beat('e1', 'a'));
  members.heard(beat('e1', 'a'));
  t.equal(changes, 1, 'the join is a change; the same incarnation again is not');
  members.heard(beat('e1', 'b'));
  t.equal(changes, 2, 'the same id under a new incarnation is');
  members.left('e1', 'a');
  t.same(members.live().map((m) => [m.id, m.incarnation]), [['e1', 'b']], 'a late leave of the old incarnation leaves the new one');
  members.heard(beat('e1', undefined));
  t.equal(changes, 2, 'a member learnt second-hand (no incarnation) is no restart');
  t.equal(members.live()[0]!.incarnation, 'b', 'and keeps the incarnation known');
  members.left('e1', 'b');
  t.same(members.live(), [], 'its own leave removes it');
  members.heard(beat('e2', 'c'));
  members.left('e2');
  t.same(members.live(), [], 'a leave naming no incarnation removes whatever runs under the id');
});

t.test('in-flight work is orphaned when its executor is gone or restarted', async (t) => {
  const work = new InFlight<Tracked>();
  t.teardown(() => ['w1', 'w2', 'w3'].forEach((id) => work.done(id)));
  const deadline = Date.now() + 60_000;
  work.track({ id: 'w1', executors: [{ id: 'e1', incarnation: 'a' }], deadline, retried: false });
  work.track({ id: 'w2', executors: [{ id: 'e2', incarnation: 'c' }], deadline, retried: false });
  work.track({ id: 'w3', executors: [{ id: 'e1', incarnation: 'a' }, { id: 'e2', incarnation: 'c' }], deadline, retried: false });
  t.same(work.orphaned(new Map([['e1', 'a'], ['e2', 'c']])), [], 'every executor there, as it was');
  t.same(
    work.orphaned(new Map([['e1', 'b'], ['e2', 'c']])).map((w) => w.id),
    ['w1', 'w3'],
    'e1 restarted: what it ran is orphaned, also a DAG run with one stage there',
  );
  t.same(work.orphaned(new Map([['e1', 'b']])).map((w) => w.id), ['w2'], 'e2 gone');
  t.equal(work.size, 0);
});

t.test('a call whose executor is killed and restarted under the same id is sent again, long before its deadline', async (t) => {
  // A member timeout (3 heartbeats: 15 s) well above the time a restart takes
  // (one to a few seconds): the router never sees the executor's id go silent.
  const cluster = await LocalCluster.start(memoryCluster({ executors: 1, heartbeatMs: 5_000 }));
  t.teardown(() => cluster.stop());
  const client = await Cloudburst.connect({ servers: cluster.natsUrl, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  // The first attempt marks that it started, then blocks until it is killed.
  await client.register('once_slow', async (cb: Cb) => {
    if (await cb.get<boolean>('started')) return 'sent again';
    await cb.put('started', true);
    await new Promise((resolve) => setTimeout(resolve, 60_000));
    return 'first attempt';
  });
  const deadlineMs = 30_000;
  const call = client.call<string>('once_slow', [], { timeoutMs: deadlineMs }).then(
    (answer) => ({ answer, at: Date.now() }),
    (err: Error) => ({ error: err, at: Date.now() }),
  );
  await eventually('the first attempt started', async () => (await client.get<boolean>('started')) === true);
  const executor = cluster.executors[0]!;
  const oldPid = executor.process.pid;
  const killedAt = Date.now();
  executor.process.kill('SIGKILL');
  const outcome = await call;
  t.not(executor.process.pid, oldPid, 'the supervisor restarted the executor (same id, new process)');
  t.same(outcome, { answer: 'sent again', at: outcome.at }, 'the call was answered by its second attempt');
  const tookMs = outcome.at - killedAt;
  t.ok(tookMs < 10_000, `answered ${tookMs} ms after the kill (deadline ${deadlineMs} ms)`);
});
