// The base of every node (KVS shard, executor, router): it owns one transport,
// serves typed messages on its subjects, answers every request with a typed
// reply (never a crash, whatever bytes arrive), announces itself with
// heartbeats, and drains in-flight work before it stops.

import { decodeMessage, type Envelope } from '../codec/index.js';
import { CloudburstError, UnknownMessageType, asCloudburstError } from '../errors.js';
import type { Logger } from '../log.js';
import { encodeMessage } from '../codec/index.js';
import type { Subjects } from '../subjects.js';
import { encodeError, encodeReply } from './rpc.js';
import type { InboundMessage, Subscription, Transport } from './transport.js';

export type NodeKind = 'kvs' | 'executor' | 'router';

export interface MessageContext {
  readonly subject: string;
  readonly reply: string | undefined;
}

/**
 * Answers one message type. The returned value is the reply body; return
 * `NO_REPLY` when the handler answered (or forwarded the request) itself.
 */
export type Handler = (msg: Envelope, ctx: MessageContext) => unknown;
export const NO_REPLY: unique symbol = Symbol('no reply');

export interface ActorOptions {
  transport: Transport;
  subjects: Subjects;
  id: string;
  logger: Logger;
  /** How often the node announces itself on the members subject. */
  heartbeatMs: number;
}

/** What a node says of itself in each heartbeat. */
export interface Heartbeat {
  id: string;
  kind: NodeKind;
  /** The subject that reaches this node alone. */
  subject: string;
  startedAt: number;
  at: number;
  [extra: string]: unknown;
}

export abstract class Actor {
  abstract readonly kind: NodeKind;
  /** The subject only this node listens on. */
  abstract readonly subject: string;

  readonly id: string;
  protected readonly transport: Transport;
  protected readonly subjects: Subjects;
  readonly log: Logger;
  private readonly heartbeatMs: number;
  private readonly startedAt = Date.now();
  private readonly subs: Subscription[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(opts: ActorOptions) {
    this.transport = opts.transport;
    this.subjects = opts.subjects;
    this.id = opts.id;
    this.log = opts.logger;
    this.heartbeatMs = opts.heartbeatMs;
  }

  /** Serves `handlers` (by message type) on `subject`. */
  protected serve(subject: string, handlers: Record<string, Handler>, queue?: string): void {
    const sub = this.transport.subscribe(subject, (m) => this.dispatch(m, handlers), queue ? { queue } : {});
    this.subs.push(sub);
  }

  /** Subscribes and starts heartbeats; the node is reachable when this resolves. */
  async start(): Promise<void> {
    this.serve(this.subjects.membersPing, { ping: () => (this.heartbeat(), NO_REPLY) });
    this.heartbeat();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.heartbeatTimer.unref();
    await this.transport.flush();
    this.log.info({ id: this.id, kind: this.kind, subject: this.subject }, 'node started');
  }

  /** Says goodbye, lets in-flight requests answer, then closes the connection. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    for (const sub of this.subs) sub.unsubscribe();
    try {
      this.transport.publish(this.subjects.members, encodeMessage('leave', { id: this.id, kind: this.kind }));
    } catch {
      // Already closed: nobody to tell.
    }
    await Promise.allSettled([...this.inFlight]);
    await this.onStop();
    await this.transport.drain();
    this.log.info({ id: this.id, kind: this.kind }, 'node stopped');
  }

  /** Releases what the node holds (pools, files) after the last request. */
  protected async onStop(): Promise<void> {}

  /** Extra fields for heartbeats (load, cached keys, ...). */
  protected heartbeatFields(): Record<string, unknown> {
    return {};
  }

  private heartbeat(): void {
    const hb: Heartbeat = {
      ...this.heartbeatFields(),
      id: this.id,
      kind: this.kind,
      subject: this.subject,
      startedAt: this.startedAt,
      at: Date.now(),
    };
    try {
      this.transport.publish(this.subjects.members, encodeMessage('heartbeat', hb));
    } catch (err) {
      this.log.debug({ err }, 'heartbeat not sent');
    }
  }

  private dispatch(m: InboundMessage, handlers: Record<string, Handler>): void {
    let msg: Envelope;
    try {
      msg = decodeMessage(m.data, this.transport.maxPayload);
    } catch (err) {
      this.log.debug({ subject: m.subject, err }, 'undecodable message');
      this.answerError(m.reply, asCloudburstError(err));
      return;
    }
    const handler = Object.hasOwn(handlers, msg.t) ? handlers[msg.t] : undefined;
    if (!handler) {
      this.answerError(m.reply, new UnknownMessageType(`${this.kind} does not handle messages of type "${msg.t}"`));
      return;
    }
    const ctx: MessageContext = { subject: m.subject, reply: m.reply };
    let result: unknown;
    try {
      result = handler(msg, ctx);
    } catch (err) {
      this.answerError(m.reply, asCloudburstError(err));
      return;
    }
    if (result instanceof Promise) {
      const done = result.then(
        (body: unknown) => this.answer(m.reply, body),
        (err: unknown) => this.answerError(m.reply, asCloudburstError(err)),
      );
      this.inFlight.add(done);
      void done.finally(() => this.inFlight.delete(done));
    } else {
      this.answer(m.reply, result);
    }
  }

  private answer(reply: string | undefined, body: unknown): void {
    if (reply === undefined || body === NO_REPLY) return;
    this.send(reply, encodeReply(body, this.transport.maxPayload));
  }

  private answerError(reply: string | undefined, err: CloudburstError): void {
    if (err.code === 'INTERNAL_ERROR') this.log.error({ err: err.cause ?? err }, 'request failed');
    if (reply !== undefined) this.send(reply, encodeError(err));
  }

  private send(subject: string, data: Uint8Array): void {
    try {
      this.transport.publish(subject, data);
    } catch (err) {
      this.log.debug({ err, subject }, 'reply not sent');
    }
  }
}
