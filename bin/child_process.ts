// Start-up and shut-down of supervised child processes (nats-server, nodes,
// bench helpers), written once: a child is ready when its own signal says so,
// fails if it exits or is slow first, and is stopped gently, then by force.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

export interface ReadyOptions {
  /** What the child is, for error messages. */
  what: string;
  timeoutMs: number;
  /** Subscribes to the child's readiness signal; returns the unsubscribe. */
  watch: (ready: () => void) => () => void;
  /** More to say when start-up fails (e.g. the child's log so far). */
  detail?: () => string;
}

/** Resolves once the child is ready; on failure kills it and rejects. */
export function childReady(child: ChildProcess, opts: ReadyOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      unwatch();
      child.off('exit', onExit);
      if (!err) return resolve();
      child.kill('SIGKILL');
      const detail = opts.detail?.() ?? '';
      reject(new Error(detail ? `${err.message}:\n${detail}` : err.message));
    };
    const onExit = (code: number | null, signal: string | null): void =>
      finish(new Error(`${opts.what} exited during start-up (${signal ?? `code ${code}`})`));
    const timer = setTimeout(() => finish(new Error(`${opts.what} not ready after ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const unwatch = opts.watch(() => finish());
    child.once('exit', onExit);
  });
}

/** True once the child has exited. */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Asks the child to stop (`ask`, SIGTERM by default), SIGKILL after `graceMs`; resolves when it is gone. */
export async function stopChild(child: ChildProcess, graceMs: number, ask: (c: ChildProcess) => void = (c) => c.kill('SIGTERM')): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  ask(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// --- Children that die with their parent -----------------------------------
//
// A child that is not a node (nats-server, a test's CLI process) has no IPC
// channel to notice its parent going away, and `process.on('exit')` never
// runs on SIGKILL. Linux can do it for us: PR_SET_PDEATHSIG, set by
// util-linux `setpriv --pdeathsig SIGKILL`, survives the exec into the real
// program, so the kernel kills the child whenever its parent dies, however.
// It is chosen over a watchdog process holding a pipe to the parent because
// nothing of ours has to outlive the parent to do the killing and the child's
// pid stays the program's own.
//
// Two traps. The signal fires when the parent *thread* that forked ends:
// libuv forks from the thread that calls spawn, so only the main thread uses
// it (a worker thread's children would die with the worker). And a parent
// killed between the fork and the prctl would leave the child orphaned and
// unsignalled: a tiny sh, already under the death signal, checks that its
// parent is still the spawner before exec'ing the program.

let setprivPath: string | null | undefined;

/** util-linux setpriv, when this is Linux and it is installed; else null. */
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux') return null;
  for (const path of ['/usr/bin/setpriv', '/bin/setpriv']) {
    try {
      accessSync(path, constants.X_OK);
      accessSync('/bin/sh', constants.X_OK);
      return (setprivPath = path);
    } catch {
      // Not there: try the next place.
    }
  }
  return null;
}

/**
 * spawn(), except that the child is killed (SIGKILL) when this process dies,
 * also by SIGKILL, where the system allows it (Linux with setpriv, called on
 * the main thread); elsewhere a plain spawn, and the caller's own cleanup is
 * all there is. The child's pid is the program's own.
 */
export function spawnTied(command: string, args: readonly string[], opts: SpawnOptions): ChildProcess {
  const setpriv = isMainThread ? findSetpriv() : null;
  if (!setpriv) return spawn(command, args, opts);
  const guard = '[ "$PPID" = "$0" ] || exit 1; exec "$@"';
  return spawn(setpriv, ['--pdeathsig', 'SIGKILL', '--', '/bin/sh', '-c', guard, String(process.pid), command, ...args], opts);
}
