// Workload `rr`: repeatable read across a DAG call. Client processes write
// unique values to a few plain keys (client puts) and call a two-function
// DAG under `consistency: 'rr'`: the first function reads every key, the
// second (likely on another executor) waits a little, reads them again and
// returns every read of the call. Checker: verify/checkers/rr.ts.

import type { Cb } from '../../lib/function_api.js';
import { checkRr } from '../checkers/rr.js';
import type { Workload, WorkloadContext } from '../workload.js';
import { OP_TIMEOUT_MS, pick } from './common.js';

const KEYS = ['rr/k0', 'rr/k1', 'rr/k2'];

async function setup(ctx: WorkloadContext): Promise<void> {
  const { client } = ctx;
  await client.register('rr.first', async (cb: Cb, keys: string[]) => {
    const steps: { fn: string; key: string; value: unknown }[] = [];
    for (const key of keys) steps.push({ fn: cb.id, key, value: (await cb.get(key)) ?? null });
    return steps;
  });
  await client.register('rr.second', async (cb: Cb, keys: string[], before: { fn: string; key: string; value: unknown }[]) => {
    // Long enough for writers to move on.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const steps = [...before];
    for (const key of keys) steps.push({ fn: cb.id, key, value: (await cb.get(key)) ?? null });
    return steps;
  });
  await client.registerDag('rr.twoReads', ['rr.first', 'rr.second'], [['rr.first', 'rr.second']]);
}

async function client(ctx: WorkloadContext, process: number): Promise<void> {
  const { client: cb, signal } = ctx;
  const consistency = ctx.control ? ('lww' as const) : ('rr' as const);
  for (let seq = 0; !signal.aborted; seq++) {
    if (ctx.rng() < 0.5) {
      const key = pick(ctx.rng, KEYS);
      const value = `p${process}-${seq}`;
      await ctx.op(process, 'write', { key, value }, () => cb.put(key, value).then(() => true));
    } else {
      await ctx.op(process, 'read', {}, () => cb.callDag('rr.twoReads', { 'rr.first': [KEYS], 'rr.second': [KEYS] }, { consistency, timeoutMs: OP_TIMEOUT_MS }));
    }
  }
}

export const rr: Workload = {
  name: 'rr',
  description: "a two-function DAG reads the same keys twice under consistency 'rr' while writers change them; every key read twice in one call returns one version",
  control: "consistency 'lww'",
  setup,
  client,
  final: () => Promise.resolve(null),
  check: checkRr,
};
