// The HTTP gateway against a real cluster (nats-server, shard, executor with
// worker threads, router): every route, every error status, idempotency
// keys, and bad input (malformed JSON, oversize bodies, slow clients, many
// connections) after which it still serves. Then the CLI: `gateway` stops
// cleanly on SIGTERM, and `up --http` serves its cluster.

import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import type { Cb } from '../lib/function_api.js';
import { Gateway, type GatewayOptions } from '../lib/gateway/gateway.js';
import { OPTIONS } from '../lib/gateway/options.js';
import { headerName } from '../lib/gateway/openapi.js';
import { STATUS_BY_CODE, statusFor } from '../lib/gateway/status.js';
import { SetLattice } from '../lib/lattice/index.js';
import { CliProcess } from './fixtures/cli.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

const cluster = await startCluster(t);
const { client } = cluster;

await client.register('add', async (_cb: Cb, a: number, b: number) => a + b);
await client.register('nothing', async () => undefined);
await client.register('bytes', async () => new Uint8Array([1, 2, 3]));
await client.register('fail', async () => {
  throw new Error('boom');
});
await client.register('sleep', async (_cb: Cb, ms: number) => {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ms;
});
await client.register('increment', async (cb: Cb, key: string) => {
  const next = ((await cb.get<number>(key)) ?? 0) + 1;
  await cb.put(key, next);
  return next;
});
await client.register('inc', async (_cb: Cb, x: number) => x + 1);
await client.register('square', async (_cb: Cb, x: number) => x * x);
await client.registerDag('pipeline', ['inc', 'square'], [['inc', 'square']]);
await client.registerDag('count-squared', ['increment', 'square'], [['increment', 'square']]);

async function gateway(t: Test, opts: GatewayOptions = {}): Promise<Gateway> {
  const g = await Gateway.start(client, opts);
  t.teardown(() => g.close());
  return g;
}

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

