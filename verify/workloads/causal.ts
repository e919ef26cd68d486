// Workload `causal`: Retwis-like posts and replies under `consistency:
// 'causal'`. Each client process owns a slot: it writes a post (a rising
// sequence number) to the slot's post key, then calls a reply function that
// reads the post and writes a reply naming it; then it reads random slots'
// reply then post, each in one call. Checker: verify/checkers/causal.ts.
//
// What causal consistency adds over lww here is that a cache never shows an
// effect whose cause has not reached it. With caches kept as fresh as a
// healthy cluster on one machine keeps them, lww never shows it either, so
// both runs are made where causes travel slower than effects (`topology`):
// NATS routes between servers 1 and 2 are slowed, and every post key is placed
// on the last shard (kvs-2, attached to server 2), every reply key elsewhere.
// A post written on executor-0 (server 0) is acknowledged over the fast
// route 2-0, a reply run there next reads it from its cache and names it,
// and the reply's pushes (from kvs-0 or kvs-1) reach executor-1 (server 1)
// on time while the post's come a delay later: an lww read on executor-1
// then shows the reply without its post, where causal fetches the post the
// reply depends on. The harness attaches nodes round-robin in start order
// (verify/cluster.ts), so kvs-i and executor-i sit on server i.

import type { Cb } from '../../lib/function_api.js';
import { HashRing } from '../../lib/kvs/hash_ring.js';
import { checkCausal } from '../checkers/causal.js';
import type { Workload, WorkloadContext } from '../workload.js';
import { OP_TIMEOUT_MS } from './common.js';

const postKey = (slot: string): string => `causal/post/${slot}`;
const replyKey = (slot: string): string => `causal/reply/${slot}`;
/**
 * Reads of random slots after each reply. The reply follows its post at once:
 * the shorter the time between them, the longer a read that sees the reply
 * can still find a cache behind on the post (lww's anomaly in the control).
 */
const READS = 6;
/**
 * How late a post's pushes reach executor-1: long beside a call (tens of ms),
 * and well under half the KVS client's 2 s attempt timeout, which every
 * request across the pair must beat with its answer (at 1 s none does).
 */
const ROUTE_DELAY_MS = 300;

/**
 * One slot name per process, `p<process>` with a suffix when needed: the
 * first whose post key's primary replica is the last shard in id order and
 * whose reply key's is another. With a single shard, or none found, `p<process>`.
 */
export function placeSlots(shards: string[], processes: number): string[] {
  const ring = new HashRing(shards);
  const far = ring.shards[ring.shards.length - 1];
  const primary = (key: string): string | undefined => ring.replicas(key, 1)[0];
  return Array.from({ length: processes }, (_, p) => {
    if (ring.size < 2) return `p${p}`;
    for (let n = 0; n < 1000; n++) {
      const slot = n === 0 ? `p${p}` : `p${p}.${n}`;
      if (primary(postKey(slot)) === far && primary(replyKey(slot)) !== far) return slot;
    }
    return `p${p}`;
  });
}

/** Slots chosen by setup, for the clients of the same run. */
const slotsOf = new WeakMap<WorkloadContext, string[]>();

async function setup(ctx: WorkloadContext): Promise<void> {
  const status = await ctx.client.status({ timeoutMs: OP_TIMEOUT_MS });
  const shards = status.members.filter((m) => m.kind === 'kvs' && m['state'] !== 'joining' && m['state'] !== 'leaving').map((m) => m.id);
  slotsOf.set(ctx, placeSlots(shards, ctx.processes));
  // Under causal a read returns the concurrent versions as an array; under lww one value. Both become arrays.
  await ctx.client.register('causal.post', async (cb: Cb, key: string, seq: number) => {
    await cb.put(key, seq);
    return true;
  });
  await ctx.client.register('causal.reply', async (cb: Cb, post: string, reply: string, id: string) => {
    const read = await cb.get(post);
    const seqs = (Array.isArray(read) ? read : read === undefined ? [] : [read]) as number[];
    if (seqs.length === 0) return null;
    const parent = Math.max(...seqs);
    await cb.put(reply, { id, parent });
    return parent;
  });
  await ctx.client.register('causal.read', async (cb: Cb, reply: string, post: string) => {
    const all = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
    const replies = all(await cb.get(reply));
    const posts = all(await cb.get(post));
    return { reply: replies, post: posts };
  });
}

async function client(ctx: WorkloadContext, process: number): Promise<void> {
  const { client: cb, signal } = ctx;
  const opts = { consistency: ctx.control ? ('lww' as const) : ('causal' as const), timeoutMs: OP_TIMEOUT_MS };
  const slots = slotsOf.get(ctx) ?? Array.from({ length: ctx.processes }, (_, p) => `p${p}`);
  const slot = slots[process]!;
  const readSome = async (): Promise<void> => {
    for (let i = 0; i < READS && !signal.aborted; i++) {
      const other = slots[Math.floor(ctx.rng() * ctx.processes)]!;
      await ctx.op(process, 'read', { slot: other }, () => cb.call('causal.read', [replyKey(other), postKey(other)], opts));
    }
  };
  for (let seq = 0; !signal.aborted; seq++) {
    await ctx.op(process, 'post', { slot, seq }, () => cb.call('causal.post', [postKey(slot), seq], opts));
    const id = `${slot}-${seq}`;
    await ctx.op(process, 'reply', { slot, id }, () => cb.call('causal.reply', [postKey(slot), replyKey(slot), id], opts));
    await readSome();
  }
}

export const causal: Workload = {
  name: 'causal',
  description: "posts and replies that read their post, under consistency 'causal'; no read shows a reply without its post (or a later one)",
  control: "consistency 'lww'",
  // Posts' pushes reach executor-1 late: see the top of this file.
  topology: { natsServers: 3, slowRoutes: [{ between: [1, 2], delayMs: ROUTE_DELAY_MS }] },
  // Without faults: a killed or paused kvs-2 moves the posts' primary to a fast shard, a down executor leaves one
  // cache, a paused router stalls every call; under them the control finds its anomaly only by luck.
  controlNemesis: [],
  setup,
  client,
  final: () => Promise.resolve(null),
  check: checkCausal,
};
