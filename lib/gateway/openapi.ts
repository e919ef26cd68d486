// The OpenAPI 3.1 description the gateway serves at GET /openapi.json,
// written out as a plain object: the routes are few, and a generator would be
// one more dependency to keep for them. Its options and error statuses come
// from the tables the routes use (options.ts, status.ts), so the three cannot
// drift apart on those.

import { OPTIONS, type OptionName } from './options.js';
import { GATEWAY_CODES, STATUS_BY_CODE } from './status.js';

type Json = Record<string, unknown>;

/** An option's header as the docs spell it: Cloudburst-Timeout-Ms. */
export function headerName(name: OptionName): string {
  return OPTIONS[name].header.replace(/(^|-)([a-z])/g, (_m: string, dash: string, c: string) => dash + c.toUpperCase());
}

/** An option as its two parameters, header and query. */
function parameters(...names: OptionName[]): Json[] {
  return names.flatMap((name) => {
    const o = OPTIONS[name];
    const header = headerName(name);
    return [
      { name: header, in: 'header', required: false, schema: o.schema, description: o.description },
      { name: o.query, in: 'query', required: false, schema: o.schema, description: `${o.description} (the same as the ${header} header)` },
    ];
  });
}

const KEY_PARAM: Json = {
  name: 'key',
  in: 'path',
  required: true,
  schema: { type: 'string', minLength: 1 },
  description: 'the key; it may hold slashes (everything after /kv/ is the key). Keys starting with the reserved prefix are refused',
};

/** Codes answered with `status`, for a response's description. */
function codesOf(status: number): string {
  return Object.entries(STATUS_BY_CODE)
    .filter(([, s]) => s === status)
    .map(([code]) => code)
    .join(', ');
}

function errorResponse(status: number, what: string): Json {
  return { description: `${what} (code ${codesOf(status)})`, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
}

const COMMON_ERRORS: Json = {
  '400': errorResponse(400, 'a bad option, a body that is not JSON or not of the right shape, or arguments the function\'s schema refuses'),
  '413': errorResponse(413, 'the body is over the gateway\'s limit, or a message would be over the cluster\'s'),
  '500': { description: 'anything else (code as the cluster gave it, e.g. INTERNAL_ERROR)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '503': errorResponse(503, 'no executor, router or shard can take it now, NATS is unreachable, or the gateway is full or stopping; Retry-After says when to try again'),
};

const CALL_ERRORS: Json = {
  ...COMMON_ERRORS,
  '404': errorResponse(404, 'no function or DAG is registered under that name'),
  '409': errorResponse(409, 'an atomic call met a conflicting transaction, or a serializable one kept meeting locks until its deadline: nothing was committed, and calling again starts afresh'),
  '422': errorResponse(422, 'the function threw: the message is its own'),
  '504': errorResponse(504, 'the call did not finish by its deadline and was cancelled'),
};

const ANY_JSON: Json = { description: 'any JSON value' };

export function openApiDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'cloudburst HTTP gateway',
      version: '1',
      description:
        'Calls functions and DAGs of a cloudburst cluster and reads and writes its keys over HTTP. The gateway is a NATS client of ' +
        'the cluster like any SDK client; it has no authentication of its own (docs/operations.md, "HTTP gateway"). Every option ' +
        'can be given as a header or as a query parameter. Errors answer { code, message, data? } with the code an SDK client would get.',
    },
    paths: {
      '/call/{fn}': {
        post: {
          summary: 'Call a function',
          operationId: 'call',
          parameters: [
            { name: 'fn', in: 'path', required: true, schema: { type: 'string' }, description: 'the function\'s registered name' },
            ...parameters('consistency', 'atomic', 'isolation', 'timeoutMs', 'idempotencyKey', 'exactlyOnce'),
          ],
          requestBody: {
            required: false,
            description: 'the arguments, after cb (none when the body is empty)',
            content: { 'application/json': { schema: { type: 'array', items: ANY_JSON } } },
          },
          responses: {
            '200': { description: 'what the function returned, as JSON (undefined as null, bytes as base64, Sets as arrays, Maps as objects)', content: { 'application/json': { schema: ANY_JSON } } },
            ...CALL_ERRORS,
          },
        },
      },
      '/dag/{name}': {
        post: {
          summary: 'Call a DAG',
          operationId: 'callDag',
          parameters: [
            { name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'the DAG\'s registered name' },
            ...parameters('consistency', 'atomic', 'timeoutMs', 'idempotencyKey', 'exactlyOnce', 'outputKey'),
          ],
          requestBody: {
            required: false,
            description: 'each function\'s own arguments by its name (a function left out gets none); upstream results follow them',
            content: { 'application/json': { schema: { type: 'object', additionalProperties: { type: 'array', items: ANY_JSON } } } },
          },
          responses: {
            '200': { description: 'the sink\'s result, as JSON', content: { 'application/json': { schema: ANY_JSON } } },
            ...CALL_ERRORS,
          },
        },
      },
      '/kv/{key}': {
        get: {
          summary: 'Read a key',
          operationId: 'get',
          parameters: [KEY_PARAM, ...parameters('all', 'lattice')],
          responses: {
            '200': {
              description:
                'the value: a plain value as it was put; a set lattice as an array, a map lattice as an object, a max-int as a number, ' +
                'a causal value as the array of its concurrent versions; with lattice=true, { kind, data }',
              content: { 'application/json': { schema: ANY_JSON } },
            },
            '404': errorResponse(404, `the key holds no value (code ${GATEWAY_CODES.keyNotFound})`),
            ...COMMON_ERRORS,
          },
        },
        put: {
          summary: 'Write a key (last writer wins)',
          operationId: 'put',
          parameters: [KEY_PARAM, ...parameters('ttlMs')],
          requestBody: { required: true, description: 'the value, which replaces what the key held', content: { 'application/json': { schema: ANY_JSON } } },
          responses: {
            '204': { description: 'stored' },
            '409': errorResponse(409, 'the key holds a lattice of another kind'),
            ...COMMON_ERRORS,
          },
        },
        delete: {
          summary: 'Delete a key',
          operationId: 'delete',
          parameters: [KEY_PARAM],
          responses: { '204': { description: 'deleted (also when it held nothing)' }, ...COMMON_ERRORS },
        },
      },
      '/healthz': {
        get: {
          summary: 'Liveness, and with cluster=true whether a router answers',
          operationId: 'health',
          parameters: [{ name: 'cluster', in: 'query', required: false, schema: { type: 'boolean' }, description: 'also ask a router for the cluster\'s status' }],
          responses: {
            '200': {
              description: 'serving',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['status', 'inFlight'],
                    properties: {
                      status: { const: 'ok' },
                      inFlight: { type: 'integer', description: 'requests to the cluster outstanding' },
                      router: { type: 'string', description: 'with cluster=true: the router that answered' },
                      nodes: { type: 'integer', description: 'with cluster=true: nodes that router knows' },
                    },
                  },
                },
              },
            },
            '503': errorResponse(503, 'with cluster=true: no router answered'),
            '504': errorResponse(504, 'with cluster=true: no router answered in time'),
          },
        },
      },
      '/openapi.json': {
        get: { summary: 'This description', operationId: 'openapi', responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: ANY_JSON } } } } },
      },
    },
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: {
            code: { type: 'string', description: 'stable code of the failure, as lib/errors.ts names it (or KEY_NOT_FOUND, NOT_FOUND from the gateway)' },
            message: { type: 'string' },
            data: { type: 'object', description: 'fields the error carries (the function\'s name, the deadline, ...)' },
          },
        },
      },
    },
  };
}
