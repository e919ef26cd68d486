// Options shared by several commands, defined once so `--help` says the same
// thing everywhere.

import type { Argv } from 'yargs';
import { CLUSTER_FILE, DEFAULT_SERVERS, clusterAddress, type ClusterAddress } from '../lib/client/cluster_file.js';
import { COMMON_DEFAULTS } from '../lib/config.js';
import { LOG_LEVELS } from '../lib/log.js';
import { withNatsAuth } from './nats_auth_options.js';

/** How a command that joins a cluster finds it without --nats, for `--help`. */
export const FINDING_THE_CLUSTER =
  `Without --nats, a command joins the cluster that a running \`cloudburst up\` recorded in ${CLUSTER_FILE} ` +
  `of this directory (or the nearest parent that has one), with its prefix unless --prefix is given; ` +
  `with no such record, ${DEFAULT_SERVERS} and prefix ${COMMON_DEFAULTS.prefix}.`;

const PREFIX = 'subject prefix of the cluster (separates clusters on one NATS)';
const NATS = 'NATS URL of the cluster';

function withLogLevel<T>(y: Argv<T>) {
  return y.option('log-level', { type: 'string', choices: LOG_LEVELS, default: COMMON_DEFAULTS.logLevel, describe: 'log level (logs are JSON lines on stderr)' });
}

/** `--nats`, `--prefix` and the NATS security options of `up` and the examples: no --nats means a private nats-server. */
export function withNats<T>(y: Argv<T>) {
  return withLogLevel(withNatsAuth(y))
    .option('prefix', { type: 'string', default: COMMON_DEFAULTS.prefix, describe: PREFIX })
    .option('nats', { type: 'string', describe: NATS });
}

/**
 * The same options for a command that joins a running cluster, found as
 * FINDING_THE_CLUSTER says when --nats is not given. Neither option has a
 * yargs default: an absent one must be told from a given one.
 */
export function withJoinedNats<T>(y: Argv<T>) {
  return withLogLevel(withNatsAuth(y))
    .option('prefix', { type: 'string', describe: PREFIX, defaultDescription: `the recorded cluster's without --nats, else ${COMMON_DEFAULTS.prefix}` })
    .option('nats', { type: 'string', describe: NATS, defaultDescription: `the one cloudburst up recorded in ${CLUSTER_FILE}, else ${DEFAULT_SERVERS}` })
    .epilogue(FINDING_THE_CLUSTER);
}

/**
 * The NATS URL and prefix of a command that joins a cluster (see
 * FINDING_THE_CLUSTER); a record it ignores is told on stderr.
 */
export function joinAddress(a: { nats?: string | undefined; prefix?: string | undefined }): ClusterAddress {
  const address = clusterAddress({ servers: a.nats, prefix: a.prefix });
  if (address.notice) process.stderr.write(`cloudburst: ${address.notice}\n`);
  return address;
}

/** Command-line text to a value: JSON where it parses, else the text itself. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
