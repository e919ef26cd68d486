// The Retwis example (examples/retwis): timelines hold what users follow;
// under lww a concurrent load shows replies without their parent and loses
// posts, which the checks find. Under causal the same load shows neither.

import t from 'tap';
import { ExecutionError, InvalidArgument } from '../lib/errors.js';
import { runRetwisLoad } from '../examples/retwis/load.js';
import { Retwis, type Post } from '../examples/retwis/retwis.js';
import { startCluster } from './fixtures/cluster.js';
import { runExampleScript } from './fixtures/example_script.js';

const texts = (posts: Post[]): string[] => posts.map((p) => p.text);

t.test('users post, follow and reply; timelines hold their own and followed users’ posts, newest first', async (t) => {
  const { client } = await startCluster(t);
  await Retwis.register(client);
  const retwis = new Retwis(client);
  await retwis.follow('grace', 'ada');
  t.same(await retwis.follow('edsger', 'ada'), ['ada']);
  t.same(await retwis.follow('edsger', 'grace'), ['ada', 'grace'], 'the users edsger follows');
  const first = await retwis.post('ada', 'first!');
  await retwis.post('grace', 'hello');
  const reply = await retwis.post('grace', 'welcome', first);
  t.same(reply.replyTo, { author: 'ada', id: first.id });

  t.same(texts(await retwis.timeline('ada')), ['first!'], 'ada follows nobody: only her own post');
  t.same(texts(await retwis.timeline('grace')), ['welcome', 'hello', 'first!']);
  t.same(texts(await retwis.timeline('edsger')), ['welcome', 'hello', 'first!']);
  t.same(texts(await retwis.timeline('edsger', 1)), ['welcome'], 'limit keeps the newest');
  await retwis.follow('alan', 'grace');
  t.same(texts(await retwis.timeline('alan')), ['welcome', 'hello'], 'a new follower sees what was posted before');
  t.same(await retwis.following('alan'), ['grace']);

  await t.rejects(retwis.post('alan', 'huh?', { author: 'ada', id: 'no-such-post' }), ExecutionError, 'a reply to a post that does not exist');
  await t.rejects(retwis.follow('alan', 'alan'), { message: /cannot follow themselves/ });
  t.throws(() => retwis.post('bad name', 'x'), InvalidArgument);
  t.throws(() => retwis.post('ada', ''), InvalidArgument);
});

t.test('a concurrent load under causal shows no reply without its parent and loses no post', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await Retwis.register(client);
  const report = await runRetwisLoad(new Retwis(client, 'causal'), { users: 10, follows: 4, inFlight: 8, durationMs: 4000, seed: 7 });
  const replies = [...report.posts.values()].filter((p) => p.replyTo).length;
  t.ok(report.posts.size - replies > 10 && replies > 3 && report.timelineReads > 10, `the load posted (${report.posts.size - replies}), replied (${replies}) and read (${report.timelineReads})`);
  t.same(report.orphans, [], 'no timeline read showed a reply without its parent');
  t.same(report.lost, [], 'every post is in its author’s and every follower’s timeline');
});

t.test('the same load under lww shows replies without their parent (the check can fail)', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await Retwis.register(client);
  // Timing decides which writes are lost: run until a reply is orphaned (bounded).
  let orphans = 0;
  let lost = 0;
  for (let round = 0; round < 5 && orphans === 0; round++) {
    const report = await runRetwisLoad(new Retwis(client, 'lww'), { users: 6, names: `r${round}-`, follows: 5, inFlight: 8, durationMs: 2000, seed: round });
    orphans = report.orphans.length;
    lost += report.lost.length;
  }
  t.ok(orphans > 0, `replies shown without their parent (${orphans}; ${lost} posts lost)`);
});

t.test('the load generator runs from the command line against a cluster', async (t) => {
  const { nats } = await startCluster(t, { executors: 2 });
  const { code, stdout } = await runExampleScript('retwis', ['--nats', nats.url, '--users', '5', '--follows', '2', '--seconds', '1']);
  t.equal(code, 0, stdout);
  t.match(stdout, /all operations, 8 in flight: [\d,]+ ops\/s, p50 [\d,]+ µs, p99 [\d,]+ µs/);
  t.match(stdout, /^post: [\d,]+ ops, [\d.]+ ops\/s, p50 [\d.]+ ms, p99 [\d.]+ ms$/m);
  t.match(stdout, /replies shown without their parent: \d+\n/);
  t.match(stdout, /posts missing from timelines that should show them: \d+/);
});
