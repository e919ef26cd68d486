// A router: one of a queue group on `<prefix>.sched`. It keeps a membership
// view from heartbeats and forwards each call to an executor with the
// caller's reply subject, so the executor answers the caller directly and the
// router stays off the data path (except for calls too large for one NATS
// message: see `forward`).

import { Actor, NO_REPLY, type ActorOptions, type MessageContext } from '../lib/actor/actor.js';
import { actorOptions } from '../lib/actor/node_setup.js';
import { encodeError, request, requestEncoded } from '../lib/actor/rpc.js';
import { DAGS, downstream, upstream, type DagRecord } from '../lib/dag.js';
import { DAG_CALL, DAG_STAGE, checkModes, parseConsistency, type Consistency } from '../lib/dag_protocol.js';
import { RegistryCache } from '../lib/registry_cache.js';
import { arr, encodeMessage, num, obj, str, type Envelope } from '../lib/codec/index.js';
import type { RouterConfig } from '../lib/config.js';
import { InvalidArgument, MalformedMessage, NoCapacity, asCloudburstError } from '../lib/errors.js';
import { newId } from '../lib/ids.js';
import { Membership, type Member } from '../lib/membership.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { publishOverrides } from '../lib/kvs/replication_overrides.js';
import type { Lattice } from '../lib/lattice/index.js';
import { PINNED_REPLICATION_KEY } from '../lib/reserved_keys.js';
import { ReplicationPolicy } from './replication_policy.js';
import { SchedulerPolicy } from './scheduler_policy.js';
import { InFlight, type Placement, type Tracked } from './in_flight.js';
import { referencedKeys } from '../lib/reference.js';
import { CALLS_DONE } from '../lib/call_protocol.js';
import { remainingMs } from '../lib/deadline.js';
import { routerMetrics } from '../lib/node_metrics.js';
import { RateMeter } from '../lib/rate_meter.js';

/** What a router answers `status` with: every node it hears heartbeats from. */
export interface ClusterStatus {
  router: string;
  /** The router's clock as it answered (members' `seenAt` are on it too). */
  at: number;
  members: Member[];
}

export class RouterNode extends Actor {
  readonly kind = 'router' as const;
  readonly subject: string;
  private readonly membership: Membership;
  private readonly policy: SchedulerPolicy;
  private readonly forwarded = new InFlight<ForwardedCall>((t) => this.policy.finished(t.executors[0]!.id));
  private readonly dagRuns = new InFlight<DagRun>();
  private readonly replication: ReplicationPolicy;
  private replicationTimer: NodeJS.Timeout | undefined;
  private readonly kvs: KvsClient;
  private readonly dags: RegistryCache<DagRecord>;
  private pinned: ReadonlyMap<string, number> = new Map();
  /** Calls and DAG calls taken, for the load in heartbeats. */
  private readonly taken = new RateMeter();
  private readonly retries: ReturnType<typeof routerMetrics> | undefined;

  constructor(
    opts: ActorOptions,
    private readonly config: RouterConfig,
  ) {
    super(opts);
    this.subject = `${this.subjects.sched}.${this.id}`;
    this.membership = new Membership(config.memberTimeoutMs);
    this.policy = new SchedulerPolicy(config.placement);
    this.membership.onChange(() => this.retryOrphans());
    this.replication = new ReplicationPolicy(config);
    this.kvs = new KvsClient(this.transport, this.subjects, { onBackgroundError: (err) => this.log.debug({ err }, 'pinned replication not read') });
    this.retries =
      this.metrics &&
      routerMetrics(this.metrics, { inFlight: () => this.outstanding, members: (kind) => this.membership.live(kind).length });
    this.dags = new RegistryCache(this.kvs, DAGS, this.transport, this.subjects, (err) => this.log.debug({ err }, 'bad registry notice'));
    const handlers = {
      call: (msg: Envelope, ctx: MessageContext) => this.forward(msg, ctx),
      [DAG_CALL]: (msg: Envelope, ctx: MessageContext) => this.dagCall(msg, ctx),
      status: (): ClusterStatus => ({ router: this.id, at: Date.now(), members: this.membership.live() }),
    };
    this.serve(this.subjects.sched, handlers, 'routers');
    this.serve(this.subject, {
      ...handlers,
      [CALLS_DONE]: (msg: Envelope) => {
        for (const id of arr(msg, 'ids')) {
          if (typeof id !== 'string') continue;
          const call = this.forwarded.done(id);
          if (call) this.policy.finished(call.executors[0]!.id);
          this.dagRuns.done(id);
        }
        return NO_REPLY;
      },
    });
  }

  static async create(config: RouterConfig): Promise<RouterNode> {
    return new RouterNode(await actorOptions('router', config), config);
  }

