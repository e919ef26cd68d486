// Runs inside a piscina worker thread: loads a function's module (cached by
// content hash, so a re-registered function is loaded afresh) and runs one
// invocation. A task names its function by hash only: a thread that has not
// loaded it asks the main thread for the source once (a 1 MB function sent
// with every task made each call copy it). A throw becomes an ExecutionError
// outcome, never a worker crash.

import { threadId, workerData } from 'node:worker_threads';
import workerThreads from 'node:worker_threads';
import { syncBuiltinESMExports } from 'node:module';
import { SharedCacheReader } from './cache/index.js';
import { decode, encode } from '../../lib/codec/index.js';
import { CloudburstError, ExecutionError } from '../../lib/errors.js';
import type { Cb } from '../../lib/function_api.js';
import { WorkerContext } from './worker_context.js';
import { WorkerStateLine } from './state_line.js';
import type { WorkerData, WorkerOutcome, WorkerTask } from './worker_protocol.js';

// A loaded module's default export, called with whatever arguments arrived.
type Invocable = (cb: Cb, ...args: unknown[]) => unknown;

const data = workerData as WorkerData;
// Under the permission model (--sandbox), a function must not start a thread
// of its own: one given its own execArgv would run without the limits.
if ((process as { permission?: unknown }).permission !== undefined) forbidThreads();
// Hits here never reach the main thread otherwise; the header counts them for its reports.
const cache = new SharedCacheReader(data.cache, { shareHits: true });
const line = new WorkerStateLine(data.executorId);
/**
 * Loaded functions by hash, least recently used first. Bounded, so a thread
 * of an executor whose functions are re-registered again and again keeps no
 * more than this many; V8 keeps an imported module itself regardless, so a
 * thread's memory still grows by each new version it runs (threads above
 * minThreads are recycled when idle).
 */
const modules = new Map<string, Promise<Invocable>>();
const MAX_MODULES = 256;

async function load(task: WorkerTask): Promise<Invocable> {
  const { code } = await line.ask({ op: 'code', instance: task.invocationId });
  if (code === undefined) throw new ExecutionError(`function ${task.name}: the executor sent no code`);
  const url = `data:text/javascript;base64,${Buffer.from(code).toString('base64')}`;
  const mod = (await import(url)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    throw new ExecutionError(`function ${task.name}: its module has no default export that is a function`);
  }
  return mod.default as Invocable;
}

function loaded(task: WorkerTask): Promise<Invocable> {
  let fn = modules.get(task.hash);
  if (fn) {
    // Most recently used: to the end.
    modules.delete(task.hash);
  } else {
    fn = load(task);
    // A module that failed to load is not cached: the next call tries again.
    fn.catch(() => modules.get(task.hash) === fn && modules.delete(task.hash));
    if (modules.size >= MAX_MODULES) modules.delete(modules.keys().next().value!);
  }
  modules.set(task.hash, fn);
  return fn;
}

function encodeResult(name: string, value: unknown): Uint8Array {
  try {
    return encode(value);
  } catch (err) {
    throw new ExecutionError(`function ${name} returned a value that cannot be sent: ${(err as Error).message}`);
  }
}

export default async function run(task: WorkerTask): Promise<WorkerOutcome> {
  const cb = new WorkerContext(task.invocationId, `${task.writer}/${threadId}`, line, cache, task.reads);
  try {
    const fn = await loaded(task);
    const args = decode(task.args) as unknown[];
    const value = await fn(cb, ...args);
    return { ok: true, result: encodeResult(task.name, value) };
  } catch (err) {
    if (err instanceof CloudburstError) return { ok: false, error: err.toWire() };
    const message = err instanceof Error ? `${err.name}: ${err.message}` : `threw ${String(err)}`;
    return { ok: false, error: new ExecutionError(`function ${task.name} failed: ${message}`).toWire() };
  }
}

/** Replaces worker_threads' Worker, for every import of it from here on, by one that refuses. */
function forbidThreads(): void {
  const refuse = function Worker(): never {
    throw Object.assign(new Error('starting a thread is not allowed in a sandboxed executor'), { code: 'ERR_ACCESS_DENIED' });
  };
  (workerThreads as { Worker: unknown }).Worker = refuse;
  syncBuiltinESMExports();
}