function post(url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return send(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}

t.test('POST /call: arguments in, the result out as JSON', async (t) => {
  const { url } = await gateway(t);
  const add = await post(`${url}/call/add`, [2, 3]);
  t.equal(add.status, 200);
  t.equal(add.body, 5);
  t.match(add.headers.get('content-type'), /^application\/json/);
  const none = await post(`${url}/call/nothing`);
  t.equal(none.status, 200, 'no body is no arguments');
  t.equal(none.body, null, 'undefined answers null');
  t.equal((await post(`${url}/call/bytes`, [])).body, 'AQID', 'bytes as base64');
  // Without a Content-Type (curl -d sends form encoding), the body is still JSON.
  const plain = await send(`${url}/call/add`, { method: 'POST', body: '[1,1]', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(plain.body, 2);
  t.equal((await post(`${url}/call/add?consistency=rr`, [1, 2], { 'cloudburst-timeout-ms': '5000' })).body, 3, 'options as query and header');
  t.equal((await post(`${url}/call/increment`, ['gw-serial'], { 'cloudburst-isolation': 'serializable' })).body, 1, 'a serializable call');
  t.equal((await post(`${url}/call/increment?isolation=serializable`, ['gw-serial'])).body, 2);
});

t.test('POST /dag: each function\'s arguments by name, the sink\'s result; outputKey stores it', async (t) => {
  const { url } = await gateway(t);
  const res = await post(`${url}/dag/pipeline`, { inc: [2] });
  t.equal(res.status, 200);
  t.equal(res.body, 9, 'square(inc(2))');
  const stored = await post(`${url}/dag/pipeline?outputKey=gw-dag-out`, { inc: [3] });
  t.equal(stored.body, 16);
  t.equal(await client.get('gw-dag-out'), 16);
  t.equal((await post(`${url}/dag/pipeline`, [1])).status, 400, 'an array is not a map of arguments');
  t.equal((await post(`${url}/dag/pipeline`, { inc: 2 })).status, 400, 'each function\'s arguments are an array');
});

t.test('GET, PUT, DELETE /kv: plain values, lattices revealed, keys with slashes, 404 for nothing', async (t) => {
  const { url } = await gateway(t);
  const key = `${url}/kv/gw/some key`;
  t.equal((await send(key, { method: 'PUT', body: JSON.stringify({ a: [1, 'x'] }) })).status, 204);
  t.same((await send(key)).body, { a: [1, 'x'] });
  t.equal(await client.get('gw/some key').then((v) => JSON.stringify(v)), '{"a":[1,"x"]}', 'the SDK reads what HTTP wrote');
  const lattice = await send(`${key}?lattice=true`);
  t.equal((lattice.body as { kind: string }).kind, 'lww');
  t.equal((await send(`${key}?all=1`)).status, 200, 'read every replica');
  t.equal((await send(`${url}/kv/gw-null`, { method: 'PUT', body: 'null' })).status, 204);
  const nul = await send(`${url}/kv/gw-null`);
  t.same([nul.status, nul.body], [200, null], 'a stored null is a value, not a missing key');
  await client.put('gw-set', new SetLattice(['a', 'b']));
  t.same((await send(`${url}/kv/gw-set`)).body, ['a', 'b'], 'a set lattice reads as an array');
  t.equal((await send(`${url}/kv/gw-set`, { method: 'PUT', body: '"plain"' })).status, 409, 'a plain value onto a set is LATTICE_TYPE_MISMATCH');
  t.equal((await send(key, { method: 'DELETE' })).status, 204);
  const gone = await send(key);
  t.equal(gone.status, 404);
  t.same(gone.body, { code: 'KEY_NOT_FOUND', message: 'key "gw/some key" holds no value', data: { key: 'gw/some key' } });
  t.equal((await send(`${url}/kv/gw-empty`, { method: 'PUT' })).status, 400, 'a PUT needs a value');
  t.equal((await send(`${url}/kv/gw-ttl?ttlMs=soon`, { method: 'PUT', body: '1' })).status, 400);
  t.equal((await send(`${url}/kv/gw-ttl?ttlMs=60000`, { method: 'PUT', body: '1' })).status, 204);
});

t.test('GET /openapi.json and /healthz', async (t) => {
  const { url } = await gateway(t);
  const doc = (await send(`${url}/openapi.json`)).body as { openapi: string; paths: Record<string, Record<string, { parameters?: { name: string }[]; responses: object }>> };
  t.equal(doc.openapi, '3.1.0');
  t.same(Object.keys(doc.paths).sort(), ['/call/{fn}', '/dag/{name}', '/healthz', '/kv/{key}', '/openapi.json']);
  const call = doc.paths['/call/{fn}']!['post']!;
  t.same(Object.keys(call.responses).sort(), ['200', '400', '404', '409', '413', '422', '500', '503', '504']);
  const names = new Set(call.parameters!.map((p) => p.name));
  for (const name of ['consistency', 'atomic', 'isolation', 'timeoutMs', 'idempotencyKey', 'exactlyOnce'] as const) {
    t.ok(names.has(headerName(name)) && names.has(OPTIONS[name].query), `${name} as header and query`);
  }
  t.ok(names.has('Idempotency-Key'));
  t.same((await send(`${url}/healthz`)).body, { status: 'ok', inFlight: 0 });
  const deep = await send(`${url}/healthz?cluster=true`);
  t.equal(deep.status, 200);
  t.ok((deep.body as { nodes: number }).nodes >= 3, 'a router answered with the cluster\'s nodes');
});

t.test('each error as its status with { code, message }', async (t) => {
  const { url } = await gateway(t);
  const expect = async (what: string, res: Promise<Answer>, status: number, code: string): Promise<Answer> => {
    const r = await res;
    t.equal(r.status, status, `${what}: ${status}`);
    t.equal((r.body as { code?: string }).code, code, `${what}: ${code}`);
    t.type((r.body as { message?: string }).message, 'string');
    return r;
  };
  await expect('unknown function', post(`${url}/call/no-such-fn`, []), 404, 'FUNCTION_NOT_FOUND');
  await expect('unknown DAG', post(`${url}/dag/no-such-dag`, {}), 404, 'DAG_NOT_FOUND');
  await expect('unknown route', send(`${url}/nowhere`), 404, 'NOT_FOUND');
  await expect('a GET of a call route', send(`${url}/call/add`), 404, 'NOT_FOUND');
  const slow = await expect('past its deadline', post(`${url}/call/sleep`, [3000], { 'cloudburst-timeout-ms': '300' }), 504, 'DEADLINE_EXCEEDED');
  t.match((slow.body as { message: string }).message, /"sleep" was cancelled at its deadline/);
  const threw = await expect('the function threw', post(`${url}/call/fail`, []), 422, 'EXECUTION_ERROR');
  t.match((threw.body as { message: string }).message, /boom/);
  await expect('arguments not an array', post(`${url}/call/add`, { a: 1 }), 400, 'INVALID_ARGUMENT');
  await expect('bad consistency', post(`${url}/call/add`, [1, 2], { 'cloudburst-consistency': 'strong' }), 400, 'INVALID_ARGUMENT');
  await expect('atomic with causal', post(`${url}/call/add?atomic=true&consistency=causal`, [1, 2]), 400, 'INVALID_ARGUMENT');
  await expect('bad isolation', post(`${url}/call/add`, [1, 2], { 'cloudburst-isolation': 'snapshot' }), 400, 'INVALID_ARGUMENT');
  await expect('serializable on a DAG', post(`${url}/dag/pipeline?isolation=serializable`, { inc: [1] }), 400, 'INVALID_ARGUMENT');
  await expect('bad deadline', post(`${url}/call/add?timeoutMs=-5`, [1, 2]), 400, 'INVALID_ARGUMENT');
  await expect('deadline over the limit', post(`${url}/call/add`, [1, 2], { 'cloudburst-timeout-ms': String(24 * 3600_000) }), 400, 'INVALID_ARGUMENT');
  await expect('header and query disagree', post(`${url}/call/add?consistency=rr`, [1, 2], { 'cloudburst-consistency': 'lww' }), 400, 'INVALID_ARGUMENT');
  await expect('a reserved key', send(`${url}/kv/__cb/functions`), 400, 'INVALID_ARGUMENT');
  await expect('an idempotency key too long', post(`${url}/call/add`, [1, 2], { 'idempotency-key': 'k'.repeat(300) }), 400, 'INVALID_ARGUMENT');

  // A gateway with room for one request: a second at once is NO_CAPACITY, and says when to retry.
  const one = await gateway(t, { maxInFlight: 1 });
  const first = post(`${one.url}/call/sleep`, [800]);
  await eventually('the first call is under way', async () => ((await send(`${one.url}/healthz`)).body as { inFlight: number }).inFlight === 1);
  const full = await expect('over --max-in-flight', post(`${one.url}/call/add`, [1, 2]), 503, 'NO_CAPACITY');
  t.equal(full.headers.get('retry-after'), '1');
  t.equal((await first).body, 800, 'the call under way still answers');
  t.equal((await post(`${one.url}/call/add`, [1, 2])).body, 3, 'and there is room again');
});

t.test('the status table: each code the issue names, and 500 for the rest', async (t) => {
  const want: Record<string, number> = {
    FUNCTION_NOT_FOUND: 404,
    DAG_NOT_FOUND: 404,
    KEY_NOT_FOUND: 404,
    DEADLINE_EXCEEDED: 504,
    PAYLOAD_TOO_LARGE: 413,
    INVALID_ARGUMENT: 400,
    NO_CAPACITY: 503,
    UNAVAILABLE: 503,
    EXECUTION_ERROR: 422,
    TRANSACTION_CONFLICT: 409,
    TRANSACTION_ABORTED: 409,
    INTERNAL_ERROR: 500,
    UNAUTHORIZED: 500,
    SOMETHING_NEW: 500,
  };
  for (const [code, status] of Object.entries(want)) t.equal(statusFor(code), status, code);
  t.notOk(Object.values(STATUS_BY_CODE).includes(500), '500 is only the default');
});

t.test('docs/operations.md: its error table is status.ts\'s, and its options table names every option', async (t) => {
  const doc = await readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
  t.same(Object.fromEntries(rows), STATUS_BY_CODE, 'one row per code, with its status');
  for (const name of Object.keys(OPTIONS) as (keyof typeof OPTIONS)[]) {
    t.match(doc, `| \`${headerName(name)}\` | \`${OPTIONS[name].query}\` |`, `${name} documented`);
  }
});

t.test('Idempotency-Key: two requests with one key run the call once and both get its result', async (t) => {
  const { url } = await gateway(t);
  const key = { 'idempotency-key': 'gw-order-1' };
  const [a, b] = await Promise.all([post(`${url}/call/increment`, ['gw-once'], key), post(`${url}/call/increment`, ['gw-once'], key)]);
  t.same([a.status, b.status], [200, 200]);
  t.equal(a.body, 1);
  t.equal(b.body, 1, 'the second request got the first one\'s result');
  t.equal((await post(`${url}/call/increment`, ['gw-once'], key)).body, 1, 'and so does a later one');
  t.equal(await client.get('gw-once'), 1, 'the function ran once');
  t.equal((await post(`${url}/call/increment?idempotencyKey=gw-order-2`, ['gw-once'])).body, 2, 'another key is another call');
  await post(`${url}/call/increment`, ['gw-twice']);
  await post(`${url}/call/increment`, ['gw-twice']);
  t.equal(await client.get('gw-twice'), 2, 'without a key, each request is a call');
  t.equal((await post(`${url}/call/increment`, ['gw-x'], { ...key, 'cloudburst-exactly-once': 'false' })).status, 400, 'a key with exactlyOnce false is refused');
  const dagKey = { 'idempotency-key': 'gw-dag-order-1' };
  const dags = await Promise.all([1, 2].map(() => post(`${url}/dag/count-squared`, { increment: ['gw-dag-once'] }, dagKey)));
  t.same(
    dags.map((d) => d.body),
    [1, 1],
    'a DAG call under one key, twice at once: both get the first result',
  );
  t.equal(await client.get('gw-dag-once'), 1, 'and its stages ran once');
});

t.test('malformed JSON is a 400, and the gateway goes on serving', async (t) => {
  const { url } = await gateway(t);
  for (const body of ['[1, 2', '{"a":', 'not json', '{"__proto__": {"x": 1}}']) {
    const res = await post(`${url}/call/add`, body);
    t.equal(res.status, 400, JSON.stringify(body));
    t.equal((res.body as { code: string }).code, 'INVALID_ARGUMENT');
  }
  const put = await send(`${url}/kv/gw-bad`, { method: 'PUT', body: '{oops' });
  t.equal(put.status, 400);
  t.equal((await post(`${url}/call/add`, [20, 22])).body, 42, 'still serving');
});

t.test('a body over the limit is a 413, and the gateway goes on serving', async (t) => {
  const { url } = await gateway(t, { bodyLimitBytes: 1024 });
  const big = JSON.stringify([Array.from({ length: 600 }, (_, i) => i)]);
  t.ok(big.length > 1024);
  const res = await post(`${url}/call/add`, big);
  t.equal(res.status, 413);
  t.equal((res.body as { code: string }).code, 'PAYLOAD_TOO_LARGE');
  const put = await send(`${url}/kv/gw-big`, { method: 'PUT', body: big });
  t.equal(put.status, 413);
  t.equal(await client.get('gw-big'), undefined, 'nothing was stored');
  t.equal((await post(`${url}/call/add`, [1, 2])).body, 3, 'still serving');
});

/** A raw connection to the gateway that sends `text` and then nothing; resolves what the server said once it closed the connection. */
function halfRequest(url: string, text: string): { socket: Socket; closed: Promise<{ said: string; afterMs: number }> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const start = Date.now();
  let said = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (said += chunk));
  socket.on('error', () => undefined);
  socket.write(text);
  const closed = new Promise<{ said: string; afterMs: number }>((resolve) => socket.once('close', () => resolve({ said, afterMs: Date.now() - start })));
  return { socket, closed };
}

t.test('slow clients are dropped at the request timeout while others are served', async (t) => {
  const { url } = await gateway(t, { requestTimeoutMs: 1000 });
  const body = halfRequest(url, 'POST /call/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[1,');
  const headers = halfRequest(url, 'POST /call/add HTTP/1.1\r\nHost: x\r\nContent-Ty');
  t.teardown(() => void (body.socket.destroy(), headers.socket.destroy()));
  // Served while both idle.
  for (let i = 0; i < 5; i++) t.equal((await post(`${url}/call/add`, [i, 1])).body, i + 1);
  for (const [what, half] of [['half a body', body], ['half the headers', headers]] as const) {
    const { said, afterMs } = await half.closed;
    t.ok(afterMs < 5000, `${what}: dropped after ${afterMs} ms`);
    t.match(said, /^HTTP\/1\.1 408/, `${what}: told 408 Request Timeout`);
  }
  t.equal((await post(`${url}/call/add`, [1, 2])).body, 3, 'still serving');
});

t.test('many connections: 200 requests at once all answer; past --max-connections, new ones are closed and the gateway recovers', async (t) => {
  const { url } = await gateway(t);
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => post(`${url}/call/add`, [i, i])));
  t.same(
    answers.map((a) => a.body),
    Array.from({ length: 200 }, (_, i) => 2 * i),
    'every answer, each the right one',
  );

  const small = await gateway(t, { maxConnections: 10 });
  const idle = Array.from({ length: 30 }, () => halfRequest(small.url, ''));
  t.teardown(() => idle.forEach((c) => c.socket.destroy()));
  await eventually('connections past the limit are closed', () => idle.filter((c) => c.socket.closed).length >= 20, 5000);
  t.ok(idle.filter((c) => !c.socket.closed).length <= 10, 'at most the limit stay open');
  for (const c of idle) c.socket.destroy();
  await eventually('served again once they are gone', async () => (await post(`${small.url}/call/add`, [2, 2]).catch(() => undefined))?.body === 4, 5000);
  t.pass('recovered');
});

