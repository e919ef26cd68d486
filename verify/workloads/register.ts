// Workload `register`: read-your-writes inside one call. Each client process
// owns a plain key it writes a unique value to and reads back in the same
// function; and it adds unique elements to set-lattice keys that already
// hold other elements (a few keys shared by every process, replaced by new
// ones every 100 operations so reads stay small, and fresh keys it seeds first by a
// client put, so no executor has them cached), reading the set back in the
// same function. Checker: verify/checkers/register.ts.

import { SetLattice } from '../../lib/lattice/index.js';
import type { Cb } from '../../lib/function_api.js';
import { checkRegister } from '../checkers/register.js';
import type { Workload, WorkloadContext } from '../workload.js';
import { OP_TIMEOUT_MS, pick } from './common.js';

/** Shared set keys per generation; each process moves to the next generation every GENERATION ops, so a read stays small. */
const SHARED = 2;
const GENERATION = 100;
const sharedKeys = (generation: number): string[] => Array.from({ length: SHARED }, (_, i) => `reg/set/g${generation}-${i}`);

async function setup(ctx: WorkloadContext): Promise<void> {
  // The control reads before it writes: the checker must then find reads without their own write.
  await ctx.client.register('register.write', async (cb: Cb, key: string, value: string, readFirst: boolean) => {
    const early = readFirst ? await cb.get(key) : undefined;
    await cb.put(key, value);
    return (readFirst ? early : await cb.get(key)) ?? null;
  });
  await ctx.client.register('register.add', async (cb: Cb, key: string, element: string, readFirst: boolean) => {
    const early = readFirst ? await cb.get<ReadonlySet<string>>(key) : undefined;
    await cb.put(key, new cb.lattices.SetLattice([element]));
    const read = readFirst ? early : await cb.get<ReadonlySet<string>>(key);
    return read === undefined ? null : [...read].sort();
  });
}

async function client(ctx: WorkloadContext, process: number): Promise<void> {
  const { client: cb, signal } = ctx;
  const opts = { timeoutMs: OP_TIMEOUT_MS };
  const add = (key: string, element: string): Promise<unknown> =>
    ctx.op(process, 'add', { key, element }, () => cb.call('register.add', [key, element, ctx.control], opts));
  const seed = (key: string, elements: string[]): Promise<unknown> =>
    ctx.op(process, 'seed', { key, elements }, () => cb.put(key, new SetLattice(elements)).then(() => true));
  for (let seq = 0; !signal.aborted; seq++) {
    const name = `p${process}-${seq}`;
    const shared = sharedKeys(Math.floor(seq / GENERATION));
    // The shared keys hold something before this process adds to them.
    if (seq % GENERATION === 0) for (const key of shared) await seed(key, [`p${process}-seed-${key}`]);
    const roll = ctx.rng();
    if (roll < 0.3) {
      const key = `reg/lww/p${process}`;
      await ctx.op(process, 'write', { key, value: name }, () => cb.call('register.write', [key, name, ctx.control], opts));
    } else if (roll < 0.65) {
      // A key no executor has cached: seeded straight into the KVS.
      const key = `reg/set/${name}`;
      if ((await seed(key, [`${name}-ada`, `${name}-grace`])) !== undefined) await add(key, `${name}-edsger`);
    } else {
      await add(pick(ctx.rng, shared), name);
    }
  }
}

export const register: Workload = {
  name: 'register',
  description: 'a function writes a plain value or merges a set element, then reads the key back; the read holds its own write and (sets) every element acknowledged before the call',
  control: 'the functions read the key before writing it (no call option gives read-your-writes, so the control breaks the read itself)',
  setup,
  client,
  final: () => Promise.resolve(null),
  check: checkRegister,
};
