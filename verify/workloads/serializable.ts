// Workload `serializable`: read-modify-write increments of a few keys every
// client process shares, each a call under `isolation: 'serializable'` and
// `exactlyOnce` with a request id of its own, tried again under that id
// while its outcome is unknown (a TransactionAborted is an answer: the next
// increment goes on). The function reads the key, waits a little (so calls
// on one key overlap) and writes the value plus one. The final values are
// read by one serializable call of every key. Checker:
// verify/checkers/serializable.ts. The control runs the same calls under
// `atomic: true` alone: read atomicity without isolation, which loses
// increments that overlap.

import type { Cb } from '../../lib/function_api.js';
import { checkSerializable, type SerializableFinal } from '../checkers/serializable.js';
import type { Workload, WorkloadContext } from '../workload.js';
import { OP_TIMEOUT_MS, pause, pick } from './common.js';

const KEYS = ['ser/k0', 'ser/k1', 'ser/k2'];
/** Later tries of a request whose outcome is unknown, under its id. */
const TRIES = 5;
/** How long the function holds its read before writing (the window two increments overlap in). */
const HOLD_MS = 5;

async function setup(ctx: WorkloadContext): Promise<void> {
  await ctx.client.register('ser.incr', async (cb: Cb, key: string, holdMs: number) => {
    const next = ((await cb.get<number>(key)) ?? 0) + 1;
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    await cb.put(key, next);
    return next;
  });
  await ctx.client.register('ser.read', async (cb: Cb, keys: string[]) => {
    const out: Record<string, number | null> = {};
    for (const key of keys) out[key] = (await cb.get<number>(key)) ?? null;
    return out;
  });
}

/** The call's modes: serializable, or in the control atomic alone; exactly-once both. */
function modes(ctx: WorkloadContext, requestId?: string): Record<string, unknown> {
  return { ...(ctx.control ? { atomic: true } : { isolation: 'serializable' }), ...(requestId ? { exactlyOnce: true, requestId } : {}), timeoutMs: OP_TIMEOUT_MS };
}

async function client(ctx: WorkloadContext, process: number): Promise<void> {
  const { client: cb, signal } = ctx;
  for (let seq = 0; !signal.aborted; seq++) {
    const key = pick(ctx.rng, KEYS);
    const requestId = `ser-p${process}-${seq}`;
    let code: string | undefined;
    const run = async (): Promise<number> => {
      try {
        return await cb.call<number>('ser.incr', [key, HOLD_MS], modes(ctx, requestId));
      } catch (err) {
        code = (err as { code?: string }).code;
        throw err;
      }
    };
    for (let tries = 0; tries <= TRIES && (tries === 0 || !signal.aborted); tries++) {
      code = undefined;
      if ((await ctx.op(process, 'incr', { key, requestId }, run)) !== undefined) break;
      // Aborted: certainly nothing committed; refused before running: nothing will.
      if (code === 'TRANSACTION_ABORTED' || code === 'FUNCTION_NOT_FOUND' || code === 'INVALID_ARGUMENT') break;
    }
  }
}

async function final(ctx: WorkloadContext): Promise<SerializableFinal> {
  let error = 'no try';
  // A lock sealed by a committer that died is held until the collector deals with its commit (some 30 s): several tries.
  for (let tries = 0; tries < 6; tries++) {
    try {
      return { values: await ctx.client.call<Record<string, number | null>>('ser.read', [KEYS], { ...modes(ctx), timeoutMs: 15_000 }) };
    } catch (err) {
      error = String((err as Error).message ?? err);
      await pause(1_000, new AbortController().signal);
    }
  }
  return { error };
}

export const serializable: Workload = {
  name: 'serializable',
  description:
    "serializable exactly-once read-modify-write increments of 3 keys shared by every process, retried under their request id while unknown; final value (one serializable read) = acknowledged increments, unknown ones 0 or 1, TransactionAborted ones 0; no two acknowledged increments of a key wrote the same value",
  control: "atomic: true without isolation (overlapping increments of a key read the same value and one is lost)",
  setup,
  client,
  final,
  check: checkSerializable,
};
