// `cloudburst up`: the local cluster in the foreground until Ctrl-C.

import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { CLUSTER_FILE, findCluster, removeClusterRecord, writeClusterRecord, type RecordedCredentials } from '../../lib/client/cluster_file.js';
import { COMMON_DEFAULTS, EXECUTOR_DEFAULTS } from '../../lib/config.js';
import type { LogLevel } from '../../lib/log.js';
import { LocalCluster } from '../local_cluster.js';
import { hasCredentials } from '../../lib/actor/nats_auth.js';
import { InvalidArgument } from '../../lib/errors.js';
import { natsAuthFromArgs } from '../nats_auth_options.js';
import { passFileName, writeRolesConfig, type RolesConfig } from '../nats_roles_config.js';
import { withNats } from '../options.js';
import { kvsOptions, type KvsArgs } from './nodes.js';
import { Cloudburst } from '../../lib/client/cloudburst.js';
import { GATEWAY_DEFAULTS } from '../../lib/gateway/defaults.js';
import type { Gateway } from '../../lib/gateway/gateway.js';
import { createLogger } from '../../lib/log.js';
import { gatewayLimitOptions, gatewayLimits, startGateway, stopSignal, type GatewayLimitArgs } from './gateway.js';

export interface UpArgs extends Omit<KvsArgs, 'id' | 'nats' | 'prefix' | 'data-dir' | 'connect-wait-ms'>, GatewayLimitArgs {
  'data-dir': string;
  nats: string | undefined;
  prefix: string;
  kvs: number;
  executors: number;
  'max-executors': number | undefined;
  'min-executors': number;
  'scale-cooldown-ms': number;
  routers: number;
  threads: number;
  secure?: boolean;
  http: number | undefined;
  'http-host': string;
}

/** Where `up --secure` writes the roles' config and passwords, under its working directory. */
export const SECURE_DIR = join('.cloudburst', 'roles');

export function clusterOptions<T>(y: Argv<T>) {
  return kvsOptions(withNats(y))
    .option('data-dir', { type: 'string', default: '.cloudburst/data', describe: 'where shards keep their data (<dir>/<prefix>/kvs-<n>)' })
    .option('kvs', { type: 'number', default: 1, describe: 'KVS shards' })
    .option('executors', { type: 'number', default: 1, describe: 'executor processes (at start, with autoscaling)' })
    .option('max-executors', { type: 'number', describe: 'autoscale executors up to this many with the load (default: no autoscaling)' })
    .option('min-executors', { type: 'number', default: 1, describe: 'with --max-executors: never fewer than this many' })
    .option('scale-cooldown-ms', { type: 'number', default: 10_000, describe: 'with --max-executors: least time between two changes' })
    .option('routers', { type: 'number', default: 1, describe: 'routers' })
    .option('threads', { type: 'number', default: EXECUTOR_DEFAULTS.threads, describe: 'worker threads per executor' })
    .option('heartbeat-ms', { type: 'number', default: COMMON_DEFAULTS.heartbeatMs, describe: 'heartbeat period of every node; a node silent for 3 periods is taken as gone' })
    .option('metrics-port', {
      type: 'number',
      describe:
        'serve Prometheus metrics from every node, each on its own port: BASE, BASE+1, ... in start order ' +
        '(shards, executors, routers; a restarted node keeps its port, a new executor takes the lowest free one; ' +
        '0: free ports); progress lines name each port. Default: no metrics',
    });
}

/**
 * `--secure`: a user per role (lib/roles.ts) in SECURE_DIR, with new
 * passwords at every start; refused with --nats (whose users are not ours to
 * write) or with credentials (each node gets its role's instead).
 */
function secureRoles(a: UpArgs): RolesConfig | undefined {
  if (!a.secure) return undefined;
  if (a.nats) throw new InvalidArgument('--secure runs a private nats-server with a user per role: it cannot be given --nats (run cloudburst nats-config for your own NATS)');
  if (hasCredentials(natsAuthFromArgs(a))) throw new InvalidArgument('--secure gives every node its role\'s credentials: give no NATS credentials with it (options or CLOUDBURST_NATS_*)');
  return writeRolesConfig(SECURE_DIR, a.prefix, { force: true });
}

export function startCluster(a: UpArgs, onProgress: (line: string) => void): Promise<LocalCluster> {
  const roles = secureRoles(a);
  return LocalCluster.start({
    ...(a.nats ? { nats: a.nats } : {}),
    natsAuth: natsAuthFromArgs(a),
    ...(roles ? { roles } : {}),
    kvs: a.kvs,
    executors: a.executors,
    ...(a['max-executors'] === undefined ? {} : { autoscale: { min: a['min-executors'], max: a['max-executors'], cooldownMs: a['scale-cooldown-ms'] } }),
    routers: a.routers,
    threads: a.threads,
    shards: { durability: a.durability, dataDir: a['data-dir'], replication: a.replication, gossipMs: a['gossip-ms'] },
    prefix: a.prefix,
    heartbeatMs: a['heartbeat-ms'],
    logLevel: a['log-level'] as LogLevel,
    ...(a['metrics-port'] === undefined ? {} : { metricsPort: a['metrics-port'] }),
    onProgress,
  });
}

