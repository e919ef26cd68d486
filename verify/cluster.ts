// The cluster under test, started the way users start it: a private
// nats-server, then every KVS shard, executor and router as its own
// `node dist/bin/cloudburst.js kvs|executor|router ...` process, and for the
// supervisor nemesis a `cloudburst up --nats URL` supervising executors of
// its own. The harness can kill, pause, skew and restart each of them, and
// nothing it starts outlives it: children are stopped on exit, and each is
// spawned under `setpriv --pdeathsig SIGKILL` (when there is one) so even a
// kill -9 of the harness takes them along.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childReady, hasExited, stopChild } from '../bin/child_process.js';
import { findNatsServer, freePort } from '../bin/nats_server.js';
import type { ReadyMessage } from '../bin/run_node.js';
import { SKEW_FILE_ENV } from './clock_skew.js';
import { NatsCluster } from './partition.js';

const CLI = fileURLToPath(new URL('../bin/cloudburst.js', import.meta.url));
const SKEW_PRELOAD = fileURLToPath(new URL('./clock_skew.js', import.meta.url));
/** How long a node may take to start, and to drain when asked to stop. */
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

export type NodeKind = 'kvs' | 'executor' | 'router';

export interface Topology {
  shards: number;
  executors: number;
  routers: number;
  replication: number;
  /** Worker threads per executor. */
  threads: number;
  /** Heartbeat period of every node: a node silent for 3 periods is taken as gone. */
  heartbeatMs: number;
  /** Executors run by a `cloudburst up --nats URL` supervisor (0: no supervisor). */
  supervisedExecutors: number;
  /** nats-servers: 1, or a cluster (3) whose routes the partition nemesis cuts; nodes are spread over them. */
  natsServers: number;
  /** Routes between two nats-servers slowed for the whole run (needs a NATS cluster): see SlowRoute. */
  slowRoutes: SlowRoute[];
}

/**
 * Everything between nats-servers `between[0]` and `between[1]` arrives
 * `delayMs` late, in order, from start to end of the run: a server far away.
 * Not a fault (the nemesis neither makes nor heals it); cuts of that route
 * still apply on top.
 */
export interface SlowRoute {
  between: [number, number];
  delayMs: number;
}

export const DEFAULT_TOPOLOGY: Topology = { shards: 3, executors: 2, routers: 2, replication: 2, threads: 2, heartbeatMs: 500, supervisedExecutors: 0, natsServers: 1, slowRoutes: [] };

/** `setpriv --pdeathsig SIGKILL` when util-linux has it: the child dies with the harness, even by kill -9. */
let pdeathsig: string[] | undefined;
function pdeathsigPrefix(): string[] {
  if (!pdeathsig) {
    const r = spawnSync('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'true'], { stdio: 'ignore' });
    pdeathsig = r.status === 0 ? ['setpriv', '--pdeathsig', 'SIGKILL', '--'] : [];
  }
  return pdeathsig;
}

/** Every child started by any cluster in this process, killed when it exits however it exits. */
const everyChild = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of everyChild) if (!hasExited(child)) child.kill('SIGKILL');
});

function guardedSpawn(command: string, args: string[], opts: { log: string; ipc?: boolean; stdout?: boolean; env?: NodeJS.ProcessEnv }): ChildProcess {
  const [cmd, ...rest] = [...pdeathsigPrefix(), command, ...args];
  const fd = openSync(opts.log, 'a');
  try {
    // Its own process group: a Ctrl-C at the terminal reaches the harness
    // alone, which then stops everything in order.
    const child = spawn(cmd!, rest, {
      stdio: ['ignore', opts.stdout ? 'pipe' : fd, fd, ...(opts.ipc ? (['ipc'] as const) : [])],
      detached: true,
      env: opts.env ?? process.env,
      // The run's logs folder: a `cloudburst up` records its cluster in its working directory (.cloudburst/), never in the checkout.
      cwd: dirname(opts.log),
    });
    everyChild.add(child);
    child.once('exit', () => everyChild.delete(child));
    return child;
  } finally {
    closeSync(fd);
  }
}

export type Progress = (line: string) => void;

