// How a client finds the cluster `cloudburst up` started without being told
// its URL. `up` picks a free port for its private nats-server, so a default
// URL would reach some other NATS (or none): instead `up` records its URL and
// prefix in `.cloudburst/cluster.json` of its working directory, and clients
// read it from theirs (or the nearest parent that has one). A record whose
// `up` is gone (killed, so it could not remove it) is ignored, and the
// caller is told why. `up --secure` also records where the admin role's
// password is, so commands run there connect as admin without flags.

import { readFileSync, renameSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { hasCredentials, readSecretFile, type NatsAuth } from '../actor/nats_auth.js';

/** Where `up` records its cluster, relative to its working directory. */
export const CLUSTER_FILE = join('.cloudburst', 'cluster.json');

/** Where a client goes when nothing names a cluster. */
export const DEFAULT_SERVERS = 'nats://127.0.0.1:4222';
export const DEFAULT_PREFIX = 'cb';

export interface ClusterRecord {
  /** NATS URL of the cluster. */
  nats: string;
  prefix: string;
  /** The `cloudburst up` process: the record holds only while it runs. */
  pid: number;
  startedAt: string;
  /**
   * `up --secure`: the NATS user (admin) and the file with its password that
   * clients found through this record connect as, unless given credentials.
   */
  credentials?: RecordedCredentials;
}

export interface RecordedCredentials {
  user: string;
  passFile: string;
}

export type FoundCluster =
  | { state: 'none' }
  | { state: 'running'; path: string; record: ClusterRecord }
  /** A record to ignore: its `up` is gone, or the file is not a record. */
  | { state: 'ignored'; path: string; why: string };

/** Writes the record atomically (a reader sees the old file or the new one, never half of one). */
export function writeClusterRecord(dir: string, record: ClusterRecord): string {
  const path = resolve(dir, CLUSTER_FILE);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${record.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(tmp, path);
  return path;
}

/** Removes the record if it is still this process's (a later `up` here may have replaced it). */
export function removeClusterRecord(dir: string, pid: number): void {
  const path = resolve(dir, CLUSTER_FILE);
  const found = readRecord(path);
  if (found && 'record' in found && found.record.pid === pid) rmSync(path, { force: true });
}

/** The nearest `.cloudburst/cluster.json` from `cwd` up to the root, and whether its `up` still runs. */
export function findCluster(cwd: string = process.cwd()): FoundCluster {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const path = join(dir, CLUSTER_FILE);
    const found = readRecord(path);
    if (found) {
      if ('why' in found) return { state: 'ignored', path, why: found.why };
      const gone = upGone(found.record.pid);
      if (gone) return { state: 'ignored', path, why: `the cloudburst up that wrote it (pid ${found.record.pid}) ${gone}` };
      return { state: 'running', path, record: found.record };
    }
    if (dirname(dir) === dir) return { state: 'none' };
  }
}

export interface ClusterAddress {
  servers: string | string[];
  prefix: string;
  /** Where `servers` came from, for messages: `given` (`--nats`, `servers`), `default`, or the path of the record. */
  from: string;
  /** Something the user should be told (an ignored record), or undefined. */
  notice?: string;
  /** The record's credentials (`up --secure`), when the address came from a record that has them. */
  credentials?: RecordedCredentials;
}

/**
 * The cluster to connect to. Order: servers given explicitly (`--nats`,
 * `servers`) with their prefix (default `cb`); else the record of a running
 * `up` found from `cwd`, with its prefix unless one is given; else
 * nats://127.0.0.1:4222 and `cb`.
 */
export function clusterAddress(given: { servers?: string | string[] | undefined; prefix?: string | undefined }, cwd?: string): ClusterAddress {
  if (given.servers !== undefined) return { servers: given.servers, prefix: given.prefix ?? DEFAULT_PREFIX, from: 'given' };
  const found = findCluster(cwd);
  if (found.state === 'running') {
    const { nats, prefix, credentials } = found.record;
    return { servers: nats, prefix: given.prefix ?? prefix, from: found.path, ...(credentials ? { credentials } : {}) };
  }
  const fallback = { servers: DEFAULT_SERVERS, prefix: given.prefix ?? DEFAULT_PREFIX, from: 'default' };
  if (found.state === 'none') return fallback;
  return { ...fallback, notice: `ignoring ${found.path}: ${found.why}; using ${DEFAULT_SERVERS}` };
}

/**
 * `auth`, or, when it names no credentials and the cluster was found through
 * the record of an `up --secure`, the user and password file that record
 * names (its admin role).
 */
export function withRecordedCredentials(auth: NatsAuth | undefined, address: ClusterAddress): NatsAuth | undefined {
  if (hasCredentials(auth) || !address.credentials) return auth;
  const { user, passFile } = address.credentials;
  return { ...auth, user, pass: readSecretFile(passFile, `NATS password (named in ${address.from})`) };
}

function readRecord(path: string): { record: ClusterRecord } | { why: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    return { why: `it cannot be read (${(err as Error).message})` };
  }
  try {
    const r = JSON.parse(text) as Partial<ClusterRecord>;
    const credentials = r.credentials === undefined || (typeof r.credentials?.user === 'string' && typeof r.credentials.passFile === 'string');
    if (typeof r.nats === 'string' && typeof r.prefix === 'string' && Number.isSafeInteger(r.pid) && typeof r.startedAt === 'string' && credentials) {
      return { record: r as ClusterRecord };
    }
  } catch {
    // Not JSON: said below.
  }
  return { why: 'it is not a cluster record written by cloudburst up' };
}

/** Why the `up` of this pid no longer runs, or undefined while it does. */
function upGone(pid: number): string | undefined {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists, run by another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return 'is no longer running';
  }
  // After a kill -9 the pid may since have gone to another program: where
  // /proc tells, the process must still be a cloudburst command.
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
  return cmdline.includes('cloudburst') ? undefined : 'is no longer running (its pid is now another program\'s)';
}
