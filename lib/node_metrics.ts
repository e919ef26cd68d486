// Every metric a node exports, by kind, in one place (docs/operations.md lists
// them). Each function registers its metrics with a node's Metrics and
// returns the hooks the node calls where the events happen; what the node
// already keeps (cache counts, queue lengths) is read at scrape time instead.

import type { Metrics } from './metrics.js';

/** Ends a timed event: its outcome is `ok` or a CloudburstError code. */
export type Outcome = (outcome: string) => void;

/** Time since `t0` (performance.now()), in seconds. */
function secondsSince(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** Every node: the requests it serves, by message type. */
export function requestMetrics(m: Metrics): { start(type: string): Outcome } {
  const count = m.counter('cloudburst_requests_total', 'Requests served, by message type and outcome (ok or the error code)', ['type', 'outcome']);
  const seconds = m.latency('cloudburst_request_duration_seconds', 'Time from a request\'s arrival to its answer (or hand-off), by message type', ['type']);
  return {
    start(type) {
      const t0 = performance.now();
      return (outcome) => {
        count.inc({ type, outcome });
        seconds.observe({ type }, secondsSince(t0));
      };
    },
  };
}

export interface ExecutorReadings {
  cache: () => { hits: number; misses: number; entries: number; bytes: number; evictions: number };
  running: () => number;
  queued: () => number;
  threads: () => number;
}

/** An executor: function calls, its shared-memory cache, its thread pool. */
export function executorMetrics(m: Metrics, read: ExecutorReadings): { call(fn: string): Outcome } {
  const calls = m.counter('cloudburst_calls_total', 'Function executions in a worker thread, by function and outcome (ok or the error code)', ['function', 'outcome']);
  const seconds = m.latency('cloudburst_call_duration_seconds', 'Time from handing a call to the thread pool (waiting for a free thread included) to its outcome, by function', ['function']);
  m.total('cloudburst_cache_hits_total', 'Reads answered from the shared-memory cache, by worker threads or the main thread', () => read.cache().hits);
  m.total('cloudburst_cache_misses_total', 'Reads the cache could not answer, each a fetch from the KVS', () => read.cache().misses);
  m.total('cloudburst_cache_evictions_total', 'Cached entries evicted to make room', () => read.cache().evictions);
  m.gauge('cloudburst_cache_bytes', 'Bytes of keys and values in the cache', () => read.cache().bytes);
  m.gauge('cloudburst_cache_entries', 'Keys in the cache', () => read.cache().entries);
  m.gauge('cloudburst_executor_running', 'Calls running in worker threads now', read.running);
  m.gauge('cloudburst_executor_queue_depth', 'Calls waiting for a free worker thread', read.queued);
  m.gauge('cloudburst_executor_threads', 'Worker threads in the pool', read.threads);
  return {
    call(fn) {
      const t0 = performance.now();
      return (outcome) => {
        calls.inc({ function: fn, outcome });
        seconds.observe({ function: fn }, secondsSince(t0));
      };
    },
  };
}

export interface KvsReadings {
  keys: () => number;
  gossipQueued: () => number;
}

/** A KVS shard: operations by kind, its keys, gossip. */
export function kvsMetrics(m: Metrics, read: KvsReadings): { op(kind: string): void; gossipRound(): void } {
  const ops = m.counter('cloudburst_kvs_ops_total', 'Key operations asked of this shard, by kind (get, put, del, watch)', ['op']);
  const rounds = m.counter('cloudburst_kvs_gossip_rounds_total', 'Gossip rounds that sent entries to other replicas');
  m.gauge('cloudburst_kvs_keys', 'Keys stored on this shard', read.keys);
  m.gauge('cloudburst_kvs_gossip_queue_keys', 'Keys waiting for the next gossip round (summed over peers)', read.gossipQueued);
  return { op: (kind) => ops.inc({ op: kind }), gossipRound: () => rounds.inc() };
}

export interface RouterReadings {
  inFlight: () => number;
  members: (kind: 'kvs' | 'executor' | 'router') => number;
}

/** A router: work out at executors, retries, what it knows of the cluster. */
export function routerMetrics(m: Metrics, read: RouterReadings): { retried(type: 'call' | 'dag'): void } {
  const retries = m.counter('cloudburst_router_retries_total', 'Calls and DAG calls sent again because their executor left', ['type']);
  m.gauge('cloudburst_router_in_flight', 'Calls and DAG calls sent to executors and not yet reported done', read.inFlight);
  for (const kind of ['kvs', 'executor', 'router'] as const) {
    m.gauge(`cloudburst_router_known_${kind}_nodes`, `Live ${kind} nodes this router knows of`, () => read.members(kind));
  }
  return { retried: (type) => retries.inc({ type }) };
}
