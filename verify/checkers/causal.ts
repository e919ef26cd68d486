// Checker of the `causal` workload: no effect seen without its cause, after
// Retwis (examples/retwis/checks.ts) and test/causal.test.ts.
//
// Each slot has a post key, written only by its owning process with rising
// sequence numbers (the posts), and a reply key: a reply function reads the
// post key and writes {id, parent} to the reply key, parent being the newest
// post it read, so the reply causally depends on that post. A reader reads
// the reply key, then the post key, in one call. Under causal consistency
// `get` returns the concurrent versions as an array; the workload's
// functions return arrays in every mode (one value under lww).
//
// Operations (invoke values; ok values):
//   post  {slot, seq}
//   reply {slot, id}; ok: the parent it read (null: no post yet, no write)
//   read  {slot}; ok: {reply: {id, parent}[], post: number[]}
//
// Promises (anomaly kinds), over ok reads:
//   reply-without-parent  the read saw a reply to post P, but no post of the
//                         slot at P or later (posts of a slot are written in
//                         order by one process: a later one shows P was
//                         overwritten, not missed)
//   phantom-reply         a reply id no reply op of the slot was invoked with
//   phantom-post          a post sequence no post op of the slot was invoked
//                         with (also a reply's parent)
// Info and pending posts and replies may or may not have happened: a value
// they wrote may be read, and is never required.

import type { CheckResult, History } from '../workload.js';
import { Anomalies, brief, calls, record } from './history.js';

interface Reply {
  id: string;
  parent: number;
}

export function checkCausal(history: History, _final: unknown): CheckResult {
  const all = calls(history);
  const anomalies = new Anomalies();
  const posts = new Set<string>();
  const replies = new Set<string>();
  for (const call of all) {
    const a = record(call.args);
    if (call.type === 'fail') continue;
    if (call.f === 'post') posts.add(`${String(a['slot'])}\u0000${String(a['seq'])}`);
    if (call.f === 'reply') replies.add(`${String(a['slot'])}\u0000${String(a['id'])}`);
  }
  let reads = 0;
  let withReply = 0;
  for (const call of all) {
    if (call.f !== 'read' || call.type !== 'ok') continue;
    reads++;
    const slot = String(record(call.args)['slot']);
    const r = record(call.result);
    const seen = (Array.isArray(r['reply']) ? r['reply'] : []) as Reply[];
    const shown = (Array.isArray(r['post']) ? r['post'] : []) as number[];
    if (seen.length > 0) withReply++;
    for (const seq of shown) if (!posts.has(`${slot}\u0000${seq}`)) anomalies.add('phantom-post', { ...brief(call), seq });
    const newest = Math.max(-Infinity, ...shown);
    for (const reply of seen) {
      if (!replies.has(`${slot}\u0000${reply.id}`)) anomalies.add('phantom-reply', { ...brief(call), reply });
      if (!posts.has(`${slot}\u0000${reply.parent}`)) anomalies.add('phantom-post', { ...brief(call), seq: reply.parent, as: 'parent' });
      else if (newest < reply.parent) anomalies.add('reply-without-parent', { ...brief(call), reply, posts: shown });
    }
  }
  return anomalies.result({ ops: all.length, posts: posts.size, replies: replies.size, readsOk: reads, readsWithReply: withReply });
}
