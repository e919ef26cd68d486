// `cloudburst status`: every node of the cluster as a router knows it from
// heartbeats. In a terminal the table is redrawn in place until Ctrl-C;
// piped, or with --json, it is printed once.

import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandModule } from 'yargs';
import { InvalidArgument, asCloudburstError } from '../../lib/errors.js';
import { statusTable, statusView, type StatusView } from '../status_view.js';
import { clientOptions, print, withClient, type ClientArgs } from './client.js';

interface StatusArgs extends ClientArgs {
  json: boolean;
  interval: number;
}

// ANSI control sequences: cursor to the top left, erase to the end of the line / of the screen.
const HOME = '\x1b[H';
const CLEAR_LINE = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';

export const statusCommand: CommandModule<object, StatusArgs> = {
  command: 'status',
  describe:
    'show every node (kind, id, state, uptime, load, threads, cache size and hit rate, keys, replication); ' +
    'in a terminal the table refreshes until Ctrl-C, otherwise it prints once',
  builder: (y) =>
    clientOptions(y)
      .option('json', { type: 'boolean', default: false, describe: 'print the nodes once as JSON (fields in docs/operations.md) and exit' })
      .option('interval', { type: 'number', default: 1000, describe: 'ms between refreshes in a terminal (nodes report once per heartbeat, 1 s by default)' }),
  handler: async (a) => {
    if (!(a.interval > 0)) throw new InvalidArgument(`--interval must be a positive number of ms, not ${a.interval}`);
    await withClient(a, async (cb, address) => {
      const read = async (): Promise<StatusView> => statusView(await cb.status({ timeoutMs: a.timeout }));
      if (a.json) print(await read());
      else if (!process.stdout.isTTY) process.stdout.write(statusTable(await read()));
      else await refresh(`cloudburst status (--prefix ${address.prefix})`, read, a.interval);
    });
  },
};

/** Redraws the table every `intervalMs` until SIGINT; a failed read shows its error and is tried again. */
async function refresh(what: string, read: () => Promise<StatusView>, intervalMs: number): Promise<void> {
  const stop = new AbortController();
  const interrupted = new Promise<void>((resolve) => process.once('SIGINT', () => (stop.abort(), resolve())));
  process.stdout.write('\x1b[2J');
  while (!stop.signal.aborted) {
    let body: string;
    try {
      const view = await Promise.race([read(), interrupted]);
      if (!view) break;
      body = statusTable(view);
    } catch (err) {
      const e = asCloudburstError(err);
      body = `cloudburst: ${e.code}: ${e.message}\n`;
    }
    const title = `${what}: every ${intervalMs} ms, Ctrl-C to stop, at ${new Date().toLocaleTimeString()}\n\n`;
    process.stdout.write(HOME + (title + body).replaceAll('\n', `${CLEAR_LINE}\n`) + CLEAR_BELOW);
    await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
  }
}
