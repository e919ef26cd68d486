// Every NATS subject the platform uses, built from one prefix so several
// clusters can share a NATS server without seeing each other's traffic.

import { InvalidArgument } from './errors.js';

const TOKEN = /^[A-Za-z0-9_-]+$/;

export function checkToken(what: string, value: string): string {
  if (!TOKEN.test(value)) {
    throw new InvalidArgument(`${what} "${value}" may hold only letters, digits, _ and -`);
  }
  return value;
}

export interface Subjects {
  readonly prefix: string;
  /** Calls, taken by one router of the queue group. */
  readonly sched: string;
  /** Heartbeats and leave notices of every node. */
  readonly members: string;
  /** Asks every node for a heartbeat now (a router that just started). */
  readonly membersPing: string;
  /** The hot-key policy's per-key replication factors, published by a router. */
  readonly replication: string;
  /** Notices that a function or DAG was registered again, so holders drop their copy. */
  readonly registry: string;
  kvsShard(id: string): string;
  /** Every running instance of one executor (a wildcard subscription). */
  instances(executorId: string): string;
  /** One running instance, by its id `<executor>.<n>`. */
  instance(id: string): string;
  /** Merges of watched keys in one bucket (see lib/kvs/updates.ts). */
  updates(bucket: number): string;
  exec(id: string): string;
}

export function subjectsFor(prefix = 'cb'): Subjects {
  const p = prefix.split('.').map((t) => checkToken('subject prefix token', t)).join('.');
  return {
    prefix: p,
    sched: `${p}.sched`,
    members: `${p}.members`,
    membersPing: `${p}.members.ping`,
    registry: `${p}.registry`,
    replication: `${p}.replication`,
    kvsShard: (id) => `${p}.kvs.${checkToken('shard id', id)}`,
    instances: (executorId) => `${p}.fn.${checkToken('executor id', executorId)}.*`,
    instance: (id) => {
      const [executor, n, ...rest] = id.split('.');
      if (executor === undefined || n === undefined || rest.length > 0) throw new InvalidArgument(`"${id}" is not a function instance id`);
      return `${p}.fn.${checkToken('executor id', executor)}.${checkToken('instance number', n)}`;
    },
    updates: (bucket) => `${p}.upd.${bucket}`,
    exec: (id) => `${p}.exec.${checkToken('executor id', id)}`,
  };
}
