// Runs one node (KVS shard, executor or router) as the whole process: starts
// it, tells a supervising parent it is ready, and stops it cleanly on SIGTERM
// or SIGINT, or when the parent goes away, so no node outlives its cluster.

import { setTimeout as delay } from 'node:timers/promises';
import type { Actor } from '../lib/actor/actor.js';
import { dropSecrets } from '../actors/executor/worker_env.js';
import { Unavailable } from '../lib/errors.js';

/**
 * How long a node started while NATS is down (restarting, or not up yet)
 * keeps trying before it gives up: a node that exited at once was lost to
 * a supervisor-less deployment for good (the fault harness saw routers
 * restarted during a NATS restart exit with UNAVAILABLE).
 */
export const NODE_CONNECT_WAIT_MS = 30_000;
/** Pause between two tries to connect at start. */
const CONNECT_RETRY_MS = 500;

export interface ReadyMessage {
  ready: true;
  id: string;
  kind: string;
  /** Where it serves its metrics, if it does. */
  metricsPort?: number;
}

export async function runNode(create: () => Promise<Actor>, opts: { connectWaitMs?: number } = {}): Promise<void> {
  const node = await createWhenNatsAnswers(create, opts.connectWaitMs ?? 0);
  // Connected: the process needs the credentials no more (reconnects use the
  // connection's copy), and nothing it runs should find them in its environment.
  dropSecrets();
  await node.start();
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    node.log.info({ why }, 'stopping');
    node.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  if (process.send) {
    process.once('disconnect', () => stop('supervisor gone'));
    const ready: ReadyMessage = { ready: true, id: node.id, kind: node.kind, ...(node.metricsPort === undefined ? {} : { metricsPort: node.metricsPort }) };
    process.send(ready);
  } else {
    const metrics = node.metricsPort === undefined ? '' : `, metrics on port ${node.metricsPort}`;
    process.stdout.write(`${node.kind} ${node.id} ready on ${node.subject}${metrics}\n`);
  }
}

/**
 * Creates the node (which connects to NATS), trying again while NATS cannot
 * be reached (Unavailable), for up to `waitMs`; says so once on stderr.
 * Anything else (refused credentials, a bad option) fails at once.
 */
async function createWhenNatsAnswers(create: () => Promise<Actor>, waitMs: number): Promise<Actor> {
  const until = Date.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      return await create();
    } catch (err) {
      if (!(err instanceof Unavailable) || Date.now() + CONNECT_RETRY_MS > until) throw err;
      if (!told) process.stderr.write(`cloudburst: ${err.message}; trying again for up to ${Math.round(waitMs / 1000)} s\n`);
      told = true;
      await delay(CONNECT_RETRY_MS);
    }
  }
}
