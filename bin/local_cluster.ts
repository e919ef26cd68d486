// A whole cluster on this machine, as `cloudburst up` runs it: a private
// nats-server (unless a NATS URL is given), then the KVS shards, executors and
// routers as child processes of this one. Children that crash are restarted;
// stopping the cluster stops every child and waits until each is gone, and a
// child whose supervisor dies stops itself (run_node.ts), so nothing is left
// behind.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeKind } from '../lib/actor/actor.js';
import { envWithNatsAuth, type NatsAuth } from '../lib/actor/nats_auth.js';
import { COMMON_DEFAULTS, KVS_DEFAULTS, type Durability } from '../lib/config.js';
import type { AutoscaleOptions } from '../router/autoscaling_policy.js';
import { startAutoscaler } from './executor_autoscaler.js';
import { newId } from '../lib/ids.js';
import type { LogLevel } from '../lib/log.js';
import { childReady, stopChild } from './child_process.js';
import { NatsServerProcess } from './nats_server.js';
import type { RolesConfig } from './nats_roles_config.js';
import { InvalidArgument } from '../lib/errors.js';
import type { ReadyMessage } from './run_node.js';

const CLI = fileURLToPath(new URL('./cloudburst.js', import.meta.url));

export interface LocalClusterOptions {
  /** Use this NATS instead of starting a private nats-server. */
  nats?: string;
  /** Credentials and TLS for it; children get them in their environment, not their argv. */
  natsAuth?: NatsAuth;
  /**
   * Roles (`up --secure`): the private nats-server runs with this config and
   * each node connects as the user of its kind; not with `nats`.
   */
  roles?: RolesConfig;
  kvs: number;
  executors: number;
  routers: number;
  /** Worker threads per executor. */
  threads: number;
  /** Shard settings; each shard keeps its data in `<dataDir>/<prefix>/kvs-<n>`. */
  shards: { durability: Durability; dataDir?: string; replication: number; gossipMs: number };
  prefix: string;
  logLevel: LogLevel;
  /** Told of each step while the cluster starts and of restarts after. */
  onProgress?: (line: string) => void;
  /** How long one node may take to come up. Default 20 s. */
  readyTimeoutMs?: number;
  /** Start and stop executors with the load, between min and max (`executors` is where it starts). */
  autoscale?: AutoscaleOptions;
  /** Heartbeat period of the nodes. Default 1 s. */
  heartbeatMs?: number;
  /**
   * Nodes serve metrics on BASE + n, n the lowest offset no running node
   * holds (so in start order, and a new executor fills a gap); 0: free ports.
   * Default: no metrics.
   */
  metricsPort?: number;
}

/** Shards that keep nothing: for demos and benches of the call path. */
export const MEMORY_SHARDS: LocalClusterOptions['shards'] = { durability: 'none', replication: 1, gossipMs: KVS_DEFAULTS.gossipMs };

/** One node of each kind, nothing kept on disk: the demo's and the call benches' cluster. */
export function memoryCluster(overrides: Partial<LocalClusterOptions> = {}): LocalClusterOptions {
  return { kvs: 1, executors: 1, routers: 1, threads: 2, shards: MEMORY_SHARDS, prefix: 'cb', logLevel: 'warn', ...overrides };
}

/** Restarts allowed per node within RESTART_WINDOW_MS before it is given up. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** How long a node may take to drain before it is killed. */
const NODE_STOP_GRACE_MS = 10_000;

export interface ChildNode {
  readonly kind: NodeKind;
  readonly id: string;
  process: ChildProcess;
  restarts: number[];
  /** Restarts since the cluster started (`restarts` keeps only the last minute's); the node reports it in heartbeats. */
  restarted: number;
  /** Stopped on purpose (autoscaling): not restarted when it exits. */
  retired?: boolean;
  /** The port asked for its metrics (kept across restarts); what it listens on is in its ready message. */
  metricsPort?: number;
}

export class LocalCluster {
  readonly nodes: ChildNode[] = [];
  private stopping = false;
  private autoscaler: { stop(): Promise<void> } | undefined;

  private constructor(
    readonly natsUrl: string,
    private readonly natsServer: NatsServerProcess | undefined,
    private readonly opts: LocalClusterOptions,
  ) {}

  get prefix(): string {
    return this.opts.prefix;
  }

  /** How a node of `kind` connects: as its role's user under roles, else with the cluster's credentials. */
  authFor(kind: NodeKind): NatsAuth {
    const { roles, natsAuth } = this.opts;
    return roles ? { user: kind, pass: roles.passwords[kind] } : (natsAuth ?? {});
  }

  /** How a client of this cluster started alongside it (`up --http`'s gateway) connects: as the client role under roles. */
  clientAuth(): NatsAuth {
    const { roles, natsAuth } = this.opts;
    return roles ? { user: 'client', pass: roles.passwords.client } : (natsAuth ?? {});
  }