t.test('close(): requests under way finish, new connections are refused', async (t) => {
  const g = await Gateway.start(client, {});
  const under = post(`${g.url}/call/sleep`, [500]);
  await eventually('the call is under way', async () => ((await send(`${g.url}/healthz`)).body as { inFlight: number }).inFlight === 1);
  const closing = g.close();
  t.equal((await under).body, 500, 'the call under way answered');
  await closing;
  await t.rejects(fetch(`${g.url}/healthz`), 'nothing listens any more');
});

t.test('cloudburst gateway: serves, and SIGTERM lets a call under way finish, then closes the server and NATS', async (t) => {
  const gw = new CliProcess(['gateway', '--nats', cluster.nats.url, '--port', '0']);
  t.teardown(() => void (gw.child.exitCode === null && gw.child.signalCode === null && gw.child.kill('SIGKILL')));
  const [, url] = (await gw.waitFor(/cloudburst gateway listening on (http:\S+)/)) as [string, string];
  t.equal((await post(`${url}/call/add`, [40, 2])).body, 42);
  const under = post(`${url}/call/sleep`, [700]);
  await eventually('the call is under way', async () => ((await send(`${url}/healthz`)).body as { inFlight: number }).inFlight === 1);
  gw.child.kill('SIGTERM');
  t.equal((await under).body, 700, 'the call under way answered');
  t.equal(await gw.exited(), 0, 'exits 0');
  t.ok(gw.lines.some((l) => /\[gateway\] SIGTERM: stopping/.test(l)));
  t.ok(gw.lines.some((l) => /\[gateway\] stopped/.test(l)));
  await t.rejects(fetch(`${url}/healthz`), 'nothing listens any more');
});

