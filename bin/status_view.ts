// What `cloudburst status` shows: each node as a router knows it from the
// node's last heartbeat, reduced to the same few fields for every kind, and
// those fields as a text table. Pure (no terminal, no clock of its own), so
// the table is tested on fixed input.

import type { Member } from '../lib/membership.js';
import type { ClusterStatus } from '../router/router_node.js';

/** One node. Fields that do not apply to its kind are absent. */
export interface NodeStatus {
  kind: string;
  id: string;
  /** A shard's ring state (joining, active, leaving); `draining` for an executor that is stopping; else `up`. */
  state: string;
  /** Since the node started, now (its last heartbeat's figure plus the time since). */
  uptimeMs: number;
  /** Since the router last heard from the node. */
  lastHeardMs: number;
  /** Times `cloudburst up` restarted the node after it exited (a crash); absent for a node no supervisor runs. */
  restarts?: number;
  /** Executor: worker threads, calls running on them, calls waiting for one. */
  threads?: number;
  running?: number;
  queued?: number;
  /** Executor: bytes in the shared-memory cache. */
  cacheBytes?: number;
  /** Executor: reads the cache answered (worker threads included), and fetches it could not. */
  cacheHits?: number;
  cacheMisses?: number;
  /** Executor: hits / (hits + misses) since start; null before the first read. */
  hitRate?: number | null;
  /** Shard: keys stored. Executor: keys cached. */
  keys?: number;
  /** Shard: its configured replication factor (fewer replicas while there are fewer shards). */
  replication?: number;
  /** Shard: key operations per second over its last heartbeat period. */
  opsPerSec?: number;
  /** Router: calls and DAG calls taken per second over its last heartbeat period, and those out at executors now. */
  callsPerSec?: number;
  inFlight?: number;
}

export interface StatusView {
  /** The router that answered. */
  router: string;
  /** The router's clock when it answered. */
  at: number;
  /** Shards, then executors, then routers, each by id. */
  nodes: NodeStatus[];
}

/** The fields that hold a number, if any. */
type NumberField = { [K in keyof NodeStatus]-?: NodeStatus[K] extends number | undefined ? K : never }[keyof NodeStatus];

const KIND_ORDER = ['kvs', 'executor', 'router'];

export function statusView(status: ClusterStatus): StatusView {
  const nodes = status.members.map((m) => nodeStatus(m, status.at));
  const rank = (kind: string): number => (KIND_ORDER.includes(kind) ? KIND_ORDER.indexOf(kind) : KIND_ORDER.length);
  nodes.sort((a, b) => rank(a.kind) - rank(b.kind) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { router: status.router, at: status.at, nodes };
}

/** One member, as of `now` on the router's clock. */
export function nodeStatus(m: Member, now: number): NodeStatus {
  const n = (field: string): number | undefined => (typeof m[field] === 'number' ? m[field] : undefined);
  const lastHeardMs = Math.max(0, now - m.seenAt);
  const out: NodeStatus = {
    kind: m.kind,
    id: m.id,
    state: typeof m['state'] === 'string' ? m['state'] : m['draining'] === true ? 'draining' : 'up',
    uptimeMs: (m.uptimeMs ?? m.at - m.startedAt) + lastHeardMs,
    lastHeardMs,
  };
  const set = (field: NumberField, value: number | undefined): void => {
    if (value !== undefined) out[field] = value;
  };
  set('restarts', n('restarts'));
  if (m.kind === 'executor') {
    for (const f of ['threads', 'running', 'queued', 'cacheBytes', 'cacheHits', 'cacheMisses'] as const) set(f, n(f));
    set('keys', n('cacheEntries'));
    const hits = out.cacheHits ?? 0;
    const reads = hits + (out.cacheMisses ?? 0);
    out.hitRate = reads === 0 ? null : hits / reads;
  } else if (m.kind === 'kvs') {
    for (const f of ['keys', 'replication', 'opsPerSec'] as const) set(f, n(f));
  } else if (m.kind === 'router') {
    for (const f of ['callsPerSec', 'inFlight'] as const) set(f, n(f));
  }
  return out;
}

const COLUMNS: { title: string; right: boolean; cell: (s: NodeStatus) => string }[] = [
  { title: 'KIND', right: false, cell: (s) => s.kind },
  { title: 'ID', right: false, cell: (s) => s.id },
  { title: 'STATE', right: false, cell: (s) => s.state },
  { title: 'UPTIME', right: true, cell: (s) => duration(s.uptimeMs) },
  { title: 'RESTARTS', right: true, cell: (s) => orDash(s.restarts) },
  { title: 'LOAD', right: false, cell: load },
  { title: 'THREADS', right: true, cell: (s) => orDash(s.threads) },
  { title: 'CACHE', right: true, cell: (s) => (s.cacheBytes === undefined ? '-' : bytes(s.cacheBytes)) },
  { title: 'HIT RATE', right: true, cell: (s) => (s.hitRate === undefined || s.hitRate === null ? '-' : `${(s.hitRate * 100).toFixed(1)}%`) },
  { title: 'KEYS', right: true, cell: (s) => orDash(s.keys) },
  { title: 'REPL', right: true, cell: (s) => orDash(s.replication) },
];

/** The nodes as an aligned table, one line each under a header line; every line ends in a newline. */
export function statusTable(view: StatusView): string {
  if (view.nodes.length === 0) return `router ${view.router} knows of no node\n`;
  const rows = [COLUMNS.map((c) => c.title), ...view.nodes.map((s) => COLUMNS.map((c) => c.cell(s)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string =>
    r
      .map((text, i) => (COLUMNS[i]!.right ? text.padStart(widths[i]!) : text.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return rows.map((r) => `${line(r)}\n`).join('');
}

function load(s: NodeStatus): string {
  if (s.running !== undefined) return `${s.running} running, ${s.queued ?? 0} queued`;
  if (s.opsPerSec !== undefined) return `${rate(s.opsPerSec)} ops/s`;
  if (s.callsPerSec !== undefined) return `${rate(s.callsPerSec)} calls/s, ${s.inFlight ?? 0} out`;
  return '-';
}

function orDash(n: number | undefined): string {
  return n === undefined ? '-' : String(n);
}

/** Whole numbers from 10 up, one decimal below. */
function rate(perSec: number): string {
  return perSec >= 10 ? String(Math.round(perSec)) : perSec.toFixed(1);
}

/** Largest two units: 42s, 3m 07s, 5h 02m, 2d 04h. */
export function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const pad = (x: number): string => String(x).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d ${pad(Math.floor(s / 3600) % 24)}h`;
}

/** Binary units, one decimal: 512 B, 1.5 KiB, 64.0 MiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}
