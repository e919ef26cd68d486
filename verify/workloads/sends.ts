// Workload `sends`: calls sent to run without their caller (client.send),
// at once or after a short delay, while nodes die. Each sent call adds
// `${id}#${nonce}` to a set, with a nonce drawn per run, so a call run twice
// shows as two entries and one never run as none. A send that ends unknown
// is sent again under its id. final() waits, up to a bound, until every
// acknowledged send has run: the sweep of recorded calls runs on executors
// a few seconds after each call's deadline or due time. Checker:
// verify/checkers/sends.ts.

import { setTimeout as delay } from 'node:timers/promises';
import type { Cb } from '../../lib/function_api.js';
import { checkSends, type SendsFinal } from '../checkers/sends.js';
import type { Workload, WorkloadContext } from '../workload.js';
import { OP_TIMEOUT_MS, pick } from './common.js';

const KEYS = ['sends/m0', 'sends/m1'];
/** Tries of one send (under its id) before it is left unknown. */
const SEND_TRIES = 3;
/** The longest final() waits for acknowledged sends to have run: past every sweep's delay and a retry or two. */
const FINAL_WAIT_MS = 120_000;

/** Ids whose send was acknowledged, per run (runs are one at a time: setup starts a new set). */
let acknowledged = new Map<string, string>();

async function setup(ctx: WorkloadContext): Promise<void> {
  acknowledged = new Map();
  await ctx.client.register('sends.mark', async (cb: Cb, key: string, id: string) => {
    await cb.put(key, new cb.lattices.SetLattice([`${id}#${Math.random().toString(36).slice(2, 10)}`]));
    return true;
  });
}

async function client(ctx: WorkloadContext, process: number): Promise<void> {
  const { client: cb, signal } = ctx;
  for (let seq = 0; !signal.aborted; seq++) {
    const id = `s-p${process}-${seq}`;
    const key = pick(ctx.rng, KEYS);
    const delayMs = ctx.rng() < 0.3 ? Math.floor(ctx.rng() * 3_000) : 0;
    const args = { key, id, delayMs };
    // The control: a call nobody records, fired without waiting for it.
    const send = ctx.control
      ? (): Promise<string> => {
          cb.callFuture('sends.mark', [key, id], { timeoutMs: OP_TIMEOUT_MS });
          return Promise.resolve(id);
        }
      : (): Promise<string> => cb.send('sends.mark', [key, id], { requestId: id, delayMs, timeoutMs: OP_TIMEOUT_MS });
    let done = false;
    for (let tries = 0; !done && tries < SEND_TRIES && !signal.aborted; tries++) done = (await ctx.op(process, 'send', args, send)) !== undefined;
    if (done) acknowledged.set(id, key);
    // The control's op returns at once: paced near a send's own time, so that its calls are lost to faults, not to a flood.
    await delay(ctx.control ? 100 : 20);
  }
}

async function read(ctx: WorkloadContext): Promise<SendsFinal> {
  const out: SendsFinal = { marks: {} };
  for (const key of KEYS) out.marks[key] = [...((await ctx.client.get<ReadonlySet<string>>(key, { all: true })) ?? [])];
  return out;
}

async function final(ctx: WorkloadContext): Promise<SendsFinal> {
  // The control's lost calls never come: no point waiting as long for them.
  const until = Date.now() + (ctx.control ? FINAL_WAIT_MS / 6 : FINAL_WAIT_MS);
  for (;;) {
    let state: SendsFinal;
    try {
      state = await read(ctx);
    } catch (err) {
      // Reads right after the heal can time out while the cluster catches up: within the wait, read again.
      if (Date.now() > until) throw err;
      await delay(1_000);
      continue;
    }
    const seen = new Set(Object.values(state.marks).flatMap((list) => list.map((e) => e.slice(0, e.lastIndexOf('#')))));
    if ([...acknowledged.keys()].every((id) => seen.has(id)) || Date.now() > until) return state;
    await delay(1_000);
  }
}

export const sends: Workload = {
  name: 'sends',
  description: 'client.send at once or delayed, a few retried under their id; every acknowledged send runs, once (checked after a bounded wait for the sweep)',
  control: 'calls fired without a record (callFuture, not awaited): some never run, some run twice',
  setup,
  client,
  final,
  check: checkSends,
};
