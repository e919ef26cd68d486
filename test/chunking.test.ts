// Requests and answers larger than NATS max_payload travel in pieces, up to
// the configured message limit: intact, through queue groups, through the
// real stack, refused above the limit, and never kept past their deadline.

import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { Actor, type ActorOptions } from '../lib/actor/actor.js';
import { CHUNK, CHUNKED, CHUNK_ACK, CHUNK_GET, pieceBytes } from '../lib/actor/chunking.js';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { readReply, request } from '../lib/actor/rpc.js';
import type { Transport } from '../lib/actor/transport.js';
import { decodeMessage, encodeMessage, type Envelope } from '../lib/codec/index.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../lib/config.js';
import { deadlineIn } from '../lib/deadline.js';
import { DeadlineExceeded, MalformedMessage, PayloadTooLarge, UnknownMessageType } from '../lib/errors.js';
import type { Cb } from '../lib/function_api.js';
import { newId } from '../lib/ids.js';
import { createLogger } from '../lib/log.js';
import { subjectsFor, type Subjects } from '../lib/subjects.js';
import { startCluster } from './fixtures/cluster.js';
import { failure } from './fixtures/failure.js';
import { startNats } from './fixtures/nats.js';
import { WatchedTransport } from './fixtures/watched_transport.js';

const MiB = 1024 * 1024;
const logger = createLogger('chunking-test', 'silent');

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** An actor whose handlers echo, digest, store and make bytes; optionally one of a queue group. */
class BytesActor extends Actor {
  readonly kind = 'kvs' as const;
  readonly subject: string;
  readonly stored: Uint8Array[] = [];

  constructor(opts: ActorOptions, group?: string) {
    super(opts);
    this.subject = `${this.subjects.prefix}.bytes.${this.id}`;
    const handlers = {
      echo: (msg: Envelope) => ({ data: msg['data'] }),
      digest: (msg: Envelope) => ({ sha: sha(msg['data'] as Uint8Array), by: this.id }),
      store: (msg: Envelope) => {
        this.stored.push(msg['data'] as Uint8Array);
        return { stored: this.stored.length };
      },
      make: (msg: Envelope) => ({ data: pattern(msg['n'] as number) }),
    };
    this.serve(this.subject, handlers);
    if (group) this.serve(group, handlers, 'group');
  }

  get transfers(): number {
    return this.transfersInProgress;
  }

  idle(): Promise<void> {
    return this.transfersIdle();
  }
}

/** Bytes whose every position is checkable: byte i is (i * 7 + i >> 8) mod 256. */
function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >> 8)) & 0xff;
  return out;
}


interface Rig {
  client: NatsTransport;
  subjects: Subjects;
  actor: (opts?: { group?: string; maxMessageBytes?: number }) => Promise<BytesActor>;
}

/** A client, and a way to start actors; all closed when `t` ends. */
async function rig(t: Test, url: string): Promise<Rig> {
  const subjects = subjectsFor(newId('cbt'));
  const client = await NatsTransport.connect({ servers: url, name: 'chunking-client' });
  t.teardown(() => client.close());
  return {
    client,
    subjects,
    actor: async (opts = {}) => {
      const id = newId('bytes-');
      const transport = await NatsTransport.connect({ servers: url, name: `cloudburst-${id}` });
      const limit = opts.maxMessageBytes === undefined ? {} : { maxMessageBytes: opts.maxMessageBytes };
      const actor = new BytesActor({ transport, subjects, id, logger, heartbeatMs: 60_000, ...limit }, opts.group);
      t.teardown(async () => {
        await actor.stop();
        await transport.close();
      });
      await actor.start();
      return actor;
    },
  };
}

/** One raw request and its decoded reply, for speaking the piece protocol by hand. */
async function raw(client: Transport, subject: string, t: string, fields: Record<string, unknown>): Promise<Envelope> {
  return decodeMessage(await client.request(subject, encodeMessage(t, fields), 5000));
}

/** What a raw reply means as an answer: its body, or the typed error it carries. */
function outcome(reply: Envelope): unknown {
  try {
    return readReply(encodeMessage(reply.t, reply));
  } catch (err) {
    return err;
  }
}

const server = await startNats(t);

