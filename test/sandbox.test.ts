// `cloudburst executor --sandbox`: functions run under Node's permission
// model. A function that tries to write a file, start a process, or read
// the process's environment or a file outside the executor's code is
// refused (ERR_ACCESS_DENIED), while it still reads and writes state; the
// same function on an executor without --sandbox does all of it (the
// control). The executors are real CLI processes on a real cluster.

import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Cb } from '../lib/function_api.js';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { spawnTied } from '../bin/child_process.js';
import { CLI } from './fixtures/cli.js';
import { startCluster } from './fixtures/cluster.js';
import { withoutReplaced } from '../bin/sandbox.js';

async function tries(cb: Cb, dir: string): Promise<Record<string, string>> {
  const fs = await import('node:fs');
  const cp = await import('node:child_process');
  const { Worker } = await import('node:worker_threads');
  const attempt = (what: () => unknown): string => {
    try {
      what();
      return 'ok';
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  };
  await cb.put('sandbox/state', 'written');
  return {
    state: String(await cb.get('sandbox/state')),
    write: attempt(() => fs.writeFileSync(`${dir}/written-by-a-function`, 'x')),
    spawn: attempt(() => cp.execFileSync('true')),
    environ: attempt(() => fs.readFileSync('/proc/self/environ')),
    passwd: attempt(() => fs.readFileSync('/etc/passwd')),
    // A thread of its own, given no execArgv, would run without the limits.
    thread: attempt(() => new Worker('', { eval: true, execArgv: [] }).terminate()),
  };
}

/** An executor as its own CLI process, until the test ends. */
async function executor(t: Test, natsUrl: string, ...extra: string[]): Promise<ChildProcess> {
  // Through env -u: the test runner injects its loader hooks (NODE_OPTIONS) into
  // every process this one starts, and a hook that writes files cannot start
  // under the sandbox. A user's executor has no such hooks.
  const child = spawnTied('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, CLI, 'executor', '--nats', natsUrl, '--threads', '1', ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => /ready on/.test(line) && resolve());
    child.once('exit', (code) => reject(new Error(`the executor exited (${code}) before it was ready`)));
  });
  return child;
}

t.test('a sandboxed executor runs functions that cannot write files, start processes or read outside its code', async (t) => {
  const { client, nats } = await startCluster(t, { executors: 0 });
  const dir = await mkdtemp(join(tmpdir(), 'cb-sandbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await client.register('tries', tries);

  const sandboxed = await executor(t, nats.url, '--sandbox', '--id', 'exec-sandboxed');
  t.same(await client.call('tries', [dir]), { state: 'written', write: 'ERR_ACCESS_DENIED', spawn: 'ERR_ACCESS_DENIED', environ: 'ERR_ACCESS_DENIED', passwd: 'ERR_ACCESS_DENIED', thread: 'ERR_ACCESS_DENIED' });
  await t.rejects(stat(join(dir, 'written-by-a-function')), { code: 'ENOENT' }, 'no file was written');
  const gone = new Promise((resolve) => sandboxed.once('exit', resolve));
  sandboxed.kill('SIGTERM');
  await gone;

  // The control: the same function, an executor without --sandbox.
  await executor(t, nats.url, '--id', 'exec-open');
  t.same(await client.call('tries', [dir]), { state: 'written', write: 'ok', spawn: 'ok', environ: 'ok', passwd: 'ok', thread: 'ok' });
});

t.test('the sandboxed child gets the address and credentials another way, never twice', async (t) => {
  t.same(withoutReplaced(['executor', '--nats', 'nats://a:1', '--threads', '2', '--nats-pass-file=/p', '--sandbox', '--nats-tls', '--prefix', 'x']), ['executor', '--threads', '2', '--sandbox']);
});
