// What the main thread answers a running function's state and messaging
// requests with, through the executor (`InvocationHost`), within the
// invocation's deadline. The requests arrive on the state line.

import { decode, encode } from '../../lib/codec/index.js';
import { setTimeout as delay } from 'node:timers/promises';
import { DeadlineExceeded, InvalidArgument, MalformedMessage } from '../../lib/errors.js';
import { expiryOf } from '../../lib/kvs/expiry.js';
import { isLattice, type Lattice } from '../../lib/lattice/index.js';
import type { Delivered } from './inboxes.js';
import type { EffectLog } from './effect_log.js';
import { parseCarriedRead, type Transaction } from './transaction.js';
import type { Session } from './sessions.js';
import type { CallLocks } from './locks.js';
import type { StateReply, StateRequest } from './worker_protocol.js';

/** A running invocation as the executor knows it. */
export interface Invocation {
  deadline: number;
  /** The source of its function, sent to a worker only when it asks (once per worker and function). */
  code?: string;
  /** Its call's session, when the call asked for repeatable reads. */
  session?: Session;
  /** Its call's effect log, when the call asked for exactly-once effects. */
  log?: EffectLog;
  /** Its call's transaction, when the call asked to be atomic. */
  tx?: Transaction;
  /** The locks of its transaction's try, when the call asked to be serializable (every key is locked before it is read or written). */
  locks?: CallLocks;
}

/** What the executor offers a running invocation. */
export interface InvocationHost {
  get(key: string, inv: Invocation): Promise<Lattice | undefined>;
  /** `thread`: the worker thread writing (causal versions are stamped per thread); `expiresAt`: the key's expiry the put sets (ms since the epoch; 0: none). */
  put(key: string, value: Lattice, inv: Invocation, thread: number, expiresAt?: number): Promise<void>;
  /** Calls function `fn` (exactly-once under `requestId` when given); resolves with the CBOR of its result. */
  callFunction(fn: string, args: unknown[], deadline: number, requestId?: string): Promise<Uint8Array>;
  /** Sends a call of `fn` to run without waiting (client.send); resolves with its id once it is recorded. */
  sendFunction(fn: string, args: unknown[], deadline: number, opts: { requestId?: string; delayMs?: number }): Promise<string>;
  send(from: string, to: string, data: Uint8Array, deadline: number): Promise<void>;
  receive(id: string, deadline: number): Promise<Delivered>;
}

