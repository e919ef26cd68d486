// The base of every node (KVS shard, executor, router): it owns one transport,
// serves typed messages on its subjects, answers every request with a typed
// reply (never a crash, whatever bytes arrive), announces itself with
// heartbeats, and drains in-flight work before it stops. Requests and answers
// larger than the server's max_payload travel in pieces (chunking.ts), up to
// `maxMessageBytes`; handlers see whole messages either way.

import { randomUUID } from 'node:crypto';
import { decodeMessage, encodeMessage, str, type Envelope } from '../codec/index.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../config.js';
import { DEFAULT_TIMEOUT_MS } from '../deadline.js';
import { CloudburstError, InvalidArgument, MalformedMessage, UnknownMessageType, asCloudburstError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { requestMetrics, type Outcome } from '../node_metrics.js';
import type { Subjects } from '../subjects.js';
import {
  CHUNK,
  CHUNKED,
  CHUNK_ACK,
  CHUNK_GET,
  Incoming,
  Outgoing,
  TransferTable,
  pieceBytes,
  transferSubjectOf,
} from './chunking.js';
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
  /** Largest request or answer, in bytes. Default DEFAULT_MAX_MESSAGE_BYTES (64 MiB). */
  maxMessageBytes?: number;
  /** Served over HTTP while the node runs; none, no server. */
  metrics?: Metrics;
  /** Restarts by a supervisor before this start (CommonConfig.restarts); reported in heartbeats. */
  restarts?: number;
}

