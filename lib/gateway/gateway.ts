// The HTTP gateway: an HTTP server (fastify) in front of one SDK connection
// to the cluster, so anything that speaks HTTP can call functions and DAGs
// and read and write keys. It is a NATS client of the cluster like any
// other: no node knows it is there. Routes are in routes.ts.
//
// fastify rather than hono: this runs on Node only, where fastify is the
// framework with the most use and upkeep, has body limits, request timeouts
// and graceful close built in, and speaks to Node's own http server (whose
// timeouts drop slow clients) without an adapter in between.

import type { AddressInfo } from 'node:net';
import { fastify, type FastifyInstance } from 'fastify';
import type { Cloudburst } from '../client/cloudburst.js';
import { Closed, InvalidArgument } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { GATEWAY_DEFAULTS } from './defaults.js';
import { registerRoutes, sendError } from './routes.js';

export interface GatewayOptions {
  /** TCP port; 0 takes a free one (see `url`). Default 0. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1: put it behind a proxy, or give 0.0.0.0 on purpose. */
  host?: string;
  /** Largest request body in bytes; a larger one is answered 413. Default DEFAULT_MAX_MESSAGE_BYTES (64 MiB), the cluster's own limit. */
  bodyLimitBytes?: number;
  /**
   * How long a client may take to send a whole request, headers and body;
   * past it the connection is answered 408 and closed, so a client that
   * sends half a request and idles holds nothing for long. Default 30 s.
   */
  requestTimeoutMs?: number;
  /** How long a client may take to send the headers (at most requestTimeoutMs). Default 10 s, or requestTimeoutMs if less. */
  headersTimeoutMs?: number;
  /** How long a kept-alive connection may sit idle between requests. Default 72 s (above the 60 s idle timeout of common load balancers). */
  keepAliveTimeoutMs?: number;
  /** Connections open at once; more are closed as they arrive. Default 1000. */
  maxConnections?: number;
  /** Requests to the cluster outstanding at once; past it, 503 NO_CAPACITY at once. Default 1024. */
  maxInFlight?: number;
  /** Longest deadline a request may ask for. Default 5 minutes. */
  maxTimeoutMs?: number;
  /** How long close() lets requests under way finish before it cuts their connections. Default 10 s. */
  closeGraceMs?: number;
  log?: Logger;
}

export { GATEWAY_DEFAULTS };

/** Longest a route param (a function name) may be; fastify's default of 100 would turn a long name into a 404. */
const MAX_PARAM_LENGTH = 4096;

function positive(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 1)) throw new InvalidArgument(`gateway ${name} must be a whole number >= 1, not ${value}`);
  return value;
}

export class Gateway {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly app: FastifyInstance,
    private readonly state: { closing: boolean },
    /** Where it listens: http://host:port. */
    readonly url: string,
    readonly port: number,
    private readonly closeGraceMs: number,
  ) {}

  /**
   * Serves the routes on `client`'s connection. The gateway does not own
   * the client: whoever connected it closes it, after `close()`.
   */
  static async start(client: Cloudburst, opts: GatewayOptions = {}): Promise<Gateway> {
    const o = { ...GATEWAY_DEFAULTS, ...definedOnly(opts) };
    const requestTimeout = positive('requestTimeoutMs', o.requestTimeoutMs);
    const headersTimeout = Math.min(positive('headersTimeoutMs', o.headersTimeoutMs), requestTimeout);
    const app = fastify({
      logger: false,
      bodyLimit: positive('bodyLimitBytes', o.bodyLimitBytes),
      requestTimeout,
      keepAliveTimeout: positive('keepAliveTimeoutMs', o.keepAliveTimeoutMs),
      // Node checks request and header timeouts on this period (30 s by
      // default, which would let a slow client sit well past its timeout).
      http: { requestTimeout, headersTimeout, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))) },
      routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
      // Requests that arrive while close() waits get 503 from the onRequest hook below.
      return503OnClosing: false,
      forceCloseConnections: 'idle',
    });
    // Every body is read as JSON, whatever its Content-Type says (curl -d
    // sends form encoding); an empty one is no body. fastify's JSON parser
    // refuses __proto__ and constructor keys.
    app.removeAllContentTypeParsers();
    const json = app.getDefaultJsonParser('error', 'error');
    app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
      if (body.length === 0) done(null, undefined);
      else void json(req, body as string, done);
    });
    // Once close() is called, each answer also closes its connection: a
    // kept-alive connection that outlived its request would otherwise hold
    // the close open until closeGraceMs.
    const state = { closing: false };
    app.addHook('onSend', async (_req, reply) => {
      if (state.closing) void reply.header('connection', 'close');
    });
    // A request that reaches a route once close() is called: 503 CLOSED in
    // the gateway's own shape (fastify's return503OnClosing has another).
    app.addHook('onRequest', async (_req, reply) => {
      if (state.closing) return sendError(reply, new Closed('this gateway is stopping: send the request again, to another gateway or once it is back'));
    });
    registerRoutes(app, {
      client,
      maxTimeoutMs: positive('maxTimeoutMs', o.maxTimeoutMs),
      maxInFlight: positive('maxInFlight', o.maxInFlight),
      healthTimeoutMs: 2000,
      log: o.log ?? createLogger('gateway'),
    });
    app.server.maxConnections = positive('maxConnections', o.maxConnections);
    try {
      await app.listen({ port: o.port, host: o.host });
    } catch (err) {
      await app.close();
      throw err;
    }
    const address = app.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return new Gateway(app, state, `http://${host}:${address.port}`, address.port, o.closeGraceMs);
  }

  /**
   * Stops taking connections, lets requests under way finish (new ones on
   * kept-alive connections get 503) for up to closeGraceMs, then cuts what is
   * left. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state.closing = true;
      const cut = setTimeout(() => this.app.server.closeAllConnections(), this.closeGraceMs);
      try {
        await this.app.close();
      } finally {
        clearTimeout(cut);
      }
    })();
    return this.closing;
  }
}

/** `opts` without its undefined fields, so they do not hide the defaults. */
function definedOnly<T extends object>(opts: T): Partial<T> {
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<T>;
}