/** A nats-server on a fixed port that can be killed and started again. */
export class NatsProc {
  private child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    private readonly logFile: string,
    /** More arguments (cluster routes). */
    private readonly extraArgs: string[] = [],
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && !hasExited(this.child);
  }

  async start(): Promise<void> {
    if (this.running) return;
    // nats-server logs to stderr, which goes to the file: watch the file's new part for readiness.
    const seen = existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').length : 0;
    const child = guardedSpawn(findNatsServer(), ['-a', '127.0.0.1', '-p', String(this.port), ...this.extraArgs], { log: this.logFile, stdout: false });
    this.child = child;
    await childReady(child, {
      what: 'nats-server',
      timeoutMs: READY_TIMEOUT_MS,
      watch: (ready) => {
        const timer = setInterval(() => {
          if (readFileSync(this.logFile, 'utf8').slice(seen).includes('Server is ready')) ready();
        }, 20);
        return () => clearInterval(timer);
      },
      detail: () => readFileSync(this.logFile, 'utf8').slice(seen),
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child) await stopChild(this.child, STOP_GRACE_MS, (c) => c.kill(signal));
    this.child = undefined;
  }
}

export class NodeProc {
  child: ChildProcess | undefined;
  paused = false;
  skewMs = 0;
  /** Left on purpose (a shard that handed off, a joiner killed while joining): never restarted, not expected in the cluster. */
  gone = false;
  /** The harness is killing it: its exit is no surprise. */
  expectingExit = false;

  constructor(
    readonly kind: NodeKind,
    readonly id: string,
    readonly args: string[],
    readonly skewFile: string,
    readonly logFile: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined && !hasExited(this.child);
  }

  get pid(): number | undefined {
    return this.running ? this.child!.pid : undefined;
  }
}

/** Ids of the processes whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of stat is the parent's pid; the name (field 2) may hold spaces, so split after its ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is dead for our purposes.
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

/** A `cloudburst up --nats URL` supervising executors of its own. */
export class SupervisorProc {
  child: ChildProcess | undefined;
  /** The processes it ran, as of the last time it was ready. */
  descendants: number[] = [];
  constructor(
    readonly args: string[],
    readonly logFile: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined && !hasExited(this.child);
  }

  async start(): Promise<void> {
    const child = guardedSpawn(process.execPath, this.args, { log: this.logFile, stdout: true });
    this.child = child;
    let out = '';
    await childReady(child, {
      what: 'cloudburst up',
      timeoutMs: READY_TIMEOUT_MS,
      watch: (ready) => {
        const onData = (chunk: Buffer): void => {
          out += chunk.toString();
          if (out.includes('cluster ready')) ready();
        };
        child.stdout?.on('data', onData);
        return () => child.stdout?.off('data', onData);
      },
      detail: () => readFileSync(this.logFile, 'utf8'),
    });
    child.stdout?.resume();
    this.descendants = childrenOf(child.pid!);
  }
}

/** kill -9 of a supervisor; the processes it ran still alive after `graceMs` (which are then killed). */
async function killAndWatch(sup: SupervisorProc, graceMs: number): Promise<Orphan[]> {
  const pids = [...new Set([...sup.descendants, ...childrenOf(sup.child!.pid!)])];
  const commands = new Map(pids.map((pid) => [pid, commandOf(pid)]));
  const descendants = pids;
  await stopChild(sup.child!, STOP_GRACE_MS, (c) => c.kill('SIGKILL'));
  // Polled: these are not our children, so no exit event tells us they are gone.
  const until = Date.now() + graceMs;
  while (descendants.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  const outlived = descendants.filter(alive);
  for (const pid of outlived) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  return outlived.map((pid) => ({ pid, command: commands.get(pid) ?? '?' }));
}

/** A process a killed supervisor left running. */
export interface Orphan {
  pid: number;
  command: string;
}

/** The command line of `pid`, shortened. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200);
  } catch {
    return '?';
  }
}

export interface ClusterOptions {
  topology: Topology;
  prefix: string;
  /** Where data, skew files and logs go. */
  dir: string;
  progress: Progress;
  /** Told when a node exits that nobody asked to stop. */
  onUnexpectedExit?: (id: string, how: string) => void;
}

export class HarnessCluster {
  readonly nodes = new Map<string, NodeProc>();
  supervisor: SupervisorProc | undefined;
  private stopping = false;
  /** Which nats-server each node is attached to, in the order nodes were first started. */
  private readonly attached = new Map<string, NatsProc>();