/** What a node says of itself in each heartbeat. */
export interface Heartbeat {
  id: string;
  kind: NodeKind;
  /** The subject that reaches this node alone. */
  subject: string;
  startedAt: number;
  /**
   * Random per start of the node (never reused): a heartbeat under the same id
   * with another incarnation means the node restarted, and whatever the old
   * one was running is lost. Absent only where a member was learnt second-hand.
   */
  incarnation?: string;
  at: number;
  /** `at - startedAt`, by the node's own clock. */
  uptimeMs?: number;
  /** Times a supervisor (`cloudburst up`) restarted the node after it exited; absent when no supervisor runs it. */
  restarts?: number;
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
  protected readonly heartbeatMs: number;
  /** The node's Prometheus metrics, when it has a metrics port (subclasses add theirs). */
  protected readonly metrics: Metrics | undefined;
  private readonly requests: ReturnType<typeof requestMetrics> | undefined;
  /** Largest request this node takes and answer it sends. */
  protected readonly maxMessageBytes: number;
  /** Requests arriving in pieces: what is in so far, and whose handlers take them. */
  private readonly incoming = new TransferTable<PendingRequest>();
  /** Answers too large for one message, kept until fetched or their deadline. */
  private readonly outgoing = new TransferTable<Outgoing>();
  private transferSub: Subscription | undefined;
  private readonly startedAt = Date.now();
  private readonly restarts: number | undefined;
  /** See Heartbeat.incarnation. A clock could repeat (restarted in the same ms, or set back); 122 random bits do not. */
  readonly incarnation = randomUUID();
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
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.metrics = opts.metrics;
    this.restarts = opts.restarts;
    this.requests = opts.metrics && requestMetrics(opts.metrics);
    if (!Number.isSafeInteger(this.maxMessageBytes) || this.maxMessageBytes < 1) {
      throw new InvalidArgument(`maxMessageBytes must be a positive integer, not ${this.maxMessageBytes}`);
    }
  }

  /** Where this node takes the later pieces of requests and hands out pieces of its large answers. */
  get transferSubject(): string {
    return transferSubjectOf(this.subject);
  }

  /** Serves `handlers` (by message type) on `subject`. */
  protected serve(subject: string, handlers: Record<string, Handler>, queue?: string): void {
    this.serveTransfers();
    const sub = this.transport.subscribe(subject, (m) => this.dispatch(m, handlers), queue ? { queue } : {});
    this.subs.push(sub);
  }

  /** Subscribes the transfer subject, once `subject` is known (subclasses set it before serving). */
  private serveTransfers(): void {
    if (this.transferSub || typeof this.subject !== 'string') return;
    this.transferSub = this.transport.subscribe(this.transferSubject, (m) => this.onTransfer(m));
  }

  /** Transfers in progress: requests arriving in pieces, and kept answers not yet fetched. */
  protected get transfersInProgress(): number {
    return this.incoming.size + this.outgoing.size;
  }

  /** Resolves once no transfer, in either direction, is in progress. */
  protected async transfersIdle(): Promise<void> {
    while (this.incoming.size > 0 || this.outgoing.size > 0) {
      await Promise.all([this.incoming.idle(), this.outgoing.idle()]);
    }
  }

  /** Subscribes and starts heartbeats; the node is reachable when this resolves. */
  async start(): Promise<void> {
    // First: a port already taken fails the start before the node is announced.
    const metricsPort = await this.metrics?.listen();
    // A role without a subject this node uses is a deployment mistake (or a
    // subject the role leaves out on purpose): say which, once per refusal.
    this.transport.onRefused?.((r) => this.log.warn({ subject: r.subject, operation: r.operation }, 'NATS refused a subject: the node\'s role does not allow it'));
    this.serveTransfers();
    this.serve(this.subjects.membersPing, { ping: () => (this.heartbeat(), NO_REPLY) });
    this.heartbeat();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.heartbeatTimer.unref();
    await this.transport.flush();
    this.log.info({ id: this.id, kind: this.kind, subject: this.subject, metricsPort }, 'node started');
  }

  /** Says goodbye, lets in-flight requests answer, then closes the connection. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    await this.beforeStop();
    clearInterval(this.heartbeatTimer);
    for (const sub of this.subs) sub.unsubscribe();
    try {
      this.transport.publish(this.subjects.members, encodeMessage('leave', { id: this.id, kind: this.kind, incarnation: this.incarnation }));
    } catch {
      // Already closed: nobody to tell.
    }
    // Requests already taken finish, and so do transfers under way (the rest
    // of a request's pieces, an answer's pieces not yet fetched): the
    // transfer subject stays subscribed until then, and each transfer ends by
    // its deadline at the latest.
    while (this.inFlight.size > 0 || this.incoming.size > 0 || this.outgoing.size > 0) {
      await Promise.allSettled([...this.inFlight, this.transfersIdle()]);
    }
    this.transferSub?.unsubscribe();
    await this.onStop();
    await this.metrics?.close();
    await this.transport.drain();
    this.log.info({ id: this.id, kind: this.kind }, 'node stopped');
  }

  /** Work to finish while the node still serves (a shard hands its data off). */
  protected async beforeStop(): Promise<void> {}

  /** Releases what the node holds (pools, files) after the last request. */
  protected async onStop(): Promise<void> {}

  /** Requests taken and not yet answered. */
  protected get requestsInFlight(): number {
    return this.inFlight.size;
  }

  /** Where the node serves its metrics (`http://host:<port>/metrics`), once started with a metrics port. */
  get metricsPort(): number | undefined {
    return this.metrics?.port;
  }

  /** Extra fields for heartbeats (load, cached keys, ...). */
  protected heartbeatFields(): Record<string, unknown> {
    return {};
  }

  /** Sends a heartbeat now, e.g. when the node's state changed. */
  protected heartbeat(): void {
    const at = Date.now();
    const hb: Heartbeat = {
      ...this.heartbeatFields(),
      id: this.id,
      kind: this.kind,
      subject: this.subject,
      startedAt: this.startedAt,
      incarnation: this.incarnation,
      at,
      uptimeMs: at - this.startedAt,
      ...(this.restarts === undefined ? {} : { restarts: this.restarts }),
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
    if (msg.t === CHUNK) {
      this.firstPiece(msg, m, handlers);
      return;
    }
    this.handle(msg, { subject: m.subject, reply: m.reply }, handlers);
  }

  private handle(msg: Envelope, ctx: MessageContext, handlers: Record<string, Handler>): void {
    const handler = Object.hasOwn(handlers, msg.t) ? handlers[msg.t] : undefined;
    if (!handler) {
      this.answerError(ctx.reply, new UnknownMessageType(`${this.kind} does not handle messages of type "${msg.t}"`));
      return;
    }
    const deadline = deadlineOf(msg);
    const served = this.requests?.start(msg.t);
    let result: unknown;
    try {
      result = handler(msg, ctx);
    } catch (err) {
      this.answerError(ctx.reply, asCloudburstError(err), served);
      return;
    }
    if (result instanceof Promise) {
      const done = result.then(
        (body: unknown) => this.answer(ctx.reply, body, deadline, served),
        (err: unknown) => this.answerError(ctx.reply, asCloudburstError(err), served),
      );
      this.inFlight.add(done);
      void done.finally(() => this.inFlight.delete(done));
    } else {
      this.answer(ctx.reply, result, deadline, served);
    }
  }

  /** Piece 0 of a large request, on a served subject: keep it and name the subject for the rest. */
  private firstPiece(msg: Envelope, m: InboundMessage, handlers: Record<string, Handler>): void {
    try {
      // Over the limit is PayloadTooLarge here, before anything is kept.
      const pieces = Incoming.first(msg, this.maxMessageBytes);
      this.incoming.open(pieces.id, deadlineOf(msg), { pieces, handlers, subject: m.subject });
      this.reply(m.reply, encodeMessage(CHUNK_ACK, { subject: this.transferSubject }));
    } catch (err) {
      this.answerError(m.reply, asCloudburstError(err));
    }
  }

  /** Messages on the transfer subject: later pieces of requests, and fetches of pieces of answers. */
  private onTransfer(m: InboundMessage): void {
    try {
      const msg = decodeMessage(m.data, this.transport.maxPayload);
      if (msg.t === CHUNK) this.nextPiece(msg, m.reply);
      else if (msg.t === CHUNK_GET) this.reply(m.reply, this.answerPiece(msg));
      else throw new UnknownMessageType(`a transfer subject takes only ${CHUNK} and ${CHUNK_GET}, not "${msg.t}"`);
    } catch (err) {
      this.answerError(m.reply, asCloudburstError(err));
    }
  }

  private nextPiece(msg: Envelope, reply: string | undefined): void {
    const id = str(msg, 'id');
    const pending = this.incoming.get(id);
    let whole: Uint8Array | undefined;
    try {
      whole = pending.pieces.accept(msg);
    } catch (err) {
      this.incoming.end(id, 'aborted');
      throw err;
    }
    if (whole === undefined) {
      this.reply(reply, encodeMessage(CHUNK_ACK, {}));
      return;
    }
    this.incoming.end(id, 'finished');
    const request = decodeMessage(whole, this.maxMessageBytes);
    if (request.t === CHUNK) throw new MalformedMessage(`transfer ${id} holds another piece, not a request`);
    // The answer to the whole request is the answer to its last piece.
    this.handle(request, { subject: pending.subject, reply }, pending.handlers);
  }

  private answerPiece(msg: Envelope): Uint8Array {
    const id = str(msg, 'id');
    const out = this.outgoing.get(id);
    let piece: Uint8Array;
    try {
      piece = out.message(CHUNK, msg['i'] as number, this.transport.maxPayload);
    } catch (err) {
      this.outgoing.end(id, 'aborted');
      throw err;
    }
    if (out.done) this.outgoing.end(id, 'finished');
    return piece;
  }

  /** Sends a handler's answer; `served` (metrics) hears how the request ended. */
  private answer(reply: string | undefined, body: unknown, deadline: number, served?: Outcome): void {
    served?.('ok');
    if (reply === undefined || body === NO_REPLY) return;
    const bytes = encodeReply(body, this.maxMessageBytes);
    if (bytes.byteLength <= this.transport.maxPayload) {
      this.reply(reply, bytes);
      return;
    }
    // Too large for one message: keep it and send piece 0 with where to fetch the rest.
    try {
      const out = new Outgoing(bytes, pieceBytes(this.transport.maxPayload));
      const first = out.message(CHUNKED, 0, this.transport.maxPayload, { subject: this.transferSubject });
      this.outgoing.open(out.id, deadline, out);
      this.reply(reply, first);
    } catch (err) {
      this.answerError(reply, asCloudburstError(err));
    }
  }

  private answerError(reply: string | undefined, err: CloudburstError, served?: Outcome): void {
    served?.(err.code);
    if (err.code === 'INTERNAL_ERROR') this.log.error({ err: err.cause ?? err }, 'request failed');
    this.reply(reply, encodeError(err));
  }

  private reply(subject: string | undefined, data: Uint8Array): void {
    if (subject === undefined) return;
    try {
      this.transport.publish(subject, data);
    } catch (err) {
      this.log.debug({ err, subject }, 'reply not sent');
    }
  }
}

interface PendingRequest {
  pieces: Incoming;
  handlers: Record<string, Handler>;
  /** Where piece 0 arrived: the subject the handler sees. */
  subject: string;
}

/** The request's deadline, or the default one for a message that carries none. */
function deadlineOf(msg: Envelope): number {
  const deadline = msg['deadline'];
  return typeof deadline === 'number' && Number.isFinite(deadline) ? deadline : Date.now() + DEFAULT_TIMEOUT_MS;
}
