// The executor's pool of worker threads (piscina), configured so that calls
// cancelled at their deadline, however many and whenever, never take the
// executor down.

import { Piscina } from 'piscina';
import type { ExecutorConfig } from '../../lib/config.js';
import type { WorkerData } from './worker_protocol.js';
import { workerEnv } from './worker_env.js';

export const WORKER_FILE = new URL('./worker.js', import.meta.url).href;

/** How long a thread above minThreads may stay idle. */
const IDLE_THREAD_MS = 10_000;

/** Turns off require() of ES modules, where this Node has it (20.19+ turned it on by default). */
const NO_REQUIRE_ESM = '--no-experimental-require-module';

/**
 * The parent's flags minus module loader hooks (`--import`, `--loader`, …),
 * plus NO_REQUIRE_ESM. Both keep a worker thread that is terminated while it
 * loads from aborting the whole process in V8 ("FATAL ERROR:
 * v8::Module::IsGraphAsync must be used on an instantiated module"):
 * - piscina loads its task file with require() first, and on Node 20.19+
 *   require() of an ES module (ours is one) instantiates it synchronously.
 *   piscina hands calls to threads that have not finished loading (the
 *   first threads of a pool, and often their replacements), and terminates
 *   the thread of a call aborted at its deadline: terminated in the middle of
 *   that synchronous instantiation, V8 aborts the process. With require() of
 *   ES modules off, require() throws and piscina falls back to import(),
 *   which a termination interrupts cleanly.
 * The permission model's flags (`cloudburst executor --sandbox`) stay: a
 * worker given execArgv without them runs without the limits.
 * - a parent's loader hooks (as under a test runner) did the same once.
 */
export function workerExecArgv(argv: readonly string[], allowed: ReadonlySet<string> = process.allowedNodeEnvironmentFlags): string[] {
  const hooks = ['--import', '--loader', '--experimental-loader', '--require', '-r'];
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (hooks.includes(arg)) i++; // the flag and its value
    else if (!hooks.some((h) => arg.startsWith(`${h}=`)) && arg !== '--experimental-require-module') out.push(arg);
  }
  if (allowed.has(NO_REQUIRE_ESM) && !out.includes(NO_REQUIRE_ESM)) out.push(NO_REQUIRE_ESM);
  return out;
}

/** The pool an executor runs calls on; `workerData` is what every thread gets at start. */
export function workerPool(config: Pick<ExecutorConfig, 'threads' | 'minThreads' | 'workerEnv'>, workerData: WorkerData): Piscina {
  return new Piscina({
    filename: WORKER_FILE,
    minThreads: config.minThreads ?? config.threads,
    maxThreads: config.threads,
    // One invocation per thread, so aborting one that overran its deadline
    // (which terminates its thread) never takes another caller's call down.
    concurrentTasksPerWorker: 1,
    // Threads beyond minThreads go after a while idle.
    idleTimeout: config.minThreads === undefined ? Infinity : IDLE_THREAD_MS,
    workerData,
    execArgv: workerExecArgv(process.execArgv),
    // Without the NATS credentials (worker_env.ts).
    env: workerEnv(process.env, config.workerEnv),
  });
}
