// Retwis, a Twitter clone, as Cloudburst functions. Meant to run with
// `consistency: 'causal'`: a call's reads and writes are one causal session,
// so a reply is never shown without the post it answers, and concurrent
// writers of one list leave concurrent versions (merged by the next writer)
// instead of overwriting each other.
//
// State, all plain values (under causal they become causal versions):
//   retwis/timeline/<user>   { posts: Post[] }  what <user> reads: own posts and followed users'
//   retwis/posts/<user>      { posts: Post[] }  what <user> wrote
//   retwis/followers/<user>  { users: string[] }
//   retwis/following/<user>  { users: string[] }
// Lists keep the newest TIMELINE_CAP posts, as Retwis trims its lists: every
// post rewrites the lists it lands in, so they must stay small.
//
// A post goes to its author's and every follower's timeline first, and to its
// author's own list last. A reply first reads the parent's author's list
// (checking the parent exists), so under causal the reply depends on every
// timeline the parent reached: a follower's timeline is read at least at the
// version holding the parent before the reply is added to it.
//
// The functions are shipped as source with the helpers below (moduleSource),
// so they use nothing else from this file.

import type { Cb } from '../../lib/index.js';

export interface Post {
  id: string;
  author: string;
  text: string;
  /** Milliseconds since the epoch, set by the client; timelines are newest first. */
  at: number;
  /** The post this one answers. */
  replyTo?: { author: string; id: string };
}

export const TIMELINE_CAP = 50;

/** The versions a read returned: under causal an array of concurrent values, under lww one value, none when absent. */
export function versionsOf<T>(stored: T | T[] | undefined): T[] {
  if (stored === undefined) return [];
  return Array.isArray(stored) ? stored : [stored];
}

/** Timeline order: newest first, ties by id. */
export function newestFirst(a: Post, b: Post): number {
  return b.at - a.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The posts of every version (and of `extra`), each once, newest first, at most `cap`. */
export function mergedPosts(stored: unknown, extra: Post[], cap: number): Post[] {
  const byId = new Map<string, Post>();
  for (const v of versionsOf(stored as { posts: Post[] } | undefined)) for (const p of v.posts) byId.set(p.id, p);
  for (const p of extra) byId.set(p.id, p);
  return [...byId.values()].sort(newestFirst).slice(0, cap);
}

/** The users of every version (and `extra`), each once, sorted. */
export function mergedUsers(stored: unknown, extra: string[]): string[] {
  const users = new Set(extra);
  for (const v of versionsOf(stored as { users: string[] } | undefined)) for (const u of v.users) users.add(u);
  return [...users].sort();
}

/** Publishes `p` to its author's and followers' timelines, then to the author's list. A reply's parent must exist. */
export async function post(cb: Cb, p: Post, cap: number): Promise<Post> {
  if (p.replyTo) {
    const { author, id } = p.replyTo;
    const parents = mergedPosts(await cb.get(`retwis/posts/${author}`), [], Infinity);
    if (!parents.some((q) => q.id === id)) throw new Error(`${author} has no post ${id} to reply to`);
  }
  const followers = mergedUsers(await cb.get(`retwis/followers/${p.author}`), []);
  const add = async (key: string): Promise<void> => cb.put(key, { posts: mergedPosts(await cb.get(key), [p], cap) });
  await Promise.all([p.author, ...followers].map((user) => add(`retwis/timeline/${user}`)));
  // Last, so that whoever reads this list depends on every timeline above.
  await add(`retwis/posts/${p.author}`);
  return p;
}

/** `user` follows `target`: each list learns of the other, and `target`'s posts so far join `user`'s timeline. */
export async function follow(cb: Cb, user: string, target: string, cap: number): Promise<string[]> {
  if (user === target) throw new Error(`${user} cannot follow themselves`);
  const addUser = async (key: string, name: string): Promise<string[]> => {
    const users = mergedUsers(await cb.get(key), [name]);
    await cb.put(key, { users });
    return users;
  };
  await addUser(`retwis/followers/${target}`, user);
  const theirs = mergedPosts(await cb.get(`retwis/posts/${target}`), [], cap);
  const timeline = `retwis/timeline/${user}`;
  await cb.put(timeline, { posts: mergedPosts(await cb.get(timeline), theirs, cap) });
  return addUser(`retwis/following/${user}`, target);
}

/** The newest `limit` posts of `user`'s timeline. */
export async function timeline(cb: Cb, user: string, limit: number): Promise<Post[]> {
  return mergedPosts(await cb.get(`retwis/timeline/${user}`), [], limit);
}

/** Whom `user` follows. */
export async function following(cb: Cb, user: string): Promise<string[]> {
  return mergedUsers(await cb.get(`retwis/following/${user}`), []);
}