export async function answerState(req: StateRequest, host: InvocationHost, inv: Invocation): Promise<Omit<StateReply, 'seq'>> {
  const { deadline } = inv;
  switch (req.op) {
    case 'get': {
      const { log, tx } = inv;
      if (log && tx) {
        // Atomic and exactly-once: the log keeps the version read, not only its value, and every attempt acts on it.
        // Serializable too: the key is locked first, by every attempt.
        await inv.locks?.take(req.key);
        const logged = await log.once(`r${req.step}`, deadline, async () => encode(await tx.readForLog(req.key, deadline)));
        const value = await tx.replay(parseCarriedRead(decode(logged!)), deadline);
        return value === undefined ? {} : { value: encode(value) };
      }
      // Under exactly-once, a retry gets the value the first attempt read.
      const read = async (): Promise<Uint8Array | null> => {
        const value = await host.get(req.key, inv);
        return value === undefined ? null : encode(value);
      };
      const value = inv.log ? await inv.log.once(`r${req.step}`, deadline, read) : await read();
      return value === null ? {} : { value };
    }
    case 'put': {
      const expiresAt = req.ttlMs === undefined ? 0 : expiryOf({ ttlMs: req.ttlMs });
      if (expiresAt > 0) refuseTtl(inv);
      // Under exactly-once, a retry applies the lattice the first attempt wrote (a no-op merge).
      const bytes = inv.log ? await inv.log.once(`w${req.step}`, deadline, () => Promise.resolve(req.value)) : req.value;
      const value = bytes === null ? undefined : decode(bytes);
      if (!isLattice(value)) throw new MalformedMessage('put needs a lattice');
      await host.put(req.key, value, inv, req.thread, expiresAt);
      return {};
    }
    case 'call':
      return { value: await nestedCall(req.fn, req.args, req.step, req.timeoutMs, host, inv) };
    case 'callAsync': {
      if (inv.tx) throw new InvalidArgument('cb.callAsync is not supported in atomic calls: the call would start whether or not the transaction commits');
      const args = decode(req.args);
      if (!Array.isArray(args)) throw new MalformedMessage('cb.callAsync needs an argument array');
      const requestId = inv.log ? `${inv.log.requestId}/a${req.step}` : undefined;
      const id = await host.sendFunction(req.fn, args, deadline, { ...(requestId ? { requestId } : {}), ...(req.delayMs === undefined ? {} : { delayMs: req.delayMs }) });
      return { from: id };
    }
    case 'code':
      if (inv.code === undefined) throw new MalformedMessage('no code is known for this invocation');
      return { code: inv.code };
    case 'sleep':
      await sleep(req.ms, req.step, inv);
      return {};
    case 'send':
      await host.send(req.instance, req.to, req.data, deadline);
      return {};
    case 'recv': {
      const until = req.timeoutMs === undefined ? deadline : Math.min(deadline, Date.now() + req.timeoutMs);
      const m = await host.receive(req.instance, until);
      return { value: m.data, from: m.from };
    }
  }
}

/**
 * `cb.call`: under exactly-once the callee runs exactly-once under an id
 * derived from the step, so attempts of the caller running at once invoke
 * one call (the callee's own log), and the caller logs its result for a
 * re-run. A failed callee is not logged: a re-run calls it again, under the
 * same id, so its logged effects are not repeated.
 */
async function nestedCall(fn: string, argBytes: Uint8Array, step: number, timeoutMs: number | undefined, host: InvocationHost, inv: Invocation): Promise<Uint8Array> {
  if (inv.tx) throw new InvalidArgument('cb.call is not supported in atomic calls: the callee\'s writes would not be part of the transaction');
  const args = decode(argBytes);
  if (!Array.isArray(args)) throw new MalformedMessage('cb.call needs an argument array');
  const deadline = timeoutMs === undefined ? inv.deadline : Math.min(inv.deadline, Date.now() + timeoutMs);
  const { log } = inv;
  if (!log) return host.callFunction(fn, args, deadline);
  return (await log.once(`c${step}`, inv.deadline, () => host.callFunction(fn, args, deadline, `${log.requestId}/c${step}`)))!;
}

/** `cb.sleep`: under exactly-once the wake time is a logged step, so a re-run waits only what is left. */
async function sleep(ms: number, step: number, inv: Invocation): Promise<void> {
  const { log, deadline } = inv;
  const wake = log ? (decode((await log.once(`s${step}`, deadline, () => Promise.resolve(encode(Date.now() + ms))))!) as number) : Date.now() + ms;
  if (wake > deadline) throw new DeadlineExceeded(`cb.sleep(${ms}) would wake ${wake - deadline} ms after the call's deadline`, { data: { ms } });
  const left = wake - Date.now();
  if (left > 0) await delay(left);
}

/**
 * A lifetime is refused (InvalidArgument) where the call's writes do not go
 * straight to the key: an atomic call's become versions committed later, an
 * exactly-once call's are replayed by a retry (which, after the expiry,
 * would delete the key again), a causal call's are causal versions.
 */
function refuseTtl({ tx, log, session }: Invocation): void {
  const mode = tx ? 'atomic' : log ? 'exactly-once' : session?.consistency === 'causal' ? 'causal' : undefined;
  if (mode) throw new InvalidArgument(`put with ttlMs is not supported in ${mode} calls`);
}
