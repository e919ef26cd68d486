// Workload `read-atomic`: writers commit transactions that write their own
// unique value to two or more of a few keys (half of them to all keys),
// several at once on the same keys; readers read every key in one call.
// Both under `atomic: true`. The final state is read plainly and atomically. Checker: verify/checkers/read_atomic.ts.

import type { Cb } from '../../lib/function_api.js';
import { checkReadAtomic } from '../checkers/read_atomic.js';
import type { Workload, WorkloadContext } from '../workload.js';
import { OP_TIMEOUT_MS } from './common.js';

const KEYS = ['ra/k0', 'ra/k1', 'ra/k2', 'ra/k3'];

async function setup(ctx: WorkloadContext): Promise<void> {
  await ctx.client.register('ra.write', async (cb: Cb, keys: string[], value: string) => {
    for (const key of keys) await cb.put(key, value);
    return true;
  });
  // One read at a time: an atomic read picks each version to fit those already read.
  await ctx.client.register('ra.read', async (cb: Cb, keys: string[]) => {
    const out: Record<string, unknown> = {};
    for (const key of keys) out[key] = (await cb.get(key)) ?? null;
    return out;
  });
}

/** Two or more of KEYS, in their order; all of them half the time. */
function writeSet(rng: () => number): string[] {
  if (rng() < 0.5) return KEYS;
  for (;;) {
    const keys = KEYS.filter(() => rng() < 0.5);
    if (keys.length >= 2) return keys;
  }
}

async function client(ctx: WorkloadContext, process: number): Promise<void> {
  const { client: cb, signal } = ctx;
  const opts = { atomic: !ctx.control, timeoutMs: OP_TIMEOUT_MS };
  for (let seq = 0; !signal.aborted; seq++) {
    if (ctx.rng() < 0.5) {
      const id = `p${process}-${seq}`;
      const keys = writeSet(ctx.rng);
      await ctx.op(process, 'write', { id, keys }, () => cb.call('ra.write', [keys, id], opts));
    } else {
      await ctx.op(process, 'read', { keys: KEYS }, () => cb.call('ra.read', [KEYS], opts));
    }
  }
}

async function final(ctx: WorkloadContext): Promise<{ plain: Record<string, unknown>; atomic: Record<string, unknown> }> {
  const plain: Record<string, unknown> = {};
  for (const key of KEYS) plain[key] = (await ctx.client.get(key, { all: true })) ?? null;
  const atomic = await ctx.client.call<Record<string, unknown>>('ra.read', [KEYS], { atomic: !ctx.control, timeoutMs: OP_TIMEOUT_MS });
  return { plain, atomic };
}

export const readAtomic: Workload = {
  name: 'read-atomic',
  description: 'atomic transactions write a unique value to several shared keys at once while atomic readers read them all; no fractured read (a read seeing a transaction on one key and an older version than it on another key it wrote)',
  control: 'no atomic, for writers and readers',
  setup,
  client,
  final,
  check: checkReadAtomic,
};
