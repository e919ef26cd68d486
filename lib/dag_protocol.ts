// DAG execution on the wire. The router places each function of a DAG call
// on an executor and sends it a `stage`; each executor runs its function
// once the results of all its upstream functions have arrived (`result`,
// executor to executor), passes its own result on, and the sink answers the
// caller on the reply subject the caller gave the router.

import { arr, num, obj, str } from './codec/index.js';
import { InvalidArgument, MalformedMessage } from './errors.js';
import { VectorClock } from './lattice/index.js';

export const DAG_CALL = 'dag';
export const DAG_STAGE = 'stage';
export const DAG_RESULT = 'result';

export interface Stage {
  /** The DAG call's id; every stage of one call shares it (exactly-once logs, transactions and pins go by it). */
  id: string;
  /**
   * This run of the call, drawn by the router for each one: two runs of one
   * call at once (a client's retry under the same request id while the first
   * runs, or the router's after an executor died) keep their stages and
   * upstream results apart by it, each answering its own caller. Default: `id`.
   */
  run: string;
  fn: string;
  args: unknown[];
  /** Upstream functions, whose results follow `args` in this order. */
  inputs: string[];
  /** Where this function's result goes. */
  next: { fn: string; subject: string }[];
  /** The caller's reply subject: the sink answers there, and any stage that fails. */
  replyTo: string;
  outputKey?: string;
  deadline: number;
  /** `rr`: repeatable reads; `causal`: causal cuts (see actors/executor/sessions.ts). */
  consistency: Consistency;
  /** Exactly-once: the stage logs its effects under `<id>/<fn>`, so a re-run repeats none. */
  once: boolean;
  /** Read-atomic: one transaction (id `id`) spans every stage and the sink commits it. */
  atomic: boolean;
  /** The router to tell when the sink has answered (so it stops watching the run). */
  router?: string;
}

export function parseStage(msg: Record<string, unknown>): Stage {
  const next = arr(msg, 'next').map((raw) => {
    const n = obj(raw, 'stage target');
    return { fn: str(n, 'fn'), subject: str(n, 'subject') };
  });
  const inputs = arr(msg, 'inputs').map((i) => {
    if (typeof i !== 'string') throw new MalformedMessage('stage inputs must be function names');
    return i;
  });
  const stage: Stage = {
    id: str(msg, 'id'),
    run: typeof msg['run'] === 'string' ? msg['run'] : str(msg, 'id'),
    fn: str(msg, 'fn'),
    args: arr(msg, 'args'),
    inputs,
    next,
    replyTo: str(msg, 'replyTo'),
    deadline: num(msg, 'deadline'),
    consistency: parseConsistency(msg['consistency']),
    once: msg['once'] === true,
    atomic: msg['atomic'] === true,
  };
  checkModes(stage.consistency, stage.atomic);
  if (typeof msg['router'] === 'string') stage.router = msg['router'];
  if (typeof msg['outputKey'] === 'string') stage.outputKey = msg['outputKey'];
  return stage;
}

export type Consistency = 'lww' | 'rr' | 'causal';

/** The consistency a call asked for; absent means `lww`. */
export function parseConsistency(value: unknown): Consistency {
  if (value === undefined || value === 'lww' || value === 'rr' || value === 'causal') return value ?? 'lww';
  throw new InvalidArgument(`consistency must be lww, rr or causal, not ${JSON.stringify(value)}`);
}

/**
 * Refuses the one combination of a call's modes that is not supported: an
 * atomic call reads versions by commit time, not by causal order, so
 * `causal` would silently not hold. (`rr` with `atomic` is allowed: a
 * transaction reads each key once and keeps that version.)
 */
export function checkModes(consistency: Consistency, atomic: boolean): void {
  if (atomic && consistency === 'causal') throw new InvalidArgument("atomic calls cannot be causal: use consistency 'lww' or 'rr' with atomic, or causal without it");
}

export type Isolation = 'none' | 'serializable';

/** The isolation a call asked for; absent means `none`. */
export function parseIsolation(value: unknown): Isolation {
  if (value === undefined || value === 'none' || value === 'serializable') return value ?? 'none';
  throw new InvalidArgument(`isolation must be none or serializable, not ${JSON.stringify(value)}`);
}

/**
 * Refuses what serializable calls do not support: they are atomic
 * transactions with locks (so `atomic: false` contradicts them, and causal
 * is refused as for atomic) and run as single calls (a DAG call's stages
 * would have to give up and run again together).
 */
export function checkIsolation(isolation: Isolation, opts: { atomic: boolean | undefined; dag: boolean }): void {
  if (isolation === 'none') return;
  if (opts.atomic === false) throw new InvalidArgument("isolation 'serializable' is an atomic transaction: leave atomic unset or true");
  if (opts.dag) throw new InvalidArgument("isolation 'serializable' is not supported for DAG calls yet");
}

/** A causal session's dependencies travel with results as [key, vector clock] pairs. */
export function parseDeps(value: unknown): [string, VectorClock][] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((p) => Array.isArray(p) && typeof p[0] === 'string' && p[1] instanceof VectorClock)) {
    throw new MalformedMessage('deps must be [key, vector clock] pairs');
  }
  return value as [string, VectorClock][];
}

/** Pins travel with results as [key, executor subject] pairs. */
export function parsePins(value: unknown): [string, string][] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((p) => Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'string')) {
    throw new MalformedMessage('pins must be [key, subject] pairs');
  }
  return value as [string, string][];
}

export const PIN_GET = 'pin.get';
