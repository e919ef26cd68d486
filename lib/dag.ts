// A DAG of registered functions (Cloudburst's composition): each function's
// result is passed, executor to executor, as an extra argument to the
// functions it connects to; the one sink answers the caller. Checked once at
// registration, so a call never meets a cycle or a dangling edge.

import { obj } from './codec/index.js';
import { DagNotFound, FunctionNotFound, InvalidArgument, MalformedMessage } from './errors.js';
import { DAG_UPDATED, checkFunctionName } from './function_record.js';
import type { RegistryKind } from './registry_kind.js';
import { dagKey } from './reserved_keys.js';

export interface DagRecord {
  name: string;
  functions: string[];
  /** `[from, to]`: `from`'s result becomes an argument of `to`. */
  connections: [string, string][];
}

/** Validates shape and topology; `isRegistered` says which functions exist. */
export function validateDag(name: string, functions: string[], connections: [string, string][], isRegistered: (fn: string) => boolean): DagRecord {
  checkFunctionName(name);
  if (!Array.isArray(functions) || functions.length === 0) throw new InvalidArgument(`DAG ${name} needs at least one function`);
  const fns = new Set<string>();
  for (const fn of functions) {
    checkFunctionName(fn);
    if (fns.has(fn)) throw new InvalidArgument(`DAG ${name} lists ${fn} twice`);
    fns.add(fn);
  }
  const missing = functions.filter((fn) => !isRegistered(fn));
  if (missing.length > 0) throw new FunctionNotFound(`DAG ${name} uses functions that are not registered: ${missing.join(', ')}`, { data: { missing } });
  const seen = new Set<string>();
  for (const edge of connections) {
    if (!Array.isArray(edge) || edge.length !== 2) throw new InvalidArgument(`DAG ${name}: a connection must be [from, to]`);
    const [from, to] = edge;
    if (!fns.has(from) || !fns.has(to)) throw new InvalidArgument(`DAG ${name}: connection ${from} -> ${to} names a function not in the DAG`);
    if (from === to) throw new InvalidArgument(`DAG ${name}: ${from} connects to itself`);
    if (seen.has(`${from}\n${to}`)) throw new InvalidArgument(`DAG ${name}: connection ${from} -> ${to} appears twice`);
    seen.add(`${from}\n${to}`);
  }
  const dag: DagRecord = { name, functions: [...functions], connections: connections.map(([a, b]) => [a, b]) };
  const sinks = functions.filter((fn) => downstream(dag, fn).length === 0);
  if (sinks.length !== 1) throw new InvalidArgument(`DAG ${name} must have exactly one sink (a function nothing follows); it has ${sinks.length}: ${sinks.join(', ')}`);
  if (topologicalOrder(dag).length !== functions.length) throw new InvalidArgument(`DAG ${name} has a cycle`);
  if (!connected(dag)) throw new InvalidArgument(`DAG ${name} is not connected`);
  return dag;
}

export function upstream(dag: DagRecord, fn: string): string[] {
  return dag.connections.filter(([, to]) => to === fn).map(([from]) => from);
}

export function downstream(dag: DagRecord, fn: string): string[] {
  return dag.connections.filter(([from]) => from === fn).map(([, to]) => to);
}

/** Kahn's algorithm; shorter than the function list when there is a cycle. */
export function topologicalOrder(dag: DagRecord): string[] {
  const indegree = new Map(dag.functions.map((fn) => [fn, upstream(dag, fn).length]));
  const ready = dag.functions.filter((fn) => indegree.get(fn) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    const fn = ready.shift()!;
    order.push(fn);
    for (const next of downstream(dag, fn)) {
      const left = indegree.get(next)! - 1;
      indegree.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  return order;
}

function connected(dag: DagRecord): boolean {
  const reached = new Set([dag.functions[0]!]);
  const todo = [dag.functions[0]!];
  while (todo.length > 0) {
    const fn = todo.pop()!;
    for (const next of [...upstream(dag, fn), ...downstream(dag, fn)]) {
      if (!reached.has(next)) {
        reached.add(next);
        todo.push(next);
      }
    }
  }
  return reached.size === dag.functions.length;
}

/** DAG records as the registry cache loads them. */
export const DAGS: RegistryKind<DagRecord> = {
  notice: DAG_UPDATED,
  key: dagKey,
  parse(name, stored) {
    if (stored === undefined) throw new DagNotFound(`no DAG named "${name}" is registered`, { data: { name } });
    const dag = obj(stored, `the stored record of DAG "${name}"`);
    const { functions, connections } = dag;
    if (!Array.isArray(functions) || !Array.isArray(connections)) throw new MalformedMessage(`the stored record of DAG "${name}" is damaged`);
    return { name, functions: functions as string[], connections: connections as [string, string][] };
  },
};
