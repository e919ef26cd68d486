// Runs one node (KVS shard, executor or router) as the whole process: starts
// it, tells a supervising parent it is ready, and stops it cleanly on SIGTERM
// or SIGINT, or when the parent goes away, so no node outlives its cluster.

import type { Actor } from '../lib/actor/actor.js';
import { dropSecrets } from '../actors/executor/worker_env.js';

export interface ReadyMessage {
  ready: true;
  id: string;
  kind: string;
  /** Where it serves its metrics, if it does. */
  metricsPort?: number;
}

export async function runNode(create: () => Promise<Actor>): Promise<void> {
  const node = await create();
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