t.test('cloudburst up --http: the cluster served over HTTP from the supervisor', async (t) => {
  const up = new CliProcess(['up', '--prefix', 'gwup', '--http', '0', '--threads', '1', '--data-dir', '.cloudburst/data']);
  t.teardown(async () => {
    if (up.child.exitCode === null && up.child.signalCode === null) {
      up.interrupt();
      await up.exited();
    }
  });
  const [, url] = (await up.waitFor(/cloudburst gateway listening on (http:\S+)/)) as [string, string];
  t.equal((await send(`${url}/kv/gw-up`, { method: 'PUT', body: '{"n":1}' })).status, 204);
  t.same((await send(`${url}/kv/gw-up`)).body, { n: 1 });
  t.equal((await post(`${url}/call/nope`, [])).status, 404);
  up.interrupt();
  t.equal(await up.exited(), 0);
  t.ok(up.lines.some((l) => /\[up\] stopped/.test(l)));
});

// Last: it takes the file's NATS away from every node for a while.
t.test('NATS gone: calls answer 503 or 504 by their deadline, /healthz still answers; once NATS is back, calls work again', async (t) => {
  const { url } = await gateway(t);
  t.equal((await post(`${url}/call/add`, [1, 2])).body, 3);
  await cluster.nats.kill();
  const started = Date.now();
  const down = await post(`${url}/call/add`, [1, 2], { 'cloudburst-timeout-ms': '1000' });
  t.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
  t.ok(down.status === 503 || down.status === 504, `status ${down.status}`);
  t.match((down.body as { code: string }).code, /^(UNAVAILABLE|DEADLINE_EXCEEDED|NO_CAPACITY)$/);
  t.equal((await send(`${url}/healthz`)).status, 200, 'the gateway itself still answers');
  const deep = await send(`${url}/healthz?cluster=true`);
  t.ok(deep.status === 503 || deep.status === 504, `healthz?cluster=true: ${deep.status}`);
  await cluster.nats.restart();
  await eventually('calls work again', async () => (await post(`${url}/call/add`, [2, 2], { 'cloudburst-timeout-ms': '2000' })).body === 4, 60_000);
  t.pass('recovered');
});
