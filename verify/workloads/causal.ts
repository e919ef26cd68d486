// Workload `causal`: Retwis-like posts and replies under `consistency:
// 'causal'`. Each client process owns a slot: it writes a post (a rising
// sequence number) to the slot's post key, then calls a reply function that
// reads the post and writes a reply naming it; between, every process reads
// random slots' reply then post in one call. Checker: verify/checkers/causal.ts.

import type { Cb } from '../../lib/function_api.js';
import { checkCausal } from '../checkers/causal.js';
import type { Workload, WorkloadContext } from '../workload.js';
import { OP_TIMEOUT_MS } from './common.js';

const postKey = (slot: string): string => `causal/post/${slot}`;
const replyKey = (slot: string): string => `causal/reply/${slot}`;
/** Reads of random slots after each post and reply. */
const READS = 3;

async function setup(ctx: WorkloadContext): Promise<void> {
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
  const slot = `p${process}`;
  const readSome = async (): Promise<void> => {
    for (let i = 0; i < READS && !signal.aborted; i++) {
      const other = `p${Math.floor(ctx.rng() * ctx.processes)}`;
      await ctx.op(process, 'read', { slot: other }, () => cb.call('causal.read', [replyKey(other), postKey(other)], opts));
    }
  };
  for (let seq = 0; !signal.aborted; seq++) {
    await ctx.op(process, 'post', { slot, seq }, () => cb.call('causal.post', [postKey(slot), seq], opts));
    await readSome();
    const id = `${slot}-${seq}`;
    await ctx.op(process, 'reply', { slot, id }, () => cb.call('causal.reply', [postKey(slot), replyKey(slot), id], opts));
    await readSome();
  }
}

export const causal: Workload = {
  name: 'causal',
  description: "posts and replies that read their post, under consistency 'causal'; no read shows a reply without its post (or a later one)",
  control: "consistency 'lww'",
  setup,
  client,
  final: () => Promise.resolve(null),
  check: checkCausal,
};
