// Workload `eo-counter`: exactly-once counters under client retries. Each
// client process owns a few counter keys and increments them one request at
// a time; every request is sent twice under one request id, the second
// attempt after a short random delay without waiting for the first (so it
// often arrives while the first runs), and tried again under that id while
// neither attempt is acknowledged. Checker: verify/checkers/eo_counter.ts.

import type { Cb } from '../../lib/function_api.js';
import { checkEoCounter, type EoCounterFinal } from '../checkers/eo_counter.js';
import type { Workload, WorkloadContext } from '../workload.js';
import { OP_TIMEOUT_MS, pick, twoAttempts } from './common.js';

const KEYS_PER_PROCESS = 2;
/** Later tries of a request neither of whose first two attempts was acknowledged. */
const TRIES = 10;

const keysOf = (p: number): string[] => Array.from({ length: KEYS_PER_PROCESS }, (_, i) => `eo/p${p}/c${i}`);

async function setup(ctx: WorkloadContext): Promise<void> {
  await ctx.client.register('eo.incr', async (cb: Cb, key: string) => {
    const next = ((await cb.get<number>(key)) ?? 0) + 1;
    await cb.put(key, next);
    // Keeps the call running a little after its write: a second attempt then finds the first unfinished.
    await new Promise((resolve) => setTimeout(resolve, 10));
    return next;
  });
}

async function client(ctx: WorkloadContext, process: number): Promise<void> {
  const { client: cb, signal } = ctx;
  const keys = keysOf(process);
  for (let seq = 0; !signal.aborted; seq++) {
    const key = pick(ctx.rng, keys);
    const requestId = `eo-p${process}-${seq}`;
    const run = (): Promise<number> => cb.call<number>('eo.incr', [key], { exactlyOnce: !ctx.control, requestId, timeoutMs: OP_TIMEOUT_MS });
    const args = { key, requestId };
    let done = (await twoAttempts(ctx, process, 'incr', args, run, 15)).some((r) => r !== undefined);
    // Until acknowledged: an unknown increment still running would race the next one on the key.
    for (let tries = 0; !done && tries < TRIES && !signal.aborted; tries++) done = (await ctx.op(process, 'incr', args, run)) !== undefined;
  }
}

async function final(ctx: WorkloadContext): Promise<EoCounterFinal> {
  const out: EoCounterFinal = { counters: {} };
  for (let p = 0; p < ctx.processes; p++) {
    for (const key of keysOf(p)) out.counters[key] = (await ctx.client.get<number>(key, { all: true })) ?? null;
  }
  return out;
}

export const eoCounter: Workload = {
  name: 'eo-counter',
  description: 'exactly-once read-increment-write calls, each request sent twice at once under one request id; one result per request id, distinct results per key, final counter = acknowledged requests (unknown ones 0 or 1)',
  control: 'no exactlyOnce (both attempts of a request then increment)',
  setup,
  client,
  final,
  check: checkEoCounter,
};
