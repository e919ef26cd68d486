// What Retwis promises under causal consistency, as checks over what users
// saw: no reply is shown without the post it answers, and no acknowledged
// post is missing from a timeline that should show it. Both can fail under
// lww (concurrent writers of a timeline overwrite each other, and a cache
// may lag), which is what the example's --consistency lww run shows.

import { TIMELINE_CAP, newestFirst, type Post } from './functions.js';

/**
 * Replies in `shown` (one read of `user`'s timeline) whose parent is not
 * shown though `user` sees its author's posts (`follows`), unless the
 * parent may have been trimmed off a full timeline. `posts` are the posts
 * made so far, by id.
 */
export function orphanReplies(user: string, shown: Post[], follows: ReadonlySet<string>, posts: ReadonlyMap<string, Post>): Post[] {
  const ids = new Set(shown.map((p) => p.id));
  const oldest = shown.length >= TIMELINE_CAP ? shown[shown.length - 1] : undefined;
  return shown.filter((p) => {
    if (!p.replyTo || ids.has(p.replyTo.id)) return false;
    if (p.replyTo.author !== user && !follows.has(p.replyTo.author)) return false;
    const parent = posts.get(p.replyTo.id);
    return !(oldest && parent && newestFirst(parent, oldest) > 0);
  });
}

/**
 * Posts `user`'s final timeline (`shown`) lacks: every post by `user` or by
 * whom they follow, newest first, up to the cap. `posts` are all
 * acknowledged posts, made after the follows.
 */
export function lostPosts(user: string, shown: Post[], follows: ReadonlySet<string>, posts: Iterable<Post>): Post[] {
  const ids = new Set(shown.map((p) => p.id));
  const due = [...posts].filter((p) => p.author === user || follows.has(p.author)).sort(newestFirst).slice(0, TIMELINE_CAP);
  return due.filter((p) => !ids.has(p.id));
}
