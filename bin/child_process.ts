// Start-up and shut-down of supervised child processes (nats-server, nodes,
// bench helpers), written once: a child is ready when its own signal says so,
// fails if it exits or is slow first, and is stopped gently, then by force.

import type { ChildProcess } from 'node:child_process';

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
