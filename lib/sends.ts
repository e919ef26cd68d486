// Calls sent to run without their caller (`client.send`): accepted means
// finished. Before `send` returns, the call is recorded durably in the KVS:
//   __cb/send/<requestId>   a map: `intent` {fn, args, due, timeoutMs}, and
//                           once it ran, `outcome` {result} or {error}
//   __cb/sends/<start>/<n>  a set of request ids (time_buckets.ts), filed in
//                           the bucket of the time to look at the call: its
//                           due time when delayed, else its deadline
// Executors sweep the buckets as they come due (send_collector.ts) and run
// each call found there that has no outcome yet, exactly-once under its
// request id: a call already run by its first attempt answers with its
// logged result without running again, one that never ran (its caller,
// router or executor died first) runs now. So every accepted call runs,
// once, whoever dies. The outcome is kept for `client.result(requestId)`.
//
// Limits: a delayed call runs up to a bucket and the sweep delay after its
// due time (1 s + 5 s by default), by the executors' clocks. The sweep stops
// calling a call again 5 minutes after its due time if it has an
// exactly-once log (an attempt started; the call kept failing for want of
// capacity or time): past that its log may have been deleted (10 minutes
// after its first attempt), and a call then would run it a second time. A
// call with no log (nothing ran it) is called for 5 minutes more each time
// the sweep sees that, up to an hour after its due time.

import { obj, num, str, arr } from './codec/index.js';
import { MalformedMessage, type WireError } from './errors.js';
import { LWWPair, MapLattice, MaxIntLattice, SetLattice, type Lattice } from './lattice/index.js';
import type { KvsClient } from './client/kvs_client.js';
import { TimeBuckets, type BucketTiming } from './kvs/time_buckets.js';
import { RESERVED_PREFIX } from './reserved_keys.js';

export const sendKey = (requestId: string): string => `${RESERVED_PREFIX}send/${requestId}`;

/**
 * Failures that say nothing of the call itself (capacity, time, connections):
 * a recorded call that failed so is run again. Not TRANSACTION_CONFLICT: an
 * exactly-once call's conflict follows from its logged reads and recurs on
 * every run under its id (docs/consistency.md); its caller decides.
 */
const TRANSIENT = new Set(['NO_CAPACITY', 'UNAVAILABLE', 'CLOSED', 'DEADLINE_EXCEEDED', 'INTERNAL_ERROR', 'WRONG_SHARD']);

export const isTransient = (code: string): boolean => TRANSIENT.has(code);

/**
 * The send buckets. `bucketMs` and `shards` name the keys, so clients and
 * executors must agree on them: fixed. Executors may sweep on other
 * `delayMs` and `everyMs` (tests do).
 */
export const SEND_TIMING: BucketTiming = {
  bucketMs: 1_000,
  shards: 8,
  delayMs: 5_000,
  // Older buckets are given up anyway.
  lookbackMs: 5 * 60_000,
  everyMs: 1_000,
  giveUpMs: 5 * 60_000,
};

export const sendBuckets = (timing: BucketTiming = SEND_TIMING): TimeBuckets => new TimeBuckets(`${RESERVED_PREFIX}sends/`, timing);

export interface SendIntent {
  fn: string;
  args: unknown[];
  /** When to run it, ms since the epoch. */
  due: number;
  /** Each run's deadline is this long after it starts. */
  timeoutMs: number;
  /** The call's modes, the same on every run. */
  consistency: 'lww' | 'rr' | 'causal';
  atomic: boolean;
  /** Set for serializable calls, so the sweep's run is serializable too. */
  serializable?: boolean;
}

function parseIntent(value: unknown): SendIntent {
  const o = obj(value, 'a send intent');
  const consistency = o['consistency'] ?? 'lww';
  if (consistency !== 'lww' && consistency !== 'rr' && consistency !== 'causal') throw new MalformedMessage(`a send intent's consistency is ${JSON.stringify(consistency)}`);
  return { fn: str(o, 'fn'), args: arr(o, 'args'), due: num(o, 'due'), timeoutMs: num(o, 'timeoutMs'), consistency, atomic: o['atomic'] === true, ...(o['serializable'] === true ? { serializable: true } : {}) };
}

/**
 * The fields of a `call` message of the recorded call: exactly-once under
 * its id, with its modes; `recorded` tells the executor that the record
 * exists (it records exactly-once calls that arrive without).
 */
export function recordedCallFields(intent: SendIntent, requestId: string): Record<string, unknown> {
  return {
    fn: intent.fn,
    args: intent.args,
    consistency: intent.consistency,
    once: true,
    atomic: intent.atomic,
    ...(intent.serializable ? { isolation: 'serializable' } : {}),
    id: requestId,
    recorded: true,
  };
}

/** Records the call under `requestId`, to be looked at from `lookAt` on; resolves once both puts are acknowledged. */
export async function recordCall(kvs: KvsClient, writer: string, requestId: string, intent: SendIntent, lookAt: number, deadline: number): Promise<void> {
  await Promise.all([
    kvs.put(sendKey(requestId), intentRecord(intent, writer), deadline),
    kvs.put(sendBuckets().keyFor(requestId, lookAt), new SetLattice([requestId]), deadline),
  ]);
}

/** How a sent call ended: the CBOR of its result, or its error as it crosses the wire. */
export type SendOutcome = { result: Uint8Array } | { error: WireError };

function parseOutcome(value: unknown): SendOutcome {
  const o = obj(value, 'a send outcome');
  if (o['result'] instanceof Uint8Array) return { result: o['result'] };
  const error = obj(o['error'], 'a send outcome\'s error');
  if (typeof error['code'] !== 'string' || typeof error['message'] !== 'string') throw new MalformedMessage('a send outcome\'s error needs a code and a message');
  return { error: error as unknown as WireError };
}

/** The record's value holding the intent (the sender's write). */
export function intentRecord(intent: SendIntent, writer: string): MapLattice {
  return new MapLattice([['intent', LWWPair.now(intent, writer)]]);
}

/** The record's value holding the outcome (merged into the intent). */
export function outcomeRecord(outcome: SendOutcome, writer: string): MapLattice {
  return new MapLattice([['outcome', LWWPair.now(outcome, writer)]]);
}

/**
 * The record's value saying that at `at` the call had no exactly-once log:
 * nothing had run it yet, so no log of it can be deleted (retention after an
 * attempt) before `at` plus the retention (send_collector.ts).
 */
export function clearRecord(at: number): MapLattice {
  return new MapLattice([['clear', new MaxIntLattice(at)]]);
}

/** A stored record: its intent, its outcome once the call ran, and when it was last seen never run (`clear`, 0: never looked). Undefined when nothing (or not a record) is stored. */
export function parseRecord(stored: Lattice | undefined): { intent: SendIntent; outcome: SendOutcome | undefined; clear: number } | undefined {
  if (!(stored instanceof MapLattice)) return undefined;
  const map = stored as MapLattice<Lattice>;
  const intent = map.get('intent');
  if (intent === undefined) return undefined;
  const outcome = map.get('outcome');
  const clear = map.get('clear');
  return {
    intent: parseIntent(intent.reveal()),
    outcome: outcome === undefined ? undefined : parseOutcome(outcome.reveal()),
    clear: clear instanceof MaxIntLattice ? clear.value : 0,
  };
}
