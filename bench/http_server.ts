// The baselines of the http bench: a bare node:http server, run as its own
// process like the gateway. POST /call/:fn does what the gateway does for
// that route, with nothing around it: read the body, parse it, make the call
// on one SDK connection, write the result as JSON. POST /empty answers null
// at once: HTTP alone, no cluster. Usage: node http_server.js <nats-url>
// <prefix>. Says "listening <port>" on stdout; exits when its stdin closes,
// so it never outlives the bench.

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Cloudburst } from '../lib/client/cloudburst.js';

const [url, prefix] = process.argv.slice(2);
if (!url || !prefix) {
  process.stderr.write('usage: http_server <nats-url> <prefix>\n');
  process.exit(2);
}

const client = await Cloudburst.connect({ servers: url, prefix, timeoutMs: 10_000 });

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/empty') return reply(res, 200, 'null');
    const call = req.method === 'POST' ? /^\/call\/([^/?]+)$/.exec(req.url ?? '') : null;
    if (!call) return reply(res, 404, '{"code":"NOT_FOUND"}');
    let args: unknown;
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      args = text === '' ? [] : JSON.parse(text);
    } catch {
      return reply(res, 400, '{"code":"INVALID_ARGUMENT"}');
    }
    if (!Array.isArray(args)) return reply(res, 400, '{"code":"INVALID_ARGUMENT"}');
    client.call(decodeURIComponent(call[1]!), args).then(
      (result) => reply(res, 200, JSON.stringify(result ?? null)),
      (err: unknown) => reply(res, 500, JSON.stringify({ message: err instanceof Error ? err.message : String(err) })),
    );
  });
});
// As fastify's default, so kept-alive connections live alike on both sides.
server.keepAliveTimeout = 72_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));

let exiting = false;
const exit = (): void => {
  if (exiting) return;
  exiting = true;
  server.closeAllConnections();
  server.close();
  void client.close().finally(() => process.exit(0));
};
process.stdin.on('end', exit);
process.stdin.on('close', exit);
process.stdin.resume();
