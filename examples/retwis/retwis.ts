// The Retwis client: registers the functions of functions.ts and calls them,
// each call one causal session (or lww, to see what causal prevents).

import { randomUUID } from 'node:crypto';
import { InvalidArgument, type Cloudburst } from '../../lib/index.js';
import { moduleSource } from '../module_source.js';
import { TIMELINE_CAP, follow, following, mergedPosts, mergedUsers, newestFirst, post, timeline, versionsOf, type Post } from './functions.js';

export type { Post } from './functions.js';

export type RetwisConsistency = 'causal' | 'lww';

const USER = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_TEXT = 280;

function checkUser(user: string): string {
  if (typeof user !== 'string' || !USER.test(user)) throw new InvalidArgument(`user name "${user}" must be 1 to 64 letters, digits, _, . or -`);
  return user;
}

export class Retwis {
  constructor(
    private readonly client: Cloudburst,
    /** Causal unless you want to see what it prevents: lost posts and replies without their parent. */
    private readonly consistency: RetwisConsistency = 'causal',
  ) {}

  /** Registers Retwis's functions (a second time replaces them with this code). */
  static async register(client: Cloudburst): Promise<void> {
    const helpers = [versionsOf, newestFirst, mergedPosts, mergedUsers];
    await client.register('retwis.post', moduleSource(post, ...helpers));
    await client.register('retwis.follow', moduleSource(follow, ...helpers));
    await client.register('retwis.timeline', moduleSource(timeline, ...helpers));
    await client.register('retwis.following', moduleSource(following, ...helpers));
  }

  /** Publishes a post by `author` (a reply when `replyTo` names a post of someone's). */
  post(author: string, text: string, replyTo?: Pick<Post, 'author' | 'id'>): Promise<Post> {
    checkUser(author);
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TEXT) throw new InvalidArgument(`a post is 1 to ${MAX_TEXT} characters`);
    const p: Post = { id: randomUUID(), author, text, at: Date.now() };
    if (replyTo) p.replyTo = { author: checkUser(replyTo.author), id: replyTo.id };
    return this.call('retwis.post', [p, TIMELINE_CAP]);
  }

  /** `user` follows `target`; resolves with everyone `user` follows. */
  follow(user: string, target: string): Promise<string[]> {
    return this.call('retwis.follow', [checkUser(user), checkUser(target), TIMELINE_CAP]);
  }

  /** The newest `limit` posts `user` sees: their own and those of whom they follow. */
  timeline(user: string, limit = 50): Promise<Post[]> {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new InvalidArgument('limit must be a whole number >= 1');
    return this.call('retwis.timeline', [checkUser(user), limit]);
  }

  /** `user`'s timeline as the KVS holds it (every replica merged), read without a function: for checking what was stored. */
  async storedTimeline(user: string): Promise<Post[]> {
    return mergedPosts(await this.client.get(`retwis/timeline/${checkUser(user)}`, { all: true }), [], TIMELINE_CAP);
  }

  following(user: string): Promise<string[]> {
    return this.call('retwis.following', [checkUser(user)]);
  }

  private call<T>(fn: string, args: unknown[]): Promise<T> {
    return this.client.call<T>(fn, args, { consistency: this.consistency });
  }
}