void t.test('a 5 MiB request and a 5 MiB answer arrive intact', async (t) => {
  const { client, actor } = await rig(t, server.url);
  const a = await actor();
  const data = randomBytes(5 * MiB);
  const deadline = deadlineIn(20_000);

  const echoed = (await request(client, a.subject, 'echo', { data }, deadline)) as { data: Uint8Array };
  t.equal(echoed.data.byteLength, data.byteLength, 'the echo has every byte');
  t.ok(Buffer.from(echoed.data).equals(data), 'the same bytes, in order');

  const digest = (await request(client, a.subject, 'digest', { data }, deadline)) as { sha: string };
  t.equal(digest.sha, sha(data), 'the handler saw the whole request');

  const made = (await request(client, a.subject, 'make', { n: 5 * MiB }, deadline)) as { data: Uint8Array };
  t.ok(Buffer.from(made.data).equals(pattern(5 * MiB)), 'a 5 MiB answer to a small request arrives intact');

  await a.idle();
  t.equal(a.transfers, 0, 'the actor keeps nothing once the transfers are done');
});

void t.test('pieces sent to a queue group all reach the member that took piece 0', async (t) => {
  const { client, actor, subjects } = await rig(t, server.url);
  const group = `${subjects.prefix}.bytes.group`;
  const members = [await actor({ group }), await actor({ group })];
  await client.flush();

  const payloads = Array.from({ length: 12 }, () => randomBytes(Math.round(2.5 * MiB)));
  const deadline = deadlineIn(30_000);
  const answers = (await Promise.all(payloads.map((data) => request(client, group, 'digest', { data }, deadline)))) as {
    sha: string;
    by: string;
  }[];
  t.same(
    answers.map((a) => a.sha),
    payloads.map(sha),
    '12 concurrent 2.5 MiB requests (3 pieces each) were each put together right',
  );
  const by = new Set(answers.map((a) => a.by));
  t.same([...by].sort(), members.map((m) => m.id).sort(), 'both members of the group took some');
  await Promise.all(members.map((m) => m.idle()));
  t.same(
    members.map((m) => m.transfers),
    [0, 0],
    'and neither keeps anything afterwards',
  );
});

void t.test('through the real stack: a 10 MiB value, and 3 MiB arguments and results', async (t) => {
  const { client } = await startCluster(t, { timeoutMs: 30_000 });
  const value = randomBytes(10 * MiB);
  await client.put('small', 1); // the client has learnt the ring: time the transfer, not the start
  const started = performance.now();
  await client.put('big', value);
  const put = performance.now() - started;
  const read = await client.get<Uint8Array>('big');
  const total = performance.now() - started;
  t.ok(read instanceof Uint8Array && Buffer.from(read).equals(value), 'a 10 MiB value reads back intact');
  t.comment(`put ${put.toFixed(0)} ms + get ${(total - put).toFixed(0)} ms = ${total.toFixed(0)} ms for 10 MiB`);

  await client.register('reverse', async (_cb: Cb, data: Uint8Array) => data.slice().reverse());
  const arg = randomBytes(3 * MiB);
  const reversed = await client.call<Uint8Array>('reverse', [arg]);
  t.ok(Buffer.from(reversed).equals(Buffer.from(arg).reverse()), 'a 3 MiB argument in, a 3 MiB result out');

  await client.register('zeros', async (_cb: Cb, n: number) => new Uint8Array(n));
  const zeros = await client.call<Uint8Array>('zeros', [3 * MiB]);
  t.ok(zeros.byteLength === 3 * MiB && zeros.every((b) => b === 0), 'a small call with a 3 MiB result');

  await client.register('stash', async (cb: Cb, key: string) => {
    const got = await cb.get<Uint8Array>(key);
    await cb.put(`${key}-copy`, got);
    return got?.byteLength;
  });
  t.equal(await client.call('stash', ['big']), 10 * MiB, 'a function reads the 10 MiB value and writes a copy');
  const copy = await client.get<Uint8Array>('big-copy');
  t.ok(copy instanceof Uint8Array && Buffer.from(copy).equals(value), 'the copy is intact');
});

