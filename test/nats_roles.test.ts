// Roles on NATS (lib/roles.ts, `cloudburst nats-config`): a cluster whose
// nodes run under their roles serves a client under `client`, while the
// forgeries docs/security.md lists (a heartbeat raising replication, a leave
// for a live shard, replication factors, registry notices, messages to nodes)
// are refused by NATS and change nothing; an `admin` registers. The same
// forgeries from a user without a role do change the cluster's state, so the
// test can fail.

import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ExecutorNode } from '../actors/executor/executor_node.js';
import { writeRolesConfig } from '../bin/nats_roles_config.js';
import { envWithNatsAuth } from '../lib/actor/nats_auth.js';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import type { Refusal } from '../lib/actor/transport.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { CALLS_DONE } from '../lib/call_protocol.js';
import { encodeMessage } from '../lib/codec/index.js';
import { executorConfig, routerConfig } from '../lib/config.js';
import { Unauthorized } from '../lib/errors.js';
import type { Cb } from '../lib/function_api.js';
import { FN_MESSAGE, FUNCTIONS } from '../lib/function_record.js';
import { KVS_REPLICATION } from '../lib/kvs/replication_overrides.js';
import { KVS_UPDATES } from '../lib/kvs/updates.js';
import type { KvsNode } from '../kvs-node/kvs_node.js';
import { ROLES, rolesMarkdown, type Role } from '../lib/roles.js';
import { subjectsFor } from '../lib/subjects.js';
import { RouterNode } from '../router/router_node.js';
import { CliProcess, cliIn } from './fixtures/cli.js';
import { startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { failure } from './fixtures/failure.js';
import { startNats } from './fixtures/nats.js';

const HEARTBEAT_MS = 500;
/** This process's environment without any NATS credentials in it. */
const bareEnv = envWithNatsAuth({});
const subjects = subjectsFor('cb');

/** A node's own connection, reached past `protected` to watch what NATS refuses it. */
const transportOf = (node: ExecutorNode | RouterNode | KvsNode): NatsTransport => (node as unknown as { transport: NatsTransport }).transport;
/** The per-key replication factors a shard holds (the hot-key policy's). */
const overridesOf = (shard: KvsNode): Map<string, number> => (shard as unknown as { ring: { overrides: Map<string, number> } }).ring.overrides;

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cb-roles-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Cluster {
  url: string;
  shard: KvsNode;
  executor: ExecutorNode;
  router: RouterNode;
  /** What NATS refused the nodes: nothing, when the roles give nodes what they need. */
  nodeRefusals: string[];
}

/** A shard, an executor and a router, each connecting as `auth(kind)` says. */
async function startNodes(t: Test, url: string, auth: (role: Role) => { user: string; pass: string } | undefined): Promise<Cluster> {
  const nodeRefusals: string[] = [];
  const watch = (kind: string, node: ExecutorNode | RouterNode | KvsNode): void =>
    void transportOf(node).onRefused((r) => nodeRefusals.push(`${kind} ${r.operation} ${r.subject}`));
  const natsAuth = (role: Role) => {
    const a = auth(role);
    return a ? { natsAuth: a } : {};
  };
  const shard = await startShard(url, { heartbeatMs: HEARTBEAT_MS, ...natsAuth('kvs') });
  watch('kvs', shard);
  const executor = await ExecutorNode.create(executorConfig({ nats: url, heartbeatMs: HEARTBEAT_MS, threads: 2, ...natsAuth('executor') }));
  watch('executor', executor);
  await executor.start();
  const router = await RouterNode.create(routerConfig({ nats: url, heartbeatMs: HEARTBEAT_MS, ...natsAuth('router') }));
  watch('router', router);
  await router.start();
  t.teardown(async () => {
    await router.stop();
    await executor.stop();
    await shard.stop();
  });
  return { url, shard, executor, router, nodeRefusals };
}

/** A raw connection for forging node messages. */
async function forger(t: Test, url: string, auth?: { user: string; pass: string }): Promise<NatsTransport> {
  const transport = await NatsTransport.connect({ servers: url, name: 'forger', ...(auth ? { auth } : {}) });
  t.teardown(() => transport.close());
  return transport;
}

/** Publishes and resolves with NATS's refusal of it (a test timeout if none comes). */
function refusalOf(transport: NatsTransport, subject: string, data: Uint8Array): Promise<Refusal> {
  return new Promise((resolve) => {
    const off = transport.onRefused((r) => {
      if (r.subject !== subject) return;
      off();
      resolve(r);
    });
    transport.publish(subject, data);
  });
}

const heartbeat = (fields: Record<string, unknown>) =>
  encodeMessage('heartbeat', { kind: 'kvs', subject: subjects.kvsShard('kvs-forged'), startedAt: Date.now(), at: Date.now(), ...fields });
const forgedShard = (replication: number) => heartbeat({ id: 'kvs-forged', state: 'active', replication });
const leaveOf = (shard: KvsNode) => encodeMessage('leave', { id: shard.id, kind: 'kvs', incarnation: shard.incarnation });
const overrides = encodeMessage(KVS_REPLICATION, { overrides: [['hot', 3]] });

async function memberIds(client: Cloudburst): Promise<string[]> {
  return (await client.status()).members.map((m) => m.id).sort();
}

t.test('docs/security.md shows the roles table lib/roles.ts generates', async (t) => {
  const doc = await readFile(new URL('../../docs/security.md', import.meta.url), 'utf8');
  const table = /<!-- roles table: generated by rolesMarkdown\(\) in lib\/roles\.ts -->\n([\s\S]*?)<!-- end of roles table -->/.exec(doc)?.[1];
  t.equal(table, rolesMarkdown(), 'regenerate it with rolesMarkdown() when the roles change');
});

t.test('under roles, nodes and clients work and a client cannot pose as a node', async (t) => {
  const dir = await tempDir(t);
  const roles = writeRolesConfig(join(dir, 'roles'), 'cb');
  for (const role of ROLES) t.equal((await stat(roles.passFiles[role])).mode & 0o777, 0o600, `${role}.pass is readable by its owner only`);
  t.equal((await stat(roles.config)).mode & 0o777, 0o600, 'and so is the config');
  const nats = await startNats(t, { args: ['-c', roles.config] });
  const auth = (role: Role) => ({ user: role, pass: roles.passwords[role] });
  const cluster = await startNodes(t, nats.url, auth);
  const { shard, executor, router } = cluster;

  const admin = await Cloudburst.connect({ servers: nats.url, auth: auth('admin'), timeoutMs: 10_000 });
  t.teardown(() => admin.close());
  await admin.register('greet', async (cb: Cb, who: string) => {
    await cb.put('greeting', `hello ${who}`);
    return `hello ${who}`;
  });
  await admin.register('outer', async (cb: Cb, who: string) => `${await cb.call<string>('greet', [who])}!`);
  t.pass('admin registers functions');

  const client = await Cloudburst.connect({ servers: nats.url, auth: auth('client'), timeoutMs: 10_000 });
  t.teardown(() => client.close());
  t.equal(await client.call('greet', ['client']), 'hello client', 'a client calls a function');
  t.equal(await client.call('outer', ['nested']), 'hello nested!', 'which may call another');
  t.equal(await client.get('greeting'), 'hello nested', 'and reads what it wrote');
  await client.put('plans', 'v1');
  t.equal(await client.get('plans'), 'v1', 'a client puts and gets keys');
  const big = 'x'.repeat(2 * 1024 * 1024);
  t.equal((await client.call<string>('greet', [big])).length, big.length + 6, 'and makes calls larger than a NATS message, both ways');

  const registering = await failure(client.register('greet', async () => 'hijacked'));
  t.type(registering, Unauthorized, 'a client may not register');
  t.match((registering as Unauthorized).data, { subject: subjects.registry }, 'the error names the refused subject');

  const before = { members: await memberIds(client), ring: shard.ringMembers(), overrides: [...overridesOf(shard)] };
  t.ok(before.members.includes(shard.id) && before.members.includes(executor.id) && before.members.includes(router.id), 'the router knows every node');

  const forge = await forger(t, nats.url, auth('client'));
  const forgeries: [string, string, Uint8Array][] = [
    ['a heartbeat of a shard asking for replication 5', subjects.members, forgedShard(5)],
    ['a leave for the live shard', subjects.members, leaveOf(shard)],
    ['replication factors', subjects.replication, overrides],
    ['a registry notice', subjects.registry, encodeMessage(FUNCTIONS.notice, { name: 'greet' })],
    ['a ping to every node', subjects.membersPing, encodeMessage('ping', {})],
    ['a done notice to the router', `${subjects.sched}.${router.id}`, encodeMessage(CALLS_DONE, { ids: ['x'] })],
    ['a call straight to the executor', subjects.exec(executor.id), encodeMessage('call', { fn: 'greet', args: [] })],
    ['a message to a function instance', subjects.instance(`${executor.id}.1`), encodeMessage(FN_MESSAGE, { from: 'x', data: new Uint8Array(1) })],
    ['a watch push', subjects.updates(0), encodeMessage(KVS_UPDATES, { entries: [] })],
  ];
  for (const [what, subject, data] of forgeries) {
    const refused = await refusalOf(forge, subject, data);
    t.match(refused, { operation: 'publish', subject }, `NATS refuses a client ${what} (${subject})`);
    t.type(refused.error, Unauthorized);
  }
  const sub = await new Promise<Refusal>((resolve) => {
    const off = forge.onRefused((r) => (off(), resolve(r)));
    forge.subscribe(subjects.kvsShard(shard.id), () => {});
  });
  t.match(sub, { operation: 'subscribe', subject: subjects.kvsShard(shard.id) }, 'and a client subscribing to a shard\'s requests');

  // Nothing was delivered; two heartbeat periods later the state is as it was.
  await new Promise((resolve) => setTimeout(resolve, 2 * HEARTBEAT_MS));
  t.same(await memberIds(client), before.members, 'the router still knows the same nodes, the shard among them');
  t.same(shard.ringMembers(), before.ring, 'the ring is unchanged: no forged shard, no raised replication');
  t.same([...overridesOf(shard)], before.overrides, 'no replication factor was set');
  t.equal(await client.get('plans'), 'v1', 'keys read as before');
  t.equal(await client.call('greet', ['again']), 'hello again', 'and calls still run the registered code');
  t.same(cluster.nodeRefusals, [], 'NATS refused the nodes nothing: their roles hold what they use');
});

t.test('control: without roles the same forgeries change the cluster', async (t) => {
  const nats = await startNats(t);
  const { shard } = await startNodes(t, nats.url, () => undefined);
  const client = await Cloudburst.connect({ servers: nats.url, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  await eventually('the router knows the shard', async () => (await memberIds(client)).includes(shard.id));
  const forge = await forger(t, nats.url);

  forge.publish(subjects.members, forgedShard(5));
  await eventually('the shard takes in a forged shard', () => shard.ringMembers().some((s) => s.id === 'kvs-forged' && s.replication === 5));
  t.pass('a forged heartbeat puts a shard asking for replication 5 into the ring');
  // Each poll forges again: a real heartbeat between a forgery and the read brings the shard back.
  await eventually('the router drops the shard', async () => {
    forge.publish(subjects.members, leaveOf(shard));
    await forge.flush();
    return !(await memberIds(client)).includes(shard.id);
  });
  t.pass('a forged leave makes the router drop the live shard');
  // The router publishes its own (empty) factors every heartbeat, which undoes a forgery: hence again each poll.
  await eventually('the shard holds the forged factor', async () => {
    forge.publish(subjects.replication, overrides);
    await forge.flush();
    return overridesOf(shard).get('hot') === 3;
  });
  t.pass('forged replication factors reach the shard');
});

t.test('up --secure: nodes under their roles; commands in its directory act as admin, others need a role', async (t) => {
  const cwd = await tempDir(t);
  const up = new CliProcess(['up', '--secure', '--threads', '2', '--log-level', 'debug'], bareEnv, cwd);
  t.teardown(async () => {
    if (up.child.exitCode === null && up.child.signalCode === null) {
      up.interrupt();
      await up.exited();
    }
  });
  const url = (await up.waitFor(/cluster ready: --nats (\S+)/))[1]!;
  const roles = join(cwd, '.cloudburst', 'roles');
  const passwords = await Promise.all(ROLES.map((role) => readFile(join(roles, `${role}.pass`), 'utf8').then((p) => p.trim())));
  for (const pid of up.lines.flatMap((l) => [...l.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1])))) {
    const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    t.notOk(passwords.some((p) => argv.includes(p)), `no password in the argv of child ${pid}`);
  }
  const here = { cwd, env: bareEnv };
  const file = join(cwd, 'double.mjs');
  await writeFile(file, 'export default async function (cb, x) { await cb.put("doubled", 2 * x); return 2 * x; }\n');
  const registered = await cliIn(here, 'register', file);
  t.match(registered, { code: 0, stdout: /registered double/ }, 'in its directory the CLI registers: it connects as admin through the record');
  t.equal((await cliIn(here, 'call', 'double', '21')).stdout.trim(), '42', 'and calls');

  const elsewhere = await tempDir(t);
  const asClient = ['--nats', url, '--nats-user', 'client', '--nats-pass-file', join(roles, 'client.pass')];
  t.equal((await cliIn({ cwd: elsewhere, env: bareEnv }, 'get', 'doubled', ...asClient)).stdout.trim(), '42', 'a client by its password file reads keys');
  const refused = await cliIn({ cwd: elsewhere, env: bareEnv }, 'register', file, ...asClient);
  t.equal(refused.code, 1, 'but may not register');
  t.match(refused.stderr, /UNAUTHORIZED: .*admin role/, 'and is told it needs the admin role');
  const anonymous = await cliIn({ cwd: elsewhere, env: bareEnv }, 'get', 'doubled', '--nats', url);
  t.match(anonymous, { code: 1, stderr: /UNAUTHORIZED/ }, 'without credentials nothing connects');

  up.interrupt();
  t.equal(await up.exited(), 0, 'the cluster stops cleanly');
  t.same(up.lines.filter((l) => passwords.some((p) => l.includes(p))), [], 'no line logged at debug level holds a password');
  t.same(up.lines.filter((l) => /refused a subject/.test(l)), [], 'no node was refused a subject it uses');
});
