// `cloudburst kvs|executor|router`: one node as this process, joining the
// cluster on --nats. A deployment across machines runs these on each machine.

import type { Argv, CommandModule } from 'yargs';
import { ExecutorNode } from '../../actors/executor/executor_node.js';
import type { KvsNode } from '../../kvs-node/kvs_node.js';
import { COMMON_DEFAULTS, EXECUTOR_DEFAULTS, KVS_DEFAULTS, executorConfig, kvsConfig, routerConfig, type Durability } from '../../lib/config.js';
import type { LogLevel } from '../../lib/log.js';
import { RouterNode } from '../../router/router_node.js';
import { natsAuthFromArgs, type NatsAuthArgs } from '../nats_auth_options.js';
import { joinAddress, withJoinedNats } from '../options.js';
import { NODE_CONNECT_WAIT_MS, runNode } from '../run_node.js';
import { inSandbox, runSandboxed } from '../sandbox.js';

// What a fixed --id is for differs by kind: a shard is found again by its
// id (its place on the ring, its data), other nodes only go by it.
const ID_HELP = {
  kvs: 'node id, unique in the cluster (default: random); give a shard a fixed one to restart it from its --data-dir and take back its place on the ring',
  executor: 'node id, unique in the cluster (default: random); names the executor in status, logs, metrics and cb.id addresses',
  router: 'node id, unique in the cluster (default: random); names the router in status, logs and metrics',
} as const;

/**
 * Loaded only by the kvs command: the shard's store loads a native addon
 * (lmdb), which an executor under --sandbox may not load, and has no use for.
 */
async function kvsNodeClass(): Promise<typeof KvsNode> {
  return (await import('../../kvs-node/kvs_node.js')).KvsNode;
}

function nodeOptions<T>(y: Argv<T>, kind: keyof typeof ID_HELP) {
  return withJoinedNats(y)
    .option('id', { type: 'string', describe: ID_HELP[kind] })
    .option('heartbeat-ms', { type: 'number', default: COMMON_DEFAULTS.heartbeatMs, describe: 'heartbeat period; a node silent for 3 periods is taken as gone' })
    .option('connect-wait-ms', {
      type: 'number',
      default: NODE_CONNECT_WAIT_MS,
      describe: 'at start, while NATS refuses or cannot be reached, try again for this long before giving up (0: give up at once); wrong credentials fail at once',
    })
    // Set by `cloudburst up` when it restarts a node that exited; not for people.
    .option('restarts', { type: 'number', hidden: true })
    .option('metrics-port', {
      type: 'number',
      describe: 'serve Prometheus metrics on http://<any interface>:PORT/metrics (0: a free one, printed when ready); default: no metrics, no HTTP server',
    });
}

interface NodeArgs extends NatsAuthArgs {
  /** Absent: the cluster is found as FINDING_THE_CLUSTER (bin/options.ts) says. */
  nats: string | undefined;
  prefix: string | undefined;
  id: string | undefined;
  'log-level': string;
  'heartbeat-ms': number;
  'connect-wait-ms': number;
  'metrics-port': number | undefined;
  restarts?: number | undefined;
}

function common(a: NodeArgs) {
  const address = joinAddress(a);
  return {
    nats: address.servers,
    natsAuth: natsAuthFromArgs(a),
    prefix: address.prefix,
    heartbeatMs: a['heartbeat-ms'],
    logLevel: a['log-level'] as LogLevel,
    ...(a.id ? { id: a.id } : {}),
    ...(a['metrics-port'] === undefined ? {} : { metricsPort: a['metrics-port'] }),
    ...(a.restarts === undefined ? {} : { restarts: a.restarts }),
  };
}

export interface KvsArgs extends NodeArgs {
  'data-dir': string | undefined;
  durability: Durability;
  replication: number;
  'gossip-ms': number;
}

/** The shard options `kvs` and `up` share. */
export function kvsOptions<T>(y: Argv<T>) {
  return y
    .option('durability', {
      choices: ['none', 'group', 'sync'] as const,
      default: KVS_DEFAULTS.durability,
      describe: 'group: a put is acknowledged once its batch is fsynced; sync: once its own transaction is; none: memory only',
    })
    .option('replication', { type: 'number', default: KVS_DEFAULTS.replication, describe: 'replicas per key (fewer when there are fewer shards)' })
    .option('gossip-ms', { type: 'number', default: KVS_DEFAULTS.gossipMs, describe: 'period of gossip rounds between replicas' });
}

export const kvsCommand: CommandModule<object, KvsArgs> = {
  command: 'kvs',
  describe: 'run a KVS shard (durable lattice store on the hash ring)',
  builder: (y) =>
    kvsOptions(nodeOptions(y, 'kvs')).option('data-dir', {
      type: 'string',
      describe: 'directory of the shard\'s data (required unless --durability none)',
    }),
  handler: (a) =>
    runNode(
      async () =>
        (await kvsNodeClass()).create(
        kvsConfig({
          ...common(a),
          durability: a.durability,
          replication: a.replication,
          gossipMs: a['gossip-ms'],
          ...(a['data-dir'] ? { dataDir: a['data-dir'] } : {}),
        }),
      ),
      { connectWaitMs: a['connect-wait-ms'] },
    ),
};

interface ExecutorArgs extends NodeArgs {
  threads: number;
  'min-threads': number | undefined;
  'cache-mb': number;
  'worker-env': string[] | undefined;
  sandbox: boolean;
}

export const executorCommand: CommandModule<object, ExecutorArgs> = {
  command: 'executor',
  describe: 'run an executor (runs functions in worker threads, caches state in shared memory)',
  builder: (y) =>
    nodeOptions(y, 'executor')
      .option('threads', { type: 'number', default: EXECUTOR_DEFAULTS.threads, describe: 'worker threads running functions (the most the pool grows to)' })
      .option('min-threads', { type: 'number', describe: 'threads kept when idle; the pool grows to --threads while calls queue (default: --threads)' })
      .option('cache-mb', { type: 'number', default: EXECUTOR_DEFAULTS.cacheBytes / 2 ** 20, describe: 'size of the shared-memory state cache, MiB' })
      .option('worker-env', {
        type: 'string',
        array: true,
        describe: 'the only environment variables functions see (names, space- or comma-separated); default: all but CLOUDBURST_NATS_*',
      })
      .option('sandbox', {
        type: 'boolean',
        default: false,
        describe: "run under Node's permission model: functions cannot write files, start processes or read files outside the executor's code (docs/security.md)",
      }),
  handler: (a) => {
    if (a.sandbox && !inSandbox()) {
      const { nats, prefix, natsAuth } = common(a);
      runSandboxed({ servers: nats, prefix }, natsAuth);
      return;
    }
    return runNode(() =>
      ExecutorNode.create(
        executorConfig({
          ...common(a),
          threads: a.threads,
          cacheBytes: Math.round(a['cache-mb'] * 2 ** 20),
          ...(a['min-threads'] === undefined ? {} : { minThreads: a['min-threads'] }),
          ...(a['worker-env'] === undefined ? {} : { workerEnv: a['worker-env'].flatMap((n) => n.split(',')).filter((n) => n !== '') }),
        }),
      ),
      { connectWaitMs: a['connect-wait-ms'] },
    );
  },
};

export const routerCommand: CommandModule<object, NodeArgs> = {
  command: 'router',
  describe: 'run a router (schedules calls onto executors)',
  builder: (y) => nodeOptions(y, 'router'),
  handler: (a) => runNode(() => RouterNode.create(routerConfig(common(a))), { connectWaitMs: a['connect-wait-ms'] }),
};
