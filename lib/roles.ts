// What each kind of NATS user of a cluster may publish and subscribe to: the
// one table that `cloudburst nats-config` turns into a nats-server
// authorization block and that docs/security.md shows (a test checks that the
// two agree). Each entry says why the role needs it, so a reader can check it
// against the code that sends or serves on the subject.
//
// Patterns are written against `P`, the cluster's subject prefix. Node ids are
// not known when the config is written (executors and routers pick random
// ones), so a node role may use every id of its kind, not only its own.

import { subjectsFor } from './subjects.js';

export const ROLES = ['client', 'admin', 'kvs', 'executor', 'router'] as const;
export type Role = (typeof ROLES)[number];

/** Where nats.js's requests wait for their answers (its default inbox prefix; nats_transport.ts keeps it). */
export const INBOXES = '_INBOX.>';

export interface Grant {
  /** A NATS subject pattern; `P` stands for the prefix. */
  subject: string;
  why: string;
}

export interface RolePermissions {
  role: Role;
  what: string;
  publish: readonly Grant[];
  subscribe: readonly Grant[];
}

const g = (subject: string, why: string): Grant => ({ subject, why });

// Shared grants, named once so the table reads as what differs between roles.
const SCHED = g('P.sched', 'calls, DAG calls and status requests to the routers');
const SCHED_XFER = g('P.sched.*.xfer', 'later pieces of a large call, and pieces of a large answer, at the router that took it');
const KVS = g('P.kvs.*', 'KVS requests to a shard: get, put, watch leases');
const KVS_XFER = g('P.kvs.*.xfer', 'pieces of large KVS requests and answers');
const EXEC_XFER = g('P.exec.*.xfer', 'pieces of a large answer an executor sends straight to the caller');
const INBOX_SUB = g(INBOXES, 'answers to its own requests');
const INBOX_PUB = g(INBOXES, 'answers to requests it serves');
const MEMBERS_SUB = g('P.members', 'heartbeats: where the shards are (the ring)');
const MEMBERS_PUB = g('P.members', 'its own heartbeats and its leave notice');
const PING_PUB = g('P.members.ping', 'asks every node for a heartbeat at start, to learn the ring at once');
const PING_SUB = g('P.members.ping', 'answers a ping with a heartbeat');
const REPLICATION_SUB = g('P.replication', "the hot-key policy's replication factors");
const UPDATES_SUB = g('P.upd.*', 'merges of watched keys');
const REGISTRY_SUB = g('P.registry', 'notices that code it holds was registered again');
/** What executors and routers both follow: membership, replication factors, merge pushes, registry notices, answers. */
const RUNS_FUNCTIONS_SUB = [MEMBERS_SUB, PING_SUB, REPLICATION_SUB, UPDATES_SUB, REGISTRY_SUB, INBOX_SUB];

const CLIENT: RolePermissions = {
  role: 'client',
  what: 'an application: calls functions and DAGs, reads and writes keys, watches keys',
  publish: [SCHED, SCHED_XFER, KVS, KVS_XFER, EXEC_XFER],
  subscribe: [INBOX_SUB, MEMBERS_SUB, REPLICATION_SUB, UPDATES_SUB],
};

export const ROLE_PERMISSIONS: Readonly<Record<Role, RolePermissions>> = {
  client: CLIENT,
  admin: {
    role: 'admin',
    what: 'an operator: what a client may, and registering functions and DAGs',
    publish: [...CLIENT.publish, g('P.registry', 'tells executors and routers that a name now means new code')],
    subscribe: CLIENT.subscribe,
  },
  kvs: {
    role: 'kvs',
    what: 'a KVS shard',
    publish: [
      MEMBERS_PUB,
      PING_PUB,
      g('P.kvs.*', 'gossip, hand-off, join and quorum requests to other shards'),
      KVS_XFER,
      g('P.upd.*', 'pushes merges of watched keys to their watchers'),
      INBOX_PUB,
    ],
    subscribe: [
      g('P.kvs.*', 'its own requests; any shard id, as ids are chosen when a node starts'),
      g('P.kvs.*.xfer', 'pieces of its large requests and answers'),
      MEMBERS_SUB,
      PING_SUB,
      REPLICATION_SUB,
      INBOX_SUB,
    ],
  },
  executor: {
    role: 'executor',
    what: 'an executor: runs functions and DAG stages',
    publish: [
      MEMBERS_PUB,
      PING_PUB,
      g('P.sched', 'calls that functions make: cb.call, cb.callAsync'),
      g('P.sched.*', 'tells the router that forwarded a call that it is done'),
      SCHED_XFER,
      KVS,
      KVS_XFER,
      g('P.exec.*', 'DAG results and pinned versions to the executors of other stages'),
      g('P.exec.*.xfer', 'pieces of large messages to and from other executors'),
      g('P.fn.*.*', 'messages between function instances'),
      g(INBOXES, 'answers to calls, also the sink of a DAG to its caller'),
    ],
    subscribe: [
      g('P.exec.*', 'calls, DAG stages and results; any executor id, as ids are chosen when a node starts'),
      g('P.exec.*.xfer', 'pieces of its large requests and answers'),
      g('P.fn.*.*', 'messages to the function instances it runs'),
      ...RUNS_FUNCTIONS_SUB,
    ],
  },
  router: {
    role: 'router',
    what: 'a router; also the autoscaler of `cloudburst up`, which only follows heartbeats',
    publish: [
      MEMBERS_PUB,
      PING_PUB,
      g('P.replication', "the hot-key policy's replication factors"),
      g('P.exec.*', 'forwards calls and DAG stages to executors'),
      g('P.exec.*.xfer', 'later pieces of a large call it forwards'),
      KVS,
      KVS_XFER,
      INBOX_PUB,
    ],
    subscribe: [
      g('P.sched', 'calls, in the queue group of all routers'),
      g('P.sched.*', 'its own subject: done notices, retried calls; any router id'),
      g('P.sched.*.xfer', 'pieces of its large requests and answers'),
      ...RUNS_FUNCTIONS_SUB,
    ],
  },
};

export interface ResolvedPermissions {
  publish: string[];
  subscribe: string[];
}

/** `role`'s allow lists with `P` replaced by the prefix (checked as subjects.ts checks it). */
export function permissionsFor(role: Role, prefix: string): ResolvedPermissions {
  const p = subjectsFor(prefix).prefix;
  const resolve = (grants: readonly Grant[]): string[] => [...new Set(grants.map(({ subject }) => subject.replace(/^P(?=\.|$)/, p)))];
  const perms = ROLE_PERMISSIONS[role];
  return { publish: resolve(perms.publish), subscribe: resolve(perms.subscribe) };
}

export function isRole(name: string): name is Role {
  return (ROLES as readonly string[]).includes(name);
}

/** The table for docs/security.md: one row per role and direction, subjects with why. */
export function rolesMarkdown(): string {
  const lines = ['| Role | May publish on | May subscribe to |', '| --- | --- | --- |'];
  const cell = (grants: readonly Grant[]): string => grants.map(({ subject, why }) => `\`${subject}\`: ${why}`).join('<br>');
  for (const role of ROLES) {
    const perms = ROLE_PERMISSIONS[role];
    const publish = role === 'admin' ? `what \`client\` may, and<br>${cell(perms.publish.slice(CLIENT.publish.length))}` : cell(perms.publish);
    const subscribe = role === 'admin' ? 'what `client` may' : cell(perms.subscribe);
    lines.push(`| \`${role}\`: ${perms.what} | ${publish} | ${subscribe} |`);
  }
  return `${lines.join('\n')}\n`;
}