  protected override heartbeatFields(): Record<string, unknown> {
    return { inFlight: this.outstanding, callsPerSec: this.taken.take() };
  }

  /** Calls and DAG calls out at executors, not yet reported done. */
  private get outstanding(): number {
    return this.forwarded.size + this.dagRuns.size;
  }

  override async start(): Promise<void> {
    await super.start();
    this.membership.follow(this.transport, this.subjects, (err) => this.log.debug({ err }, 'bad member message'));
    this.replicationTimer = setInterval(() => this.replicateHotKeys(), this.config.heartbeatMs);
    this.replicationTimer.unref();
    // The watch delivers the table as it is now, then every change.
    this.kvs.watch([PINNED_REPLICATION_KEY], (_key, value) => this.pin(value));
  }

  protected override beforeStop(): Promise<void> {
    clearInterval(this.replicationTimer);
    this.dags.close();
    this.kvs.close();
    return Promise.resolve();
  }

  /** Pinned factors: a map of key → last-writer-wins count, null meaning unpinned. */
  private pin(value: Lattice): void {
    const pinned = new Map<string, number>();
    const revealed = value.reveal();
    if (!(revealed instanceof Map)) return;
    for (const [key, replicas] of revealed as ReadonlyMap<string, unknown>) {
      if (typeof replicas === 'number' && replicas >= 1) pinned.set(key, replicas);
    }
    this.pinned = pinned;
    this.replicateHotKeys();
  }

  /**
   * Every router follows the load; the one with the smallest id publishes
   * the table, every period, so shards and clients that start later learn it.
   */
  private replicateHotKeys(): void {
    const { overrides, changed } = this.replication.evaluate(this.membership.live('kvs'), this.config.heartbeatMs, this.pinned);
    const routers = this.membership.live('router').map((m) => m.id);
    if (routers.some((id) => id < this.id)) return;
    if (changed) this.log.info({ overrides }, 'hot-key replication changed');
    publishOverrides(this.transport, this.subjects, overrides);
  }

  private async forward(msg: Envelope, ctx: MessageContext): Promise<unknown> {
    const fn = str(msg, 'fn');
    this.taken.add();
    const deadline = num(msg, 'deadline');
    // Already over (a clock behind, a deadline sent as a small integer): answered at once, never run.
    remainingMs(deadline, `the call of ${fn}`);
    const target = (await this.executors(deadline)).pick(referencedKeys(arr(msg, 'args')));
    const { v: _v, t: _t, ...fields } = msg;
    const id = typeof fields['id'] === 'string' ? fields['id'] : newId('inv-');
    // `router` asks the executor for a done notice, so the call can be sent
    // again elsewhere if that executor dies first.
    const call = encodeMessage('call', { ...fields, id, router: this.subject }, this.maxMessageBytes);
    if (call.byteLength <= this.transport.maxPayload && ctx.reply !== undefined) {
      this.forwarded.track({ id, executors: [placement(target)], call, reply: ctx.reply, deadline, retried: false });
      this.policy.sent(target.id);
      this.transport.publish(target.subject, call, ctx.reply);
      return NO_REPLY;
    }
    // A call too large for one NATS message travels in pieces, and pieces
    // cannot carry the caller's reply subject: the executor's answer would go
    // to the router's pieces. So for these calls only, the router makes the
    // (chunked) request to the executor itself and relays the answer; every
    // other call is published with the caller's reply subject, as above, and
    // the router stays off the data path.
    return requestEncoded(this.transport, target.subject, call, deadline, 'call', { maxMessageBytes: this.maxMessageBytes });
  }

  /**
   * The live executors to place work on. Just after start-up, or while
   * executors restart, waits a little for one to announce itself rather than
   * fail a call a moment too early.
   */
  private async executors(deadline: number): Promise<{ pick: (keys?: string[]) => Member }> {
    const live = () => this.placeable();
    if (live().length === 0) await this.membership.waitFor(() => live().length > 0, Math.min(deadline - Date.now(), this.membership.timeoutMs));
    const executors = live();
    if (executors.length === 0) throw new NoCapacity('no executor is running');
    return { pick: (keys?: string[]) => this.policy.pick(executors, keys)! };
  }

  /** Live executors that take new work (not draining before a stop). */
  private placeable(): Member[] {
    return this.membership.live('executor').filter((m) => m['draining'] !== true);
  }

