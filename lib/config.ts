// One typed configuration object per node kind, with every default in this
// file. The CLI, the local cluster, tests and benches all build nodes from
// these, so a default changes in one place.

import type { LogLevel } from './log.js';

export interface CommonConfig {
  /** NATS URL(s) of the deployment. */
  nats: string | string[];
  /** Subject prefix that separates clusters sharing one NATS. Default `cb`. */
  prefix: string;
  /** The node's id, unique in the cluster; random when omitted. */
  id?: string;
  /** How often the node announces itself on `<prefix>.members`. Default 1000 ms. */
  heartbeatMs: number;
  /** Log level. Default `warn` (quiet). */
  logLevel: LogLevel;
}

export type KvsConfig = CommonConfig;

export interface ExecutorConfig extends CommonConfig {
  /** Worker threads running functions. Default 2. */
  threads: number;
}

export interface RouterConfig extends CommonConfig {
  /** A node silent for this long is taken as gone. Default 3 heartbeats. */
  memberTimeoutMs: number;
}

export const COMMON_DEFAULTS: Omit<CommonConfig, 'nats'> = {
  prefix: 'cb',
  heartbeatMs: 1000,
  logLevel: 'warn',
};

export function kvsConfig(opts: Partial<KvsConfig> & Pick<CommonConfig, 'nats'>): KvsConfig {
  return { ...COMMON_DEFAULTS, ...opts };
}

export const EXECUTOR_DEFAULTS = { threads: 2 };

export function executorConfig(opts: Partial<ExecutorConfig> & Pick<CommonConfig, 'nats'>): ExecutorConfig {
  return { ...COMMON_DEFAULTS, ...EXECUTOR_DEFAULTS, ...opts };
}

export function routerConfig(opts: Partial<RouterConfig> & Pick<CommonConfig, 'nats'>): RouterConfig {
  const heartbeatMs = opts.heartbeatMs ?? COMMON_DEFAULTS.heartbeatMs;
  return { ...COMMON_DEFAULTS, memberTimeoutMs: 3 * heartbeatMs, ...opts };
}
