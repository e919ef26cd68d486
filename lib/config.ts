// One typed configuration object per node kind, with every default in this
// file. The CLI, the local cluster, tests and benches all build nodes from
// these, so a default changes in one place.

import type { NatsAuth } from './actor/nats_auth.js';
import { defaultLogLevel, type LogLevel } from './log.js';

export interface CommonConfig {
  /** NATS URL(s) of the deployment. */
  nats: string | string[];
  /** Credentials and TLS settings for NATS (docs/security.md). Default: none. */
  natsAuth?: NatsAuth;
  /** Subject prefix that separates clusters sharing one NATS. Default `cb`. */
  prefix: string;
  /** The node's id, unique in the cluster; random when omitted. */
  id?: string;
  /** How often the node announces itself on `<prefix>.members`. Default 1000 ms. */
  heartbeatMs: number;
  /** Log level. Default `warn` (quiet). */
  logLevel: LogLevel;
  /**
   * Largest request or reply the node takes or sends, in bytes. Messages above
   * the server's max_payload travel in chunks (lib/actor/chunking.ts); above
   * this they are PayloadTooLarge. Default 64 MiB.
   */
  maxMessageBytes: number;
  /** Serve Prometheus metrics on this TCP port (0: any free one). Default: none, and no HTTP server. */
  metricsPort?: number;
  /**
   * How many times a supervisor (`cloudburst up`) has restarted this node
   * after it exited, told to the new process so that heartbeats (and
   * `cloudburst status`) show it. Default: none, for a node no supervisor runs.
   */
  restarts?: number;
}

/** Default of `maxMessageBytes`, also what clients use when they name no limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export type Durability = 'none' | 'group' | 'sync';

export interface KvsConfig extends CommonConfig {
  /** Where the shard keeps its data; required unless durability is `none`. */
  dataDir?: string;
  /**
   * `group` (default): a put is acknowledged once the batch it joined is
   * fsynced; `sync`: once its own transaction is; `none`: memory only.
   */
  durability: Durability;
  /** Replicas per key once there are that many shards. Default 2 (1 with one shard). */
  replication: number;
  /** Period of gossip rounds to other replicas. Default 20 ms. */
  gossipMs: number;
  /** A shard silent for this long is taken as dead. Default 3 heartbeats. */
  memberTimeoutMs: number;
  /** How long a leaving shard keeps retrying its hand-off before it stops with an error. Default 30 s. */
  handoffTimeoutMs?: number;
  /** How long a delete's tombstone is kept (a replica away longer can bring the value back). Default 1 hour. */
  tombstoneRetentionMs?: number;
}

export interface ExecutorConfig extends CommonConfig {
  /** Worker threads running functions (the most the pool grows to). Default 2. */
  threads: number;
  /** Threads kept when idle; the pool grows to `threads` while calls queue. Default: `threads`. */
  minThreads?: number;
  /** Bytes of the shared-memory cache of state. Default 64 MiB. */
  cacheBytes: number;
  /** The only environment variables functions see. Default: all but CLOUDBURST_NATS_* (actors/executor/worker_env.ts). */
  workerEnv?: string[];
}

export interface RouterConfig extends CommonConfig {
  /** A node silent for this long is taken as gone. Default 3 heartbeats. */
  memberTimeoutMs: number;
  /** A key above this many operations a second (all shards) gets a replica on every shard. Default 2000. */
  hotKeyOpsPerSec: number;
  /** A hot key below this rate for `hotKeyCooldownMs` goes back to the default replication. Default 500. */
  coolKeyOpsPerSec: number;
  /** Default 10 s. */
  hotKeyCooldownMs: number;
  /** `locality` (default): prefer executors caching the referenced keys; `random`: for comparison. */
  placement: 'locality' | 'random';
}

export const ROUTER_DEFAULTS = { hotKeyOpsPerSec: 2000, coolKeyOpsPerSec: 500, hotKeyCooldownMs: 10_000, placement: 'locality' as const };

export const COMMON_DEFAULTS: Omit<CommonConfig, 'nats'> = {
  prefix: 'cb',
  heartbeatMs: 1000,
  // CB_LOG_LEVEL, read when the process starts; an explicit level wins.
  logLevel: defaultLogLevel(),
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
};

export const DEFAULT_TOMBSTONE_RETENTION_MS = 60 * 60 * 1000;
export const DEFAULT_HANDOFF_TIMEOUT_MS = 30_000;

export const KVS_DEFAULTS = { durability: 'group' as Durability, replication: 2, gossipMs: 20 };

export function kvsConfig(opts: Partial<KvsConfig> & Pick<CommonConfig, 'nats'>): KvsConfig {
  const heartbeatMs = opts.heartbeatMs ?? COMMON_DEFAULTS.heartbeatMs;
  return { ...COMMON_DEFAULTS, ...KVS_DEFAULTS, memberTimeoutMs: 3 * heartbeatMs, ...opts };
}

export const EXECUTOR_DEFAULTS = { threads: 2, cacheBytes: 64 * 1024 * 1024 };

export function executorConfig(opts: Partial<ExecutorConfig> & Pick<CommonConfig, 'nats'>): ExecutorConfig {
  return { ...COMMON_DEFAULTS, ...EXECUTOR_DEFAULTS, ...opts };
}

export function routerConfig(opts: Partial<RouterConfig> & Pick<CommonConfig, 'nats'>): RouterConfig {
  const heartbeatMs = opts.heartbeatMs ?? COMMON_DEFAULTS.heartbeatMs;
  return { ...COMMON_DEFAULTS, ...ROUTER_DEFAULTS, memberTimeoutMs: 3 * heartbeatMs, ...opts };
}
