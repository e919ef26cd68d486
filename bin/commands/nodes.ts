// `cloudburst kvs|executor|router`: one node as this process, joining the
// cluster on --nats. A deployment across machines runs these on each machine.

import type { Argv, CommandModule } from 'yargs';
import { ExecutorNode } from '../../actors/executor/executor_node.js';
import { KvsNode } from '../../kvs-node/kvs_node.js';
import { EXECUTOR_DEFAULTS, executorConfig, kvsConfig, routerConfig } from '../../lib/config.js';
import type { LogLevel } from '../../lib/log.js';
import { RouterNode } from '../../router/router_node.js';
import { withNats } from '../options.js';
import { runNode } from '../run_node.js';

function nodeOptions<T>(y: Argv<T>) {
  return withNats(y, true).option('id', { type: 'string', describe: 'node id, unique in the cluster (default: random)' });
}

interface NodeArgs {
  nats: string;
  prefix: string;
  id: string | undefined;
  'log-level': string;
}

function common(a: NodeArgs) {
  return { nats: a.nats, prefix: a.prefix, logLevel: a['log-level'] as LogLevel, ...(a.id ? { id: a.id } : {}) };
}

export const kvsCommand: CommandModule<object, NodeArgs> = {
  command: 'kvs',
  describe: 'run a KVS shard (in-memory lattice store)',
  builder: (y) => nodeOptions(y) as unknown as Argv<NodeArgs>,
  handler: (a) => runNode(() => KvsNode.create(kvsConfig(common(a)))),
};

export const executorCommand: CommandModule<object, NodeArgs & { threads: number }> = {
  command: 'executor',
  describe: 'run an executor (runs functions in worker threads)',
  builder: (y) =>
    nodeOptions(y).option('threads', { type: 'number', default: EXECUTOR_DEFAULTS.threads, describe: 'worker threads running functions' }) as unknown as Argv<NodeArgs & { threads: number }>,
  handler: (a) => runNode(() => ExecutorNode.create(executorConfig({ ...common(a), threads: a.threads }))),
};

export const routerCommand: CommandModule<object, NodeArgs> = {
  command: 'router',
  describe: 'run a router (schedules calls onto executors)',
  builder: (y) => nodeOptions(y) as unknown as Argv<NodeArgs>,
  handler: (a) => runNode(() => RouterNode.create(routerConfig(common(a)))),
};
