// The client's side of sent calls (lib/sends.ts): recording one before
// `send` resolves, and finding or waiting for its result.

import { setTimeout as delay } from 'node:timers/promises';
import { obj } from '../codec/index.js';
import { DeadlineExceeded, InvalidArgument, MalformedMessage, errorFromWire } from '../errors.js';
import { checkFunctionName } from '../function_record.js';
import { newId } from '../ids.js';
import { SEND_TIMING, parseRecord, recordCall, recordedCallFields, sendKey, type SendIntent } from '../sends.js';
import type { KvsClient } from './kvs_client.js';

/** Sends the call message (fields of a `call`) and resolves with the router's reply. */
export type RunCall = (fields: Record<string, unknown>, timeoutMs: number) => Promise<unknown>;

export async function sendCall(
  kvs: KvsClient,
  writer: string,
  fn: string,
  args: unknown[],
  /** `recordBy`: the latest the record may be acknowledged (default: from the timeout and due time). */
  opts: { requestId?: string; delayMs?: number; at?: Date; timeoutMs: number; recordBy?: number },
  run: RunCall,
): Promise<string> {
  checkFunctionName(fn);
  if (!Array.isArray(args)) throw new InvalidArgument('send takes an array of arguments');
  const { delayMs, at, timeoutMs } = opts;
  if (delayMs !== undefined && at !== undefined) throw new InvalidArgument('send takes delayMs or at, not both');
  if (delayMs !== undefined && !(Number.isFinite(delayMs) && delayMs >= 0)) throw new InvalidArgument(`delayMs must be a number of ms >= 0, got ${delayMs}`);
  if (at !== undefined && !(at instanceof Date && Number.isFinite(at.getTime()))) throw new InvalidArgument('at must be a valid Date');
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new InvalidArgument(`timeoutMs must be a positive number of ms, got ${timeoutMs}`);
  const requestId = opts.requestId ?? newId('send-');
  const now = Date.now();
  const due = at !== undefined ? at.getTime() : now + (delayMs ?? 0);
  const intent: SendIntent = { fn, args, due, timeoutMs, consistency: 'lww', atomic: false };
  // Looked at when due; a call run at once is looked at after its deadline, to run it if it did not finish.
  const lookAt = due > now ? due : now + timeoutMs;
  // Landed before its bucket is swept, with the sweep delay to spare.
  const deadline = Math.min(opts.recordBy ?? now + timeoutMs, Math.max(lookAt, now) + SEND_TIMING.delayMs / 2);
  await recordCall(kvs, writer, requestId, intent, lookAt, deadline);
  if (due <= now) {
    // The first attempt, now; whatever becomes of it, the sweep finishes the call.
    run(recordedCallFields(intent, requestId), timeoutMs).catch(() => undefined);
  }
  return requestId;
}

/** The CBOR of a sent call's result; its error, thrown, if it failed. */
export async function sentResult(kvs: KvsClient, requestId: string, deadline: number, run: RunCall): Promise<Uint8Array> {
  const record = parseRecord(await kvs.get(sendKey(requestId), { all: true, deadline }));
  if (record === undefined) throw new InvalidArgument(`no call was sent under requestId "${requestId}" (or its record was deleted, 10 minutes after it ran)`, { data: { requestId } });
  const { intent, outcome } = record;
  if (outcome !== undefined) {
    if ('error' in outcome) throw errorFromWire(outcome.error);
    return outcome.result;
  }
  const wait = intent.due - Date.now();
  if (wait > 0) {
    if (Date.now() + wait >= deadline) {
      throw new DeadlineExceeded(`the call sent under "${requestId}" is due in ${wait} ms, after this wait's deadline`, { data: { requestId, due: intent.due } });
    }
    await delay(wait);
  }
  // Not finished: join it as one more attempt of the exactly-once call (it runs once, whoever runs it).
  const body = obj(await run(recordedCallFields(intent, requestId), Math.max(1, deadline - Date.now())), 'call reply');
  if (!(body['result'] instanceof Uint8Array)) throw new MalformedMessage('call reply without a result');
  return body['result'];
}