  private constructor(
    /** The nats-server the client (and, with one server, every node) uses. */
    readonly nats: NatsProc,
    private readonly opts: ClusterOptions,
    /** With natsServers > 1: the servers and their cuttable routes. */
    readonly natsCluster?: NatsCluster,
  ) {}

  /** Every nats-server. */
  get natsServers(): NatsProc[] {
    return this.natsCluster?.servers ?? [this.nats];
  }

  /** The server node `id` uses: round-robin over the servers in the order nodes first start. */
  private serverFor(id: string): NatsProc {
    let server = this.attached.get(id);
    if (!server) {
      const servers = this.natsServers;
      server = servers[this.attached.size % servers.length]!;
      this.attached.set(id, server);
    }
    return server;
  }

  get topology(): Topology {
    return this.opts.topology;
  }

  get prefix(): string {
    return this.opts.prefix;
  }

  static async start(opts: ClusterOptions): Promise<HarnessCluster> {
    for (const sub of ['logs', 'skew', 'data']) mkdirSync(join(opts.dir, sub), { recursive: true });
    let cluster: HarnessCluster;
    if (opts.topology.natsServers > 1) {
      const natsCluster = await NatsCluster.start(opts.topology.natsServers, join(opts.dir, 'logs'));
      cluster = new HarnessCluster(natsCluster.servers[0]!, opts, natsCluster);
      opts.progress(`nats cluster ready: ${natsCluster.servers.map((s) => s.url).join(', ')} (routes through proxies)`);
      for (const { between: [a, b], delayMs } of opts.topology.slowRoutes) {
        natsCluster.setDelay(a, b, delayMs);
        opts.progress(`routes nats-${a} <-> nats-${b} slowed by ${delayMs} ms each way`);
      }
    } else {
      cluster = new HarnessCluster(new NatsProc(await freePort(), join(opts.dir, 'logs', 'nats-server.log')), opts);
    }
    const nats = cluster.nats;
    try {
      await nats.start();
      opts.progress(`nats-server ready on ${nats.url}`);
      const t = opts.topology;
      await Promise.all(Array.from({ length: t.shards }, (_, i) => cluster.startNode('kvs', `kvs-${i}`)));
      await Promise.all([
        ...Array.from({ length: t.executors }, (_, i) => cluster.startNode('executor', `executor-${i}`)),
        ...Array.from({ length: t.routers }, (_, i) => cluster.startNode('router', `router-${i}`)),
      ]);
      if (t.supervisedExecutors > 0) await cluster.startSupervisor();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private nodeArgs(kind: NodeKind, id: string): string[] {
    const t = this.opts.topology;
    const args = ['--import', SKEW_PRELOAD, CLI, kind, '--nats', this.serverFor(id).url, '--prefix', this.opts.prefix, '--id', id, '--log-level', 'warn', '--heartbeat-ms', String(t.heartbeatMs)];
    if (kind === 'executor') args.push('--threads', String(t.threads));
    if (kind === 'kvs') args.push('--durability', 'group', '--replication', String(t.replication), '--gossip-ms', '50', '--data-dir', join(this.opts.dir, 'data', id));
    return args;
  }

  /** Starts a new node (or the node `id` again, with the same arguments) and waits until it is ready. */
  async startNode(kind: NodeKind, id: string, waitReady = true): Promise<NodeProc> {
    let node = this.nodes.get(id);
    if (!node) {
      node = new NodeProc(kind, id, this.nodeArgs(kind, id), join(this.opts.dir, 'skew', id), join(this.opts.dir, 'logs', `${id}.log`));
      this.nodes.set(id, node);
    }
    if (node.running) return node;
    writeFileSync(node.skewFile, String(node.skewMs));
    const child = guardedSpawn(process.execPath, node.args, { log: node.logFile, ipc: true, env: { ...process.env, [SKEW_FILE_ENV]: node.skewFile } });
    node.child = child;
    node.paused = false;
    child.once('exit', (code, signal) => {
      if (!this.stopping && !node.gone && node.child === child && !node.expectingExit) this.opts.onUnexpectedExit?.(id, signal ?? `code ${code}`);
    });
    const ready = childReady(child, {
      what: `${kind} ${id}`,
      timeoutMs: READY_TIMEOUT_MS,
      watch: (ready) => {
        const onMessage = (m: unknown): void => void ((m as ReadyMessage | undefined)?.ready && ready());
        child.on('message', onMessage);
        return () => child.off('message', onMessage);
      },
      detail: () => readFileSync(node.logFile, 'utf8').slice(-2000),
    });
    if (waitReady) await ready;
    else ready.catch(() => undefined);
    return node;
  }

  private node(id: string): NodeProc {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** kill -9, and wait until it is gone. */
  async kill(id: string): Promise<void> {
    const node = this.node(id);
    if (!node.child) return;
    node.expectingExit = true;
    try {
      await stopChild(node.child, STOP_GRACE_MS, (c) => c.kill('SIGKILL'));
    } finally {
      node.expectingExit = false;
    }
    node.paused = false;
  }

  /** SIGTERM: the node drains and leaves (a shard hands its keys off). */
  async stopGracefully(id: string): Promise<void> {
    const node = this.node(id);
    node.gone = true;
    if (node.child) await stopChild(node.child, STOP_GRACE_MS);
  }

  /** Starts a killed node again under the same id. */
  async restart(id: string): Promise<void> {
    const node = this.node(id);
    await this.startNode(node.kind, id);
  }

  pause(id: string): void {
    const node = this.node(id);
    if (!node.running) return;
    node.child!.kill('SIGSTOP');
    node.paused = true;
  }

  resume(id: string): void {
    const node = this.node(id);
    if (node.running && node.paused) node.child!.kill('SIGCONT');
    node.paused = false;
  }

  /** Shifts the node's wall clock by `ms` (0: back to true time); applies within the preload's re-read period. */
  skew(id: string, ms: number): void {
    const node = this.node(id);
    node.skewMs = ms;
    writeFileSync(node.skewFile, String(ms));
  }

  async startSupervisor(): Promise<void> {
    const t = this.opts.topology;
    const args = [
      CLI, 'up', '--nats', this.nats.url, '--prefix', this.opts.prefix,
      '--kvs', '0', '--routers', '0', '--executors', String(t.supervisedExecutors), '--threads', String(t.threads),
      '--heartbeat-ms', String(t.heartbeatMs), '--data-dir', join(this.opts.dir, 'data', 'supervisor'), '--log-level', 'warn',
    ];
    this.supervisor ??= new SupervisorProc(args, join(this.opts.dir, 'logs', 'supervisor.log'));
    await this.supervisor.start();
  }

  /**
   * Starts a `cloudburst up` with no --nats (so with a nats-server of its
   * own) and no nodes, kill -9s it once ready, and resolves with the
   * processes it started that outlived it by `graceMs` (then killed).
   */
  async killPrivateNatsSupervisor(graceMs: number): Promise<Orphan[]> {
    const args = [CLI, 'up', '--kvs', '0', '--executors', '0', '--routers', '0', '--data-dir', join(this.opts.dir, 'data', 'supervisor-private'), '--log-level', 'warn'];
    const sup = new SupervisorProc(args, join(this.opts.dir, 'logs', 'supervisor-private.log'));
    await sup.start();
    return killAndWatch(sup, graceMs);
  }

  /**
   * kill -9 of the supervisor; resolves with the processes it ran that are
   * still alive after `graceMs` (it must leave none), which are then killed.
   */
  async killSupervisor(graceMs: number): Promise<Orphan[]> {
    const sup = this.supervisor;
    if (!sup?.child) return [];
    return killAndWatch(sup, graceMs);
  }

  /** Ids of the nodes that should be in the cluster now. */
  expected(): NodeProc[] {
    return [...this.nodes.values()].filter((n) => !n.gone);
  }

  /** Stops everything: routers, executors, supervisor, shards, then NATS; SIGKILL after a grace. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const node of this.nodes.values()) if (node.paused) this.resume(node.id);
    for (const kinds of [['router'], ['executor'], ['kvs']]) {
      await Promise.all([...this.nodes.values()].filter((n) => kinds.includes(n.kind) && n.child).map((n) => stopChild(n.child!, STOP_GRACE_MS)));
      if (kinds[0] === 'executor' && this.supervisor?.child) await stopChild(this.supervisor.child, STOP_GRACE_MS);
    }
    if (this.natsCluster) await this.natsCluster.stop();
    else await this.nats.kill('SIGTERM');
  }
}