export const upCommand: CommandModule<object, UpArgs> = {
  command: 'up',
  describe: `start a local cluster in the foreground (a private nats-server unless --nats is given); Ctrl-C stops it. It records its NATS URL and prefix in ${CLUSTER_FILE} here while it runs, where the other commands find it without --nats`,
  builder: (y) =>
    gatewayLimitOptions(
      clusterOptions(y)
        .option('http', {
          type: 'number',
          describe:
            'also serve the cluster over HTTP on this port, as cloudburst gateway does, from this process (0: a free one, printed when listening); ' +
            'the --body-limit ... --max-timeout-ms options below are its limits. Default: no HTTP',
        })
        .option('http-host', { type: 'string', default: GATEWAY_DEFAULTS.host, describe: 'with --http: interface to listen on' }),
    ).option('secure', {
      type: 'boolean',
      default: false,
      describe:
        `least privilege: the private nats-server gets one user per role (client, admin, kvs, executor, router; as nats-config writes them, ` +
        `into ${SECURE_DIR}/ with new passwords at each start), each node connects as its kind's user, and the record in ${CLUSTER_FILE} names ` +
        `${SECURE_DIR}/${passFileName('admin')}, so commands run here connect as admin; applications use --nats-user client ` +
        `--nats-pass-file ${SECURE_DIR}/${passFileName('client')}. See docs/security.md, "Roles"`,
    }),
  handler: async (a) => {
    const say = (line: string): void => void process.stderr.write(`[up] ${line}\n`);
    const cluster = await startCluster(a, say);
    const record = recordCluster(cluster, say, a.secure ? { user: 'admin', passFile: resolve(SECURE_DIR, passFileName('admin')) } : undefined);
    process.stdout.write(`cloudburst cluster ready: --nats ${cluster.natsUrl} --prefix ${a.prefix}\n`);
    const stopped = stopSignal();
    let http: { gateway: Gateway; client: Cloudburst } | undefined;
    try {
      http = a.http === undefined ? undefined : await serveHttp(cluster, a);
    } catch (err) {
      await cluster.stop();
      if (record) removeClusterRecord(process.cwd(), process.pid);
      throw err;
    }
    if (http) process.stdout.write(`cloudburst gateway listening on ${http.gateway.url}\n`);
    say(`${await stopped}: stopping`);
    // The gateway first, so requests under way finish while the cluster still runs.
    if (http) {
      await http.gateway.close();
      await http.client.close();
    }
    await cluster.stop();
    // Only a clean stop gets here; after a kill the record stays, and readers
    // ignore it because its pid no longer runs (lib/client/cluster_file.ts).
    if (record) removeClusterRecord(process.cwd(), process.pid);
    say('stopped');
  },
};

/** `--http`: the gateway in this process, connected as a client (the client role under --secure). */
async function serveHttp(cluster: LocalCluster, a: UpArgs): Promise<{ gateway: Gateway; client: Cloudburst }> {
  const client = await Cloudburst.connect({ servers: cluster.natsUrl, prefix: cluster.prefix, auth: cluster.clientAuth() });
  try {
    const gateway = await startGateway(client, { ...gatewayLimits(a), port: a.http, host: a['http-host'], log: createLogger('gateway', a['log-level'] as LogLevel) });
    return { gateway, client };
  } catch (err) {
    await client.close();
    throw err;
  }
}

/** Records the cluster in CLUSTER_FILE of the working directory, so commands run here find it; undefined if that fails (the cluster still runs). */
function recordCluster(cluster: LocalCluster, say: (line: string) => void, credentials?: RecordedCredentials): string | undefined {
  const previous = findCluster(process.cwd());
  if (previous.state === 'running' && previous.path === resolve(CLUSTER_FILE)) {
    say(`replacing the record of the cloudburst up (pid ${previous.record.pid}) still running here: commands without --nats now reach this cluster`);
  }
  try {
    const path = writeClusterRecord(process.cwd(), {
      nats: cluster.natsUrl,
      prefix: cluster.prefix,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      ...(credentials ? { credentials } : {}),
    });
    const as = credentials ? ` (as ${credentials.user}, its password in ${credentials.passFile})` : '';
    say(`recorded in ${path}: cloudburst commands and Cloudburst.connect() run in this directory reach this cluster without --nats${as}`);
    return path;
  } catch (err) {
    say(`could not record the cluster in ${CLUSTER_FILE} (${(err as Error).message}): give --nats to reach it`);
    return undefined;
  }
}