  /**
   * Sends calls and DAG calls whose executor died (left the cluster, or came
   * back as a new incarnation) once more, to live ones.
   */
  private retryOrphans(): void {
    // A draining executor still runs what it has: not orphaned, but no target either.
    const live = new Map(this.membership.live('executor').map((e) => [e.id, e.incarnation]));
    const executors = this.placeable();
    for (const call of this.forwarded.orphaned(live)) {
      this.policy.finished(call.executors[0]!.id);
      const target = this.policy.pick(executors);
      if (call.retried || !target || call.deadline <= Date.now()) continue;
      this.policy.sent(target.id);
      this.log.info({ id: call.id, from: call.executors[0], to: target.id }, 'executor gone: sending its call again');
      this.retries?.retried('call');
      this.forwarded.track({ ...call, executors: [placement(target)], retried: true });
      this.transport.publish(target.subject, call.call, call.reply);
    }
    for (const run of this.dagRuns.orphaned(live)) {
      if (run.retried || executors.length === 0 || run.deadline <= Date.now()) continue;
      this.log.info({ id: run.callId, run: run.id, dag: run.dag.name }, 'executor gone: running its DAG call again');
      this.retries?.retried('dag');
      // A run of its own: stages of the first run left on live executors do not take the new run's results.
      this.startDagRun({ ...run, id: newId('run-'), retried: true }, { pick: (keys) => this.policy.pick(executors, keys)! }).catch((err: unknown) => {
        // The run may fail because the router is stopping: its connection is
        // then closed and publish throws Closed, which must not escape as an
        // unhandled rejection (the caller's own deadline answers it).
        try {
          this.transport.publish(run.reply, encodeError(asCloudburstError(err)));
        } catch (closed) {
          this.log.debug({ err: closed, id: run.id }, 'DAG call failure not answered: connection closed');
        }
      });
    }
  }

  /** Places every function of a DAG call and sends each its stage; the sink answers the caller. */
  private async dagCall(msg: Envelope, ctx: MessageContext): Promise<typeof NO_REPLY> {
    if (ctx.reply === undefined) throw new MalformedMessage('a DAG call needs a reply subject');
    this.taken.add();
    const deadline = num(msg, 'deadline');
    remainingMs(deadline, `the call of DAG ${str(msg, 'dag')}`);
    const args = obj(msg['args'] ?? {}, 'DAG arguments');
    const dag = await this.dags.get(str(msg, 'dag'), deadline);
    for (const [fn, list] of Object.entries(args)) {
      if (!dag.functions.includes(fn)) throw new InvalidArgument(`DAG ${dag.name} has no function ${fn}`);
      if (!Array.isArray(list)) throw new InvalidArgument(`the arguments of ${fn} must be an array`);
    }
    const callId = typeof msg['id'] === 'string' ? msg['id'] : newId('dag-');
    const run: DagRun = {
      id: newId('run-'),
      callId,
      dag,
      args,
      reply: ctx.reply,
      deadline,
      consistency: parseConsistency(msg['consistency']),
      once: msg['once'] === true,
      atomic: msg['atomic'] === true,
      ...(typeof msg['outputKey'] === 'string' ? { outputKey: msg['outputKey'] } : {}),
      executors: [],
      retried: false,
    };
    checkModes(run.consistency, run.atomic);
    await this.startDagRun(run, await this.executors(deadline));
    return NO_REPLY;
  }

  /** Places every stage of `run`, sends each its stage, and tracks the run until the sink's done notice. */
  private async startDagRun(run: DagRun, executors: { pick: (keys?: string[]) => Member }): Promise<void> {
    const { dag, args, id, callId, deadline } = run;
    const placed = new Map(dag.functions.map((fn) => [fn, executors.pick(referencedKeys((args[fn] as unknown[] | undefined) ?? []))]));
    run.executors = [...new Map([...placed.values()].map((e) => [e.id, placement(e)])).values()];
    this.dagRuns.track(run);
    await Promise.all(
      dag.functions.map((fn) =>
        request(
          this.transport,
          placed.get(fn)!.subject,
          DAG_STAGE,
          {
            id: callId,
            run: id,
            fn,
            args: args[fn] ?? [],
            inputs: upstream(dag, fn),
            next: downstream(dag, fn).map((to) => ({ fn: to, subject: placed.get(to)!.subject })),
            replyTo: run.reply,
            consistency: run.consistency,
            once: run.once,
            atomic: run.atomic,
            router: this.subject,
            ...(run.outputKey === undefined ? {} : { outputKey: run.outputKey }),
          },
          deadline,
        ),
      ),
    );
  }
}

/** Which executor process work goes to (see InFlight.orphaned). */
function placement(m: Member): Placement {
  return { id: m.id, incarnation: m.incarnation };
}

interface ForwardedCall extends Tracked {
  /** The encoded call message, as first sent. */
  call: Uint8Array;
  reply: string;
}

/** A DAG call as the router runs it: tracked by its run (`id`, drawn per run), its stages named by the call's id (`callId`). */
interface DagRun extends Tracked {
  callId: string;
  dag: DagRecord;
  args: Record<string, unknown>;
  reply: string;
  consistency: Consistency;
  once: boolean;
  atomic: boolean;
  outputKey?: string;
}
