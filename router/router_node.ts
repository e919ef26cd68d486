// A router: one of a queue group on `<prefix>.sched`. It keeps a membership
// view from heartbeats and forwards each call to an executor with the
// caller's reply subject, so the executor answers the caller directly and the
// router stays off the data path.

import { Actor, NO_REPLY, type ActorOptions, type Heartbeat, type MessageContext } from '../lib/actor/actor.js';
import { actorOptions } from '../lib/actor/node_setup.js';
import { decodeMessage, encodeMessage, num, str, type Envelope } from '../lib/codec/index.js';
import type { RouterConfig } from '../lib/config.js';
import { NoCapacity } from '../lib/errors.js';
import { newId } from '../lib/ids.js';
import { Membership, type Member } from './membership.js';
import { SchedulerPolicy } from './scheduler_policy.js';

export interface ClusterStatus {
  router: string;
  members: Member[];
}

export class RouterNode extends Actor {
  readonly kind = 'router' as const;
  readonly subject: string;
  private readonly membership: Membership;
  private readonly policy = new SchedulerPolicy();
  private readonly waiters = new Set<() => void>();

  constructor(opts: ActorOptions, private readonly memberTimeoutMs: number) {
    super(opts);
    this.subject = `${this.subjects.sched}.${this.id}`;
    this.membership = new Membership(memberTimeoutMs);
    const handlers = {
      call: (msg: Envelope, ctx: MessageContext) => this.forward(msg, ctx),
      status: (): ClusterStatus => ({ router: this.id, members: this.membership.live() }),
    };
    this.serve(this.subjects.sched, handlers, 'routers');
    this.serve(this.subject, handlers);
    this.transport.subscribe(this.subjects.members, (m) => this.onMemberMessage(m.data));
  }

  static async create(config: RouterConfig): Promise<RouterNode> {
    return new RouterNode(await actorOptions('router', config), config.memberTimeoutMs);
  }

  override async start(): Promise<void> {
    await super.start();
    // Learn the cluster now rather than after a heartbeat period.
    this.transport.publish(this.subjects.membersPing, encodeMessage('ping', {}));
  }

  /** Resolves when an executor heartbeat arrives, or after `ms`. */
  private executorHeard(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        resolve();
      }, Math.max(0, ms));
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(wake);
    });
  }

  private wakeWaiters(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  private onMemberMessage(data: Uint8Array): void {
    try {
      const msg = decodeMessage(data);
      if (msg.t === 'heartbeat') {
        str(msg, 'id');
        str(msg, 'kind');
        str(msg, 'subject');
        const { v: _v, t: _t, ...hb } = msg;
        this.membership.heard(hb as unknown as Heartbeat);
        this.policy.noteHeartbeat(str(msg, 'id'));
        if (msg['kind'] === 'executor') this.wakeWaiters();
      } else if (msg.t === 'leave') {
        this.membership.left(str(msg, 'id'));
      }
    } catch (err) {
      this.log.debug({ err }, 'bad member message');
    }
  }

  private async forward(msg: Envelope, ctx: MessageContext): Promise<typeof NO_REPLY> {
    str(msg, 'fn');
    const deadline = num(msg, 'deadline');
    let target = this.policy.pick(this.membership.live('executor'));
    if (!target) {
      // Just started, or executors are restarting: wait a little for one to
      // announce itself rather than fail a call a moment too early.
      await this.executorHeard(Math.min(deadline - Date.now(), this.memberTimeoutMs));
      target = this.policy.pick(this.membership.live('executor'));
    }
    if (!target) throw new NoCapacity('no executor is running');
    const { v: _v, t: _t, ...fields } = msg;
    const id = typeof fields['id'] === 'string' ? fields['id'] : newId('inv-');
    this.transport.publish(target.subject, encodeMessage('call', { ...fields, id }, this.transport.maxPayload), ctx.reply);
    return NO_REPLY;
  }
}
