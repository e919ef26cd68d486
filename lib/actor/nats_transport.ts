// Transport over a NATS connection. Reconnects forever (a node outlives NATS
// restarts) and maps NATS failures (refused credentials, requests, subjects a
// role may not use) onto our typed errors.

import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { Closed, CloudburstError, DeadlineExceeded, NoCapacity, Unauthorized, Unavailable, asCloudburstError } from '../errors.js';
import type { InboundMessage, Refusal, SubscribeOptions, Subscription, Transport } from './transport.js';
import { DEFAULT_MAX_PAYLOAD } from '../codec/index.js';
import { describeNatsAuth, natsAuthOptions, type NatsAuth } from './nats_auth.js';

export interface NatsTransportOptions {
  /** NATS URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Shown in the server's connection list. */
  name?: string;
  /** Credentials and TLS (nats_auth.ts). */
  auth?: NatsAuth;
  /** Extra NATS options, passed through as they are (they win over `auth`). */
  nats?: Partial<ConnectionOptions>;
}

export class NatsTransport implements Transport {
  private readonly refusalListeners = new Set<(refusal: Refusal) => void>();

  private constructor(private readonly nc: NatsConnection, readonly connectionName: string) {
    void this.watchRefusals();
  }

  /**
   * A publish the server refuses fails nowhere else: NATS answers it with an
   * error on the connection, which nats.js reports only in its status events.
   * A refused subscription is also reported there (its handler just never runs).
   */
  private async watchRefusals(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type !== 'error' || s.error.name !== 'PermissionViolationError') continue;
      const e = s.error as Error & { operation?: string; subject?: string };
      const refusal: Refusal = {
        operation: e.operation === 'subscription' ? 'subscribe' : 'publish',
        subject: e.subject ?? '',
        error: new Unauthorized(`NATS refused to let this user ${e.operation === 'subscription' ? 'subscribe to' : 'publish on'} ${e.subject ?? 'a subject'} (see the roles in docs/security.md)`, {
          cause: e,
          data: { subject: e.subject, operation: e.operation },
        }),
      };
      for (const listener of this.refusalListeners) listener(refusal);
    }
  }

  onRefused(listener: (refusal: Refusal) => void): () => void {
    this.refusalListeners.add(listener);
    return () => this.refusalListeners.delete(listener);
  }

  static async connect(opts: NatsTransportOptions): Promise<NatsTransport> {
    const name = opts.name ?? 'cloudburst';
    const options = {
      servers: opts.servers,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // Requests wait through a reconnect instead of failing at once.
      waitOnFirstConnect: false,
      // nats.js builds two errors with stack traces for every request by
      // default; that was 5% of a KVS client's CPU, for traces we never show.
      noAsyncTraces: true,
      ...natsAuthOptions(opts.auth),
      ...opts.nats,
    };
    try {
      return new NatsTransport(await connect(options), name);
    } catch (err) {
      throw mapConnectError(err, opts);
    }
  }

  get maxPayload(): number {
    return this.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  get closed(): Promise<void> {
    return this.nc.closed().then(() => undefined);
  }

  publish(subject: string, data: Uint8Array, reply?: string): void {
    if (this.nc.isClosed()) throw new Closed('connection is closed');
    this.nc.publish(subject, data, reply === undefined ? undefined : { reply });
  }

  subscribe(subject: string, handler: (msg: InboundMessage) => void, opts: SubscribeOptions = {}): Subscription {
    const sub = this.nc.subscribe(subject, {
      ...(opts.queue === undefined ? {} : { queue: opts.queue }),
      callback: (err, m) => {
        if (err) return;
        handler({ subject: m.subject, data: m.data, reply: m.reply || undefined });
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.nc.isClosed() || this.nc.isDraining()) throw new Closed('connection is closed');
    try {
      const m = await this.nc.request(subject, data, { timeout: Math.max(1, Math.ceil(timeoutMs)) });
      // The reply's bytes sit in the connection's read buffer: copy before
      // the next read reuses it.
      return m.data.slice();
    } catch (err) {
      throw mapRequestError(err, subject, timeoutMs);
    }
  }

  flush(): Promise<void> {
    return this.nc.flush();
  }

  async drain(): Promise<void> {
    if (this.nc.isClosed()) return;
    if (this.nc.isDraining()) return this.nc.closed().then(() => undefined);
    await this.nc.drain();
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }
}

function mapConnectError(err: unknown, opts: NatsTransportOptions): Error {
  const e = err as Error;
  // Credentials inside a URL (nats://user:pass@host) stay out of messages.
  const servers = [opts.servers].flat().map((url) => url.replace(/\/\/[^/@]*@/, '//')).join(', ');
  if (e.name === 'AuthorizationError' || e.name === 'UserAuthenticationExpiredError') {
    const passedThrough = opts.nats?.authenticator ?? opts.nats?.user ?? opts.nats?.token;
    const who = passedThrough === undefined ? describeNatsAuth(opts.auth) : 'the credentials in the nats options';
    return new Unauthorized(`NATS at ${servers} refused ${who}: ${e.message}`, { cause: err });
  }
  if (e instanceof CloudburstError) return e;
  // Refused, unreachable, or TLS failed (an untrusted certificate, or TLS on one side only).
  return new Unavailable(`cannot connect to NATS at ${servers}: ${e.message}`, { cause: err });
}

function mapRequestError(err: unknown, subject: string, timeoutMs: number): Error {
  const e = err as Error & { isNoResponders?: () => boolean; cause?: unknown };
  if (e.name === 'TimeoutError' || (e.cause as Error | undefined)?.name === 'TimeoutError') {
    return new DeadlineExceeded(`no answer on ${subject} within ${Math.round(timeoutMs)} ms`, { cause: err });
  }
  if (e.isNoResponders?.() || e.name === 'NoRespondersError') {
    return new NoCapacity(`nobody is listening on ${subject}`, { cause: err });
  }
  if (e.name === 'ClosedConnectionError' || e.name === 'DrainingConnectionError') {
    return new Closed('connection is closed', { cause: err });
  }
  if (e.name === 'PermissionViolationError') {
    return new Unauthorized(`NATS refused to let this user publish on ${subject} (see the roles in docs/security.md)`, {
      cause: err,
      data: { subject, operation: 'publish' },
    });
  }
  return asCloudburstError(err);
}