  static async start(opts: LocalClusterOptions): Promise<LocalCluster> {
    const progress = opts.onProgress ?? (() => {});
    let server: NatsServerProcess | undefined;
    if (opts.roles && opts.nats) throw new InvalidArgument('roles need the private nats-server: give --secure or --nats, not both');
    if (!opts.nats) {
      progress(opts.roles ? `starting nats-server with a user per role (${opts.roles.config})` : 'starting nats-server');
      server = await NatsServerProcess.start(opts.roles ? { args: ['-c', opts.roles.config] } : {});
      progress(`nats-server ready on ${server.url} (pid ${server.pid})`);
    }
    const cluster = new LocalCluster(opts.nats ?? server!.url, server, opts);
    try {
      // Shards first so executors and routers find state as they come up.
      // Shards have fixed ids so a restarted cluster finds their data again.
      await Promise.all(Array.from({ length: opts.kvs }, (_, i) => cluster.spawnNode('kvs', `kvs-${i}`)));
      for (const [kind, count] of [['executor', opts.executors], ['router', opts.routers]] as const) {
        await Promise.all(Array.from({ length: count }, () => cluster.spawnNode(kind, newId(`${kind}-`))));
      }
      if (opts.autoscale) cluster.autoscaler = await startAutoscaler(cluster, opts.autoscale, opts.heartbeatMs ?? COMMON_DEFAULTS.heartbeatMs);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Executors running now (autoscaling changes this). */
  get executors(): ChildNode[] {
    return this.nodes.filter((n) => n.kind === 'executor' && !n.retired);
  }

  async addExecutor(): Promise<void> {
    await this.spawnNode('executor', newId('executor-'));
  }

  /** Drains and stops one executor (the one `choose` picks). */
  async removeExecutor(id: string): Promise<void> {
    const node = this.executors.find((n) => n.id === id);
    if (!node) return;
    node.retired = true;
    this.progress(`stopping executor ${id}`);
    await stopChild(node.process, NODE_STOP_GRACE_MS);
    this.nodes.splice(this.nodes.indexOf(node), 1);
  }

  private progress(line: string): void {
    this.opts.onProgress?.(line);
  }

  /** BASE + the lowest offset no node holds; 0 stays 0 (each node a free port). */
  private nextMetricsPort(base: number): number {
    if (base === 0) return 0;
    const taken = new Set(this.nodes.map((n) => n.metricsPort));
    let port = base;
    while (taken.has(port)) port++;
    return port;
  }

  private args(kind: NodeKind, id: string, metricsPort: number | undefined, restarted: number): string[] {
    const args = [CLI, kind, '--nats', this.natsUrl, '--prefix', this.opts.prefix, '--id', id, '--log-level', this.opts.logLevel];
    args.push('--restarts', String(restarted));
    if (this.opts.heartbeatMs !== undefined) args.push('--heartbeat-ms', String(this.opts.heartbeatMs));
    if (metricsPort !== undefined) args.push('--metrics-port', String(metricsPort));
    if (kind === 'executor') args.push('--threads', String(this.opts.threads));
    if (kind === 'kvs') {
      const { durability, dataDir, replication, gossipMs } = this.opts.shards;
      args.push('--durability', durability, '--replication', String(replication), '--gossip-ms', String(gossipMs));
      if (dataDir && durability !== 'none') args.push('--data-dir', join(dataDir, this.opts.prefix, id));
    }
    return args;
  }

  private async spawnNode(kind: NodeKind, id: string, node?: ChildNode): Promise<ChildNode> {
    this.progress(`starting ${kind} ${id}`);
    // In a process group of its own: a Ctrl-C at the terminal reaches only the
    // supervisor, which stops the nodes in order (routers first, NATS last).
    // A node still stops by itself if the supervisor dies (run_node.ts).
    const metricsPort = node ? node.metricsPort : this.opts.metricsPort === undefined ? undefined : this.nextMetricsPort(this.opts.metricsPort);
    const child = spawn(process.execPath, this.args(kind, id, metricsPort, node?.restarted ?? 0), {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
      env: envWithNatsAuth(this.authFor(kind)),
    });
    const entry: ChildNode = node ?? { kind, id, process: child, restarts: [], restarted: 0, ...(metricsPort === undefined ? {} : { metricsPort }) };
    entry.process = child;
    if (!node) this.nodes.push(entry);
    let listening: number | undefined;
    await childReady(child, {
      what: `${kind} ${id}`,
      timeoutMs: this.opts.readyTimeoutMs ?? 20_000,
      watch: (ready) => {
        const onMessage = (m: unknown): void => {
          const msg = m as ReadyMessage | undefined;
          if (!msg?.ready) return;
          listening = msg.metricsPort;
          ready();
        };
        child.on('message', onMessage);
        return () => child.off('message', onMessage);
      },
    });
    this.progress(`${kind} ${id} ready (pid ${child.pid})${listening === undefined ? '' : `, metrics on port ${listening}`}`);
    child.once('exit', (code, signal) => this.onChildExit(entry, child, code, signal));
    return entry;
  }

  private onChildExit(node: ChildNode, child: ChildProcess, code: number | null, signal: string | null): void {
    if (this.stopping || node.retired || node.process !== child) return;
    const now = Date.now();
    node.restarts = node.restarts.filter((at) => now - at < RESTART_WINDOW_MS);
    if (node.restarts.length >= MAX_RESTARTS) {
      this.progress(`${node.kind} ${node.id} exited (${signal ?? `code ${code}`}) ${MAX_RESTARTS} times in a minute; not restarting it`);
      return;
    }
    node.restarts.push(now);
    node.restarted++;
    this.progress(`${node.kind} ${node.id} exited (${signal ?? `code ${code}`}); restarting it`);
    this.spawnNode(node.kind, node.id, node).catch((err: Error) => this.progress(`restart of ${node.id} failed: ${err.message}`));
  }

  /** Stops routers, executors, then shards (so in-flight calls can finish), then NATS. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.autoscaler?.stop();
    for (const kind of ['router', 'executor', 'kvs'] as const) {
      await Promise.all(this.nodes.filter((n) => n.kind === kind).map((n) => stopChild(n.process, NODE_STOP_GRACE_MS)));
    }
    await this.natsServer?.stop();
  }
}