void t.test('above the message limit: PayloadTooLarge, and nothing is stored', async (t) => {
  t.test('the default 64 MiB limit, through the real stack', async (t) => {
    const { client } = await startCluster(t);
    const huge = new Uint8Array(DEFAULT_MAX_MESSAGE_BYTES + 1);
    const err = await failure(client.put('huge', huge));
    t.type(err, PayloadTooLarge, 'a put of 64 MiB + 1 B is PayloadTooLarge');
    t.equal((err as PayloadTooLarge).data?.['limit'], DEFAULT_MAX_MESSAGE_BYTES, 'naming the limit');
    t.ok(((err as PayloadTooLarge).data?.['size'] as number) > DEFAULT_MAX_MESSAGE_BYTES, 'and the size');
    t.equal(await client.get('huge'), undefined, 'nothing was stored');
    await client.register('len', async (_cb: Cb, data: Uint8Array) => data.byteLength);
    await t.rejects(client.call('len', [huge]), PayloadTooLarge, 'a call with a 64 MiB + 1 B argument too');
    t.equal(await client.call('len', [new Uint8Array(3)]), 3, 'the cluster keeps serving');
  });

  t.test('a 4 MiB limit on the sender, on the receiver, and on the answer', async (t) => {
    const limit = 4 * MiB;
    const { client, actor } = await rig(t, server.url);
    const a = await actor({ maxMessageBytes: limit });
    const data = randomBytes(5 * MiB);
    const deadline = deadlineIn(20_000);

    const watched = new WatchedTransport(client);
    const sender = await failure(request(watched, a.subject, 'store', { data }, deadline, { maxMessageBytes: limit }));
    t.type(sender, PayloadTooLarge, 'the sender refuses 5 MiB over its 4 MiB limit');
    t.match((sender as PayloadTooLarge).data, { limit }, 'naming the limit');
    t.equal(watched.sent.length, 0, 'before sending anything');

    const receiver = await failure(request(watched, a.subject, 'store', { data }, deadline));
    t.type(receiver, PayloadTooLarge, 'a receiver with a 4 MiB limit refuses 5 MiB at piece 0');
    t.match((receiver as PayloadTooLarge).data, { limit }, 'naming its limit');
    t.ok(((receiver as PayloadTooLarge).data?.['size'] as number) > 5 * MiB, 'and the size');
    t.equal(watched.sent.length, 1, 'only piece 0 was sent');
    t.equal(a.stored.length, 0, 'the handler never ran');
    t.equal(a.transfers, 0, 'and the actor keeps nothing');

    const answer = await failure(request(client, a.subject, 'make', { n: 5 * MiB }, deadline));
    t.type(answer, PayloadTooLarge, 'an answer over the actor limit is PayloadTooLarge');
    t.match((answer as PayloadTooLarge).data, { limit }, 'naming the limit');

    const ok = (await request(client, a.subject, 'store', { data: data.subarray(0, 3 * MiB) }, deadline)) as {
      stored: number;
    };
    t.equal(ok.stored, 1, 'a 3 MiB request is still taken');
  });
});

void t.test('an unfinished transfer is dropped at its deadline; the actor keeps serving', async (t) => {
  const { client, actor } = await rig(t, server.url);
  const a = await actor();
  const piece = pieceBytes(client.maxPayload);
  const id = newId('xfer-');
  const deadline = Date.now() + 300;
  const first = await raw(client, a.subject, CHUNK, {
    id,
    i: 0,
    n: 2,
    size: piece + 10,
    deadline,
    data: randomBytes(piece),
  });
  t.match(first, { t: CHUNK_ACK, subject: a.transferSubject }, 'piece 0 is acknowledged with where the rest goes');
  t.equal(a.transfers, 1, 'the actor holds the unfinished transfer');

  await a.idle();
  t.ok(Date.now() >= deadline - 1, 'it is dropped at the deadline, not before');
  t.equal(a.transfers, 0, 'and nothing is kept afterwards');
  const late = outcome(await raw(client, a.transferSubject, CHUNK, { id, i: 1, data: randomBytes(10) }));
  t.type(late, DeadlineExceeded, 'a piece that comes after the deadline is DeadlineExceeded');
  t.match((late as Error).message, /expired/, 'saying the transfer expired');
  t.equal(a.stored.length, 0, 'no handler ran');

  const echoed = (await request(client, a.subject, 'echo', { data: new Uint8Array([1, 2, 3]) }, deadlineIn(5000))) as {
    data: Uint8Array;
  };
  t.same([...echoed.data], [1, 2, 3], 'the actor still serves');
});

