// Starts a private nats-server child on a free port: what `cloudburst up`
// does when no --nats URL is given, and what every test file does so tests
// are isolated from the machine's shared server and can kill and restart it.

import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { InvalidArgument } from '../lib/errors.js';
import { childReady, spawnTied, stopChild } from './child_process.js';

export const NATS_SERVER_FALLBACK = '/usr/sbin/nats-server';

/** NATS_SERVER_BIN, else `nats-server` on the PATH, else /usr/sbin/nats-server. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env['NATS_SERVER_BIN'],
    ...(env['PATH'] ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'nats-server')),
    NATS_SERVER_FALLBACK,
  ];
  for (const path of candidates) {
    if (!path) continue;
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not there: try the next place.
    }
  }
  throw new InvalidArgument(
    'nats-server not found: set NATS_SERVER_BIN, put nats-server on the PATH, or install it (apt-get install nats-server)',
  );
}

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface NatsServerOptions {
  /** Port to listen on; a free one when omitted. */
  port?: number;
  /** Extra command-line arguments (auth, max_payload, ...). */
  args?: string[];
  /** How long to wait for "Server is ready". Default 10 s. */
  readyTimeoutMs?: number;
}

const running = new Set<ChildProcess>();
// A test or CLI that exits (even on an uncaught error) never leaves a server behind.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export class NatsServerProcess {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly opts: NatsServerOptions,
  ) {}

  static async start(opts: NatsServerOptions = {}): Promise<NatsServerProcess> {
    for (let attempt = 1; ; attempt++) {
      const server = new NatsServerProcess(opts.port ?? (await freePort()), opts);
      try {
        await server.restart();
        return server;
      } catch (err) {
        // Another process may have taken the free port between the probe and
        // the bind; a fixed port gets no second try.
        if (opts.port !== undefined || attempt >= 3) throw err;
      }
    }
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** (Re)starts the server on the same port; resolves once it accepts clients. */
  async restart(): Promise<void> {
    if (this.child) throw new InvalidArgument('nats-server is already running');
    const args = ['-a', '127.0.0.1', '-p', String(this.port), ...(this.opts.args ?? [])];
    // Its own process group, so a terminal's Ctrl-C does not stop NATS under
    // nodes still draining; its owner stops it last (and on exit, above), and
    // the kernel kills it if its owner dies even by SIGKILL (spawnTied).
    const child = spawnTied(findNatsServer(), args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.child = child;
    running.add(child);
    child.once('exit', () => {
      running.delete(child);
      if (this.child === child) this.child = undefined;
    });
    let log = '';
    const onData = (chunk: Buffer): void => void (log += chunk.toString());
    child.stderr?.on('data', onData);
    await childReady(child, {
      what: 'nats-server',
      timeoutMs: this.opts.readyTimeoutMs ?? 10_000,
      watch: (ready) => {
        const check = (): void => void (log.includes('Server is ready') && ready());
        child.stderr?.on('data', check);
        return () => child.stderr?.off('data', check);
      },
      detail: () => log,
    });
    // Keep draining stderr so the child never blocks on a full pipe.
    child.stderr?.off('data', onData);
    child.stderr?.resume();
  }

  /** Stops the server with `signal` (SIGKILL: a crash) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child) await stopChild(this.child, 10_000, (c) => c.kill(signal));
  }

  /** Graceful stop. */
  stop(): Promise<void> {
    return this.kill('SIGTERM');
  }
}
