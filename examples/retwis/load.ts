// Retwis's load generator: users follow each other, then for a while post,
// reply to what they saw and read their timelines, many at once. Every
// timeline read is checked for replies shown without their parent, and at
// the end every timeline is checked for lost posts (checks.ts).

import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { measure, type Measurement } from '../../bench/harness.js';
import { ExecutionError } from '../../lib/index.js';
import type { Say } from '../example_cli.js';
import { OpStats } from '../op_stats.js';
import { lostPosts, orphanReplies } from './checks.js';
import { TIMELINE_CAP } from './functions.js';
import type { Post, Retwis } from './retwis.js';

export interface RetwisLoadOptions {
  /** Users, named <names>0, <names>1, ... */
  users: number;
  /** What user names start with: a fresh one per run keeps runs on one cluster apart. Default `user`. */
  names?: string;
  /** Whom each user follows, chosen at random among the others. */
  follows: number;
  /** Operations kept running at once. */
  inFlight: number;
  durationMs: number;
  /** Seeds the follow graph and the choice of operations. */
  seed: number;
  /** Progress lines while the load runs. */
  say?: Say;
}

export interface RetwisLoadReport {
  /** Whom each user follows. */
  follows: Map<string, Set<string>>;
  /** Acknowledged posts (replies included), by id. */
  posts: Map<string, Post>;
  timelineReads: number;
  /** Replies refused because the parent was not (yet) in its author's list as the reply's call read it. */
  refusedReplies: number;
  /** Replies a timeline read showed without their parent. */
  orphans: { user: string; reply: Post }[];
  /** Posts missing from a final timeline that should show them. */
  lost: { user: string; post: Post }[];
  stats: OpStats;
  measurement: Measurement;
}

/** Each user follows `count` others picked at random; resolves with whom each follows. */
async function followAtRandom(retwis: Retwis, users: string[], count: number, pick: (xs: readonly string[]) => string): Promise<Map<string, Set<string>>> {
  const follows = new Map(users.map((u) => [u, new Set<string>()]));
  // One at a time: under lww, concurrent follows of one user would lose followers,
  // and the checks count only what happens after the graph is in place.
  for (const user of users) {
    const others = users.filter((u) => u !== user);
    const mine = follows.get(user)!;
    while (mine.size < Math.min(count, others.length)) {
      const target = pick(others);
      if (mine.has(target)) continue;
      await retwis.follow(user, target);
      mine.add(target);
    }
  }
  return follows;
}

export async function runRetwisLoad(retwis: Retwis, opts: RetwisLoadOptions): Promise<RetwisLoadReport> {
  const rng = xoroshiro128plus(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[uniformInt(rng, 0, xs.length - 1)]!;
  const users = Array.from({ length: opts.users }, (_, i) => `${opts.names ?? 'user'}${i}`);
  const follows = await followAtRandom(retwis, users, opts.follows, pick);

  const stats = new OpStats();
  const posts = new Map<string, Post>();
  const orphans: RetwisLoadReport['orphans'] = [];
  const lastSeen = new Map<string, Post[]>();
  let timelineReads = 0;
  let refusedReplies = 0;
  let written = 0;
  const op = async (): Promise<void> => {
    const user = pick(users);
    const roll = uniformInt(rng, 0, 99);
    if (roll < 40) {
      const shown = await stats.time('timeline', () => retwis.timeline(user, TIMELINE_CAP));
      timelineReads++;
      lastSeen.set(user, shown);
      for (const reply of orphanReplies(user, shown, follows.get(user)!, posts)) orphans.push({ user, reply });
      return;
    }
    // Replies answer acknowledged posts the user has seen.
    const parents = (lastSeen.get(user) ?? []).filter((p) => p.author !== user && posts.has(p.id));
    let made: Post;
    if (roll < 60 && parents.length > 0) {
      const parent = pick(parents);
      try {
        made = await stats.time('reply', () => retwis.post(user, `re ${parent.id.slice(0, 8)}: #${++written}`, parent));
      } catch (err) {
        if (!(err instanceof ExecutionError && /to reply to/.test(err.message))) throw err;
        refusedReplies++;
        return;
      }
    } else {
      made = await stats.time('post', () => retwis.post(user, `post #${++written} by ${user}`));
    }
    posts.set(made.id, made);
  };
  const stopProgress = opts.say ? stats.reportProgress(opts.say) : () => {};
  let measurement: Measurement;
  try {
    measurement = await measure(op, { inFlight: opts.inFlight, durationMs: opts.durationMs });
  } finally {
    stopProgress();
  }

  // What the store holds in the end, read from the KVS itself: a function's
  // read could come from a cache that has not heard of the last posts yet.
  const lost: RetwisLoadReport['lost'] = [];
  for (const user of users) {
    const shown = await retwis.storedTimeline(user);
    for (const post of lostPosts(user, shown, follows.get(user)!, posts.values())) lost.push({ user, post });
    for (const reply of orphanReplies(user, shown, follows.get(user)!, posts)) orphans.push({ user, reply });
  }
  return { follows, posts, timelineReads, refusedReplies, orphans, lost, stats, measurement };
}
