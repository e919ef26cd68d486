// Workload `sets`: clients add unique elements to a few set-lattice keys
// (half through a registered function, half by the client's own put), add
// increments to grow-only counters (a set of `${id}#${nonce}` entries, so an
// increment applied twice shows), and raise max-int registers. Increments are
// exactly-once calls; some are sent twice at once under one request id, and
// one that ends unknown is tried again under the same id. Checker:
// verify/checkers/sets.ts.

import { SetLattice } from '../../lib/lattice/index.js';
import type { Cb } from '../../lib/function_api.js';
import { checkSets, type SetsFinal } from '../checkers/sets.js';
import type { Workload, WorkloadContext } from '../workload.js';
import { OP_TIMEOUT_MS, pick, twoAttempts } from './common.js';

const SETS = ['sets/s0', 'sets/s1', 'sets/s2'];
const COUNTERS = ['sets/c0', 'sets/c1'];
const MAXES = ['sets/max0'];
/** Tries of one increment (under one request id) before it is left unknown. */
const INCR_TRIES = 3;

async function setup(ctx: WorkloadContext): Promise<void> {
  await ctx.client.register('sets.add', async (cb: Cb, key: string, element: string) => {
    await cb.put(key, new cb.lattices.SetLattice([element]));
    return true;
  });
  await ctx.client.register('sets.incr', async (cb: Cb, key: string, id: string) => {
    // A fresh nonce per run: a second run of one increment adds a second entry.
    await cb.put(key, new cb.lattices.SetLattice([`${id}#${Math.random().toString(36).slice(2, 10)}`]));
    return true;
  });
  await ctx.client.register('sets.bump', async (cb: Cb, key: string, value: number) => {
    await cb.put(key, new cb.lattices.MaxIntLattice(value));
    return true;
  });
}

async function client(ctx: WorkloadContext, process: number): Promise<void> {
  const { client: cb, signal } = ctx;
  const eo = !ctx.control;
  for (let seq = 0; !signal.aborted; seq++) {
    const name = `p${process}-${seq}`;
    const roll = ctx.rng();
    if (roll < 0.35) {
      const key = pick(ctx.rng, SETS);
      await ctx.op(process, 'add', { key, element: name }, () => cb.call('sets.add', [key, name], { timeoutMs: OP_TIMEOUT_MS }));
    } else if (roll < 0.55) {
      const key = pick(ctx.rng, SETS);
      await ctx.op(process, 'put', { key, element: name }, () => cb.put(key, new SetLattice([name])).then(() => true));
    } else if (roll < 0.9) {
      const key = pick(ctx.rng, COUNTERS);
      const args = { key, id: name };
      const incr = (): Promise<boolean> => cb.call('sets.incr', [key, name], { timeoutMs: OP_TIMEOUT_MS, exactlyOnce: eo, requestId: `sets-${name}` });
      let done = false;
      if (ctx.rng() < 0.3) done = (await twoAttempts(ctx, process, 'incr', args, incr, 5)).some((r) => r !== undefined);
      for (let tries = 0; !done && tries < INCR_TRIES && !signal.aborted; tries++) done = (await ctx.op(process, 'incr', args, incr)) !== undefined;
    } else {
      const key = pick(ctx.rng, MAXES);
      // Unique per op, and rising with time for each process.
      const value = seq * 1000 + process;
      await ctx.op(process, 'bump', { key, value }, () => cb.call('sets.bump', [key, value], { timeoutMs: OP_TIMEOUT_MS }));
    }
  }
}

async function final(ctx: WorkloadContext): Promise<SetsFinal> {
  const read = async (key: string): Promise<unknown> => ctx.client.get(key, { all: true });
  const out: SetsFinal = { sets: {}, counters: {}, max: {} };
  for (const key of SETS) out.sets[key] = [...((await read(key)) as ReadonlySet<string> | undefined ?? [])];
  for (const key of COUNTERS) out.counters[key] = [...((await read(key)) as ReadonlySet<string> | undefined ?? [])];
  for (const key of MAXES) out.max[key] = ((await read(key)) as number | undefined) ?? null;
  return out;
}

export const sets: Workload = {
  name: 'sets',
  description: 'adds to set lattices, exactly-once increments of set-of-ids counters and max-int bumps; every ok add/increment/bump in the final state, no increment twice, nothing never invoked',
  control: 'increments without exactlyOnce (retries and concurrent second attempts then apply twice)',
  setup,
  client,
  final,
  check: checkSets,
};
