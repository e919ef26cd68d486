// One process at a time per data directory. Two shards writing the same LMDB
// files (two `cloudburst up` on one directory, say) would each keep their own
// copy in memory and diverge, so the second one refuses to start.
//
// The lock is a listening Unix socket, not a file of ours: the kernel closes
// it when its holder dies, however it dies (kill -9 included), so there is no
// stale lock to clean up and no pid to mistake for a live one. On Linux it
// lives in the abstract namespace (nothing on disk), named after the
// directory's device and inode, so every path to the directory (symlinks,
// bind mounts) names the same lock; taking it is one atomic bind. Elsewhere
// it is a socket file in the directory: a bind that finds a file nobody
// listens on removes it and tries again. Processes in different network
// namespaces (containers sharing a volume) do not see each other's abstract
// sockets: a limit, stated in docs/operations.md.
//
// Whoever connects is told the holder's pid and what it is, for the error.

import { stat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { DataDirLocked } from '../../lib/errors.js';

const SOCKET_FILE = 'cloudburst.lock.sock';
/** How long to wait for the holder to say who it is. */
const WHO_TIMEOUT_MS = 1_000;

export interface DataDirLock {
  release(): Promise<void>;
}

/** Takes the lock of `dir` (which must exist) for this process, or throws DataDirLocked naming the holder. */
export async function lockDataDir(dir: string, holder: string): Promise<DataDirLock> {
  const address = await lockAddress(dir);
  const who = JSON.stringify({ pid: process.pid, holder });
  for (let attempt = 0; ; attempt++) {
    const server = createServer((socket) => socket.end(who));
    const bound = await listen(server, address);
    if (bound === true) {
      server.unref(); // the lock must not keep the process alive
      return { release: () => new Promise((resolve) => server.close(() => resolve())) };
    }
    if (bound.code !== 'EADDRINUSE') throw bound;
    const other = await whoHolds(address);
    if (other !== undefined) {
      throw new DataDirLocked(`data directory ${dir} is in use by ${other.holder} (pid ${other.pid}); stop it first or use another --data-dir`, {
        data: { dir, pid: other.pid, holder: other.holder },
      });
    }
    // A socket file left by a holder that died (not on Linux): nobody listens.
    if (address.startsWith('\0') || attempt > 0) throw bound;
    await unlink(address).catch(() => undefined);
  }
}

async function lockAddress(dir: string): Promise<string> {
  if (process.platform !== 'linux') return join(dir, SOCKET_FILE);
  const { dev, ino } = await stat(dir, { bigint: true });
  return `\0cloudburst-data-dir-${dev}-${ino}`;
}

function listen(server: Server, address: string): Promise<true | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen(address, () => resolve(true));
  });
}

/** The holder's pid and name; undefined if nobody listens there. */
function whoHolds(address: string): Promise<{ pid: number | string; holder: string } | undefined> {
  return new Promise((resolve) => {
    const socket = connect(address);
    let text = '';
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), WHO_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => void (text += chunk.toString()));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // Connected but silent (a busy holder): held all the same.
      resolve(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? undefined : { pid: 'unknown', holder: 'another process' });
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        const parsed = JSON.parse(text) as { pid?: unknown; holder?: unknown };
        resolve({ pid: typeof parsed.pid === 'number' ? parsed.pid : 'unknown', holder: typeof parsed.holder === 'string' ? parsed.holder : 'another process' });
      } catch {
        resolve({ pid: 'unknown', holder: 'another process' });
      }
    });
  });
}