void t.test('malformed pieces get typed errors and abort only their transfer', async (t) => {
  const { client, actor } = await rig(t, server.url);
  const a = await actor({ maxMessageBytes: 4 * MiB });
  const piece = pieceBytes(client.maxPayload);
  const deadline = deadlineIn(10_000);
  const start = (id: string, extra: Record<string, unknown> = {}) =>
    raw(client, a.subject, CHUNK, { id, i: 0, n: 2, size: piece + 10, deadline, data: randomBytes(piece), ...extra });
  const next = (id: string, i: number, data: Uint8Array) => raw(client, a.transferSubject, CHUNK, { id, i, data });

  t.type(outcome(await start('x1', { size: 5 * MiB, n: 6 })), PayloadTooLarge, 'piece 0 declaring more than the limit');
  t.type(outcome(await start('x2', { n: 1 })), MalformedMessage, 'a piece count that cannot be');
  t.type(outcome(await start('x3', { i: 1 })), MalformedMessage, 'a first piece that is not piece 0');
  t.type(outcome(await start('x4', { data: 'text' })), MalformedMessage, 'a piece without bytes');
  t.equal(a.transfers, 0, 'none of these were kept');

  t.match(await start('dup'), { t: CHUNK_ACK }, 'a transfer starts');
  t.type(outcome(await start('dup')), MalformedMessage, 'a second transfer with the same id is MalformedMessage');
  t.type(outcome(await next('dup', 2, randomBytes(10))), MalformedMessage, 'a piece out of order is MalformedMessage');
  t.type(outcome(await next('dup', 1, randomBytes(10))), MalformedMessage, 'and the transfer was aborted');
  t.match((outcome(await next('dup', 1, randomBytes(10))) as Error).message, /aborted/, 'saying so');

  t.match(await start('long'), { t: CHUNK_ACK });
  t.type(outcome(await next('long', 1, randomBytes(11))), MalformedMessage, 'pieces adding up to more than declared');
  t.type(outcome(await next('nobody', 1, randomBytes(10))), MalformedMessage, 'a piece of an unknown transfer');
  t.type(outcome(await raw(client, a.transferSubject, CHUNK_GET, { id: 'nobody', i: 1 })), MalformedMessage, 'a fetch of an unknown answer');
  t.type(outcome(await raw(client, a.transferSubject, 'store', {})), UnknownMessageType, 'a request on the transfer subject');
  t.match(await start('idx'), { t: CHUNK_ACK });
  t.type(outcome(await next('idx', 'one' as never, randomBytes(10))), MalformedMessage, 'a piece with a bad index');

  t.match(await start('inner', { size: piece + 3, data: new Uint8Array(piece) }), { t: CHUNK_ACK });
  const notARequest = await next('inner', 1, new Uint8Array([1, 2, 3]));
  t.type(outcome(notARequest), MalformedMessage, 'pieces that do not make a message');

  t.equal(a.transfers, 0, 'every aborted or refused transfer is gone');
  t.equal(a.stored.length, 0, 'no handler ran');
  const ok = (await request(client, a.subject, 'store', { data: randomBytes(2 * MiB) }, deadline)) as { stored: number };
  t.equal(ok.stored, 1, 'and the actor still takes large requests');
});

void t.test('stop() waits until a kept answer is fetched', async (t) => {
  const { client, actor } = await rig(t, server.url);
  const a = await actor();
  const n = 3 * MiB;
  const first = await raw(client, a.subject, 'make', { n, deadline: deadlineIn(10_000) });
  t.match(first, { t: CHUNKED, subject: a.transferSubject }, 'a chunked answer, with where to fetch the rest');
  t.ok((first['size'] as number) > n && (first['n'] as number) >= 4, `of ${first['size'] as number} B in ${first['n'] as number} pieces`);

  let stopped = false;
  const stopping = a.stop().then(() => {
    stopped = true;
  });
  const pieces = [first['data'] as Uint8Array];
  const count = first['n'] as number;
  for (let i = 1; i < count; i++) {
    if (i === count - 1) {
      // A stop that did not wait would be done within a few round trips.
      for (let k = 0; k < 3; k++) await client.flush();
      t.equal(stopped, false, 'stop() waits while a piece is still to be fetched');
    }
    const piece = await raw(client, a.transferSubject, CHUNK_GET, { id: first['id'], i });
    t.equal(piece.t, CHUNK, `piece ${i} is served while the actor stops`);
    pieces.push(piece['data'] as Uint8Array);
  }
  const body = outcome(decodeMessage(Buffer.concat(pieces))) as { data: Uint8Array };
  t.ok(Buffer.from(body.data).equals(pattern(n)), 'the pieces make the answer');
  await stopping;
  t.equal(stopped, true, 'stop() resolves once the answer was fetched');
});
