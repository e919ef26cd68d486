// The gateway's routes: each one is a call of the SDK on the gateway's
// connection, its body and options read from the request, its answer written
// as JSON. What a route may be asked is in openapi.ts; what each error
// becomes is in status.ts.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Cloudburst } from '../client/cloudburst.js';
import { CloudburstError, InvalidArgument, NoCapacity, PayloadTooLarge, asCloudburstError } from '../errors.js';
import type { Logger } from '../log.js';
import { toJson } from './json.js';
import { openApiDocument } from './openapi.js';
import { callOptions, dagCallOptions, getOptions, putOptions } from './options.js';
import { GATEWAY_CODES, errorReply, retryAfterSeconds } from './status.js';

export interface RouteContext {
  client: Cloudburst;
  /** Deadline a request may ask for at most. */
  maxTimeoutMs: number;
  /** Requests to the cluster outstanding at once; one more is answered 503 NO_CAPACITY at once. */
  maxInFlight: number;
  /** How long GET /healthz?cluster=true waits for a router. */
  healthTimeoutMs: number;
  log: Logger;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** GET /kv/:key of a key that holds no value (the SDK returns undefined; HTTP answers 404). */
class KeyNotFound extends CloudburstError {
  override readonly code = GATEWAY_CODES.keyNotFound;
}
/** A path or method the gateway does not serve. */
class RouteNotFound extends CloudburstError {
  override readonly code = GATEWAY_CODES.routeNotFound;
}

function sendJson(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.code(status).type(JSON_TYPE).send(text);
}

export function sendError(reply: FastifyReply, err: unknown, log?: Logger): FastifyReply {
  const { status, body } = errorReply(err);
  if (status >= 500 && status !== 503 && status !== 504) log?.warn({ err: asCloudburstError(err), code: body.code }, 'gateway: request failed');
  const retry = retryAfterSeconds(status);
  if (retry !== undefined) void reply.header('retry-after', String(retry));
  return sendJson(reply, status, toJson(body));
}

/**
 * Errors fastify raises before a handler runs (the body), in the gateway's
 * own shape: a body over the limit is PAYLOAD_TOO_LARGE, one that is not JSON
 * INVALID_ARGUMENT, like any other request the gateway cannot act on.
 */
function fromFastify(err: unknown): unknown {
  if (err instanceof CloudburstError || typeof err !== 'object' || err === null) return err;
  const { code, statusCode, message } = err as { code?: unknown; statusCode?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : 'bad request';
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || statusCode === 413) {
    return new PayloadTooLarge('the request body is larger than this gateway takes (its --body-limit)', { cause: err });
  }
  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return new InvalidArgument('the request body is not JSON', { cause: err });
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) return new InvalidArgument(text, { cause: err });
  return err;
}

export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { client } = ctx;
  let inFlight = 0;

  /** Runs `work` against the cluster unless maxInFlight requests already are; answers its result as JSON. */
  const limited = async (reply: FastifyReply, work: () => Promise<{ status: number; json?: string }>): Promise<FastifyReply> => {
    if (inFlight >= ctx.maxInFlight) {
      return sendError(reply, new NoCapacity(`this gateway has ${ctx.maxInFlight} requests to the cluster outstanding, its --max-in-flight: try again shortly`));
    }
    inFlight++;
    try {
      const { status, json } = await work();
      return json === undefined ? reply.code(status).send() : sendJson(reply, status, json);
    } catch (err) {
      return sendError(reply, err, ctx.log);
    } finally {
      inFlight--;
    }
  };

  app.setErrorHandler((err, _req, reply) => sendError(reply, fromFastify(err), ctx.log));

  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new RouteNotFound(`no route ${req.method} ${req.url.split('?')[0]}: see GET /openapi.json for what this gateway serves`)),
  );

  app.post<{ Params: { fn: string } }>('/call/:fn', (req, reply) =>
    limited(reply, async () => {
      const args = req.body ?? [];
      if (!Array.isArray(args)) throw new InvalidArgument('the body of POST /call/:fn must be a JSON array of the function\'s arguments');
      const opts = callOptions(req, ctx.maxTimeoutMs);
      return { status: 200, json: toJson(await client.call(req.params.fn, args, opts)) };
    }),
  );

  app.post<{ Params: { name: string } }>('/dag/:name', (req, reply) =>
    limited(reply, async () => {
      const args = dagArgs(req.body);
      const opts = dagCallOptions(req, ctx.maxTimeoutMs);
      return { status: 200, json: toJson(await client.callDag(req.params.name, args, opts)) };
    }),
  );

  app.get<{ Params: { '*': string } }>('/kv/*', (req, reply) =>
    limited(reply, async () => {
      const key = req.params['*'];
      const opts = getOptions(req);
      const lattice = await client.getLattice(key, { all: opts.all });
      if (lattice === undefined) throw new KeyNotFound(`key "${key}" holds no value`, { data: { key } });
      return { status: 200, json: toJson(opts.lattice ? { kind: lattice.kind, data: lattice.toData() } : lattice.reveal()) };
    }),
  );

  app.put<{ Params: { '*': string } }>('/kv/*', (req, reply) =>
    limited(reply, async () => {
      if (req.body === undefined) throw new InvalidArgument('PUT /kv/:key needs the value as a JSON body');
      await client.put(req.params['*'], req.body, putOptions(req));
      return { status: 204 };
    }),
  );

  app.delete<{ Params: { '*': string } }>('/kv/*', (req, reply) =>
    limited(reply, async () => {
      await client.delete(req.params['*']);
      return { status: 204 };
    }),
  );

  const openapi = toJson(openApiDocument());
  app.get('/openapi.json', (_req, reply) => sendJson(reply, 200, openapi));

  app.get('/healthz', async (req: FastifyRequest<{ Querystring: { cluster?: string } }>, reply) => {
    const deep = req.query.cluster;
    if (deep === undefined || deep === 'false' || deep === '0') return sendJson(reply, 200, toJson({ status: 'ok', inFlight }));
    try {
      const status = await client.status({ timeoutMs: ctx.healthTimeoutMs });
      return sendJson(reply, 200, toJson({ status: 'ok', inFlight, router: status.router, nodes: status.members.length }));
    } catch (err) {
      return sendError(reply, err);
    }
  });
}

/** The body of POST /dag/:name: each function's arguments by its name; none is `{}`. */
function dagArgs(body: unknown): Record<string, unknown[]> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidArgument('the body of POST /dag/:name must be a JSON object: each function\'s name to the array of its arguments');
  }
  for (const [fn, args] of Object.entries(body)) {
    if (!Array.isArray(args)) throw new InvalidArgument(`the arguments of "${fn}" in the body must be a JSON array`);
  }
  return body as Record<string, unknown[]>;
}
