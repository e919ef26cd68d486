// The actor base over a real nats-server (private to this file): typed
// request/reply, typed errors whatever arrives, deadlines, heartbeats, graceful
// drain, surviving a NATS restart, and the server's payload limit (chunking
// above it, PayloadTooLarge above the configured message limit).

import t, { type Test } from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Actor, type ActorOptions } from '../lib/actor/actor.js';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { readReply, request } from '../lib/actor/rpc.js';
import type { Subscription, Transport } from '../lib/actor/transport.js';
import { PROTOCOL_VERSION, decodeMessage, encode, encodeMessage, type Envelope } from '../lib/codec/index.js';
import { deadlineIn } from '../lib/deadline.js';
import {
  Closed,
  CloudburstError,
  DeadlineExceeded,
  InternalError,
  InvalidArgument,
  MalformedMessage,
  NoCapacity,
  PayloadTooLarge,
  UnknownMessageType,
} from '../lib/errors.js';
import { newId } from '../lib/ids.js';
import { LWWPair } from '../lib/lattice/index.js';
import { createLogger } from '../lib/log.js';
import { subjectsFor, type Subjects } from '../lib/subjects.js';
import { failure } from './fixtures/failure.js';
import { startNats } from './fixtures/nats.js';
import { WatchedTransport } from './fixtures/watched_transport.js';

const logger = createLogger('actor-test', 'silent');

/** A small actor with handlers whose behaviour each test controls. */
class TestActor extends Actor {
  readonly kind = 'kvs' as const;
  readonly subject: string;
  /** Calls of `slow` waiting to be released, oldest first. */
  private readonly entered: Array<() => void> = [];
  private readonly waiters: Array<(release: () => void) => void> = [];
  private readonly gates = new Set<() => void>();

  constructor(opts: ActorOptions) {
    super(opts);
    this.subject = `${this.subjects.prefix}.test.${this.id}`;
    this.serve(this.subject, {
      echo: (msg) => Object.fromEntries(Object.entries(msg).filter(([k]) => k !== 'v' && k !== 't')),
      boom: () => {
        throw new InvalidArgument('boom: bad argument', { data: { field: 'x' } });
      },
      reject: async () => {
        throw new InvalidArgument('rejected asynchronously');
      },
      crash: () => {
        throw new Error('kaboom');
      },
      make: (msg) => ({ data: new Uint8Array(msg['n'] as number) }),
      slow: async (msg) => {
        await new Promise<void>((resolve) => {
          this.gates.add(resolve);
          const waiter = this.waiters.shift();
          if (waiter) waiter(resolve);
          else this.entered.push(resolve);
        });
        return { slept: msg['n'] };
      },
    });
  }

  /** Resolves, with the function that lets it answer, once a `slow` call is running. */
  nextSlow(): Promise<() => void> {
    const release = this.entered.shift();
    if (release) return Promise.resolve(release);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Lets every `slow` call answer (teardown). */
  releaseAll(): void {
    for (const release of this.gates) release();
    this.gates.clear();
  }
}

/** Rejects when `promise` has not settled within `ms`: a failure bound, not a synchronisation. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}


/** Every message seen on a subject, decoded; `next` consumes the first match. */
class Inbox {
  private readonly seen: Envelope[] = [];
  private readonly waiters: Array<{ match: (m: Envelope) => boolean; resolve: (m: Envelope) => void }> = [];
  private readonly sub: Subscription;

  constructor(transport: Transport, subject: string) {
    this.sub = transport.subscribe(subject, (m) => {
      let msg: Envelope;
      try {
        msg = decodeMessage(m.data);
      } catch {
        msg = { v: -1, t: '<undecodable>', size: m.data.byteLength };
      }
      const i = this.waiters.findIndex((w) => w.match(msg));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(msg);
      else this.seen.push(msg);
    });
  }

  get all(): readonly Envelope[] {
    return this.seen;
  }

  next(match: (m: Envelope) => boolean, what: string, ms = 5000): Promise<Envelope> {
    const i = this.seen.findIndex(match);
    if (i >= 0) return Promise.resolve(this.seen.splice(i, 1)[0]!);
    return within(new Promise<Envelope>((resolve) => this.waiters.push({ match, resolve })), ms, what);
  }

  close(): void {
    this.sub.unsubscribe();
  }
}

interface Rig {
  actor: TestActor;
  client: NatsTransport;
  subjects: Subjects;
}

/** An actor and a client on `url`, both closed when `t` ends. */
async function rig(t: Test, url: string, opts: { start?: boolean; maxMessageBytes?: number } = {}): Promise<Rig> {
  const subjects = subjectsFor(newId('cbt'));
  const id = newId('actor-');
  const client = await NatsTransport.connect({ servers: url, name: `client-${id}` });
  t.teardown(() => client.close());
  const transport = await NatsTransport.connect({ servers: url, name: `cloudburst-${id}` });
  const limit = opts.maxMessageBytes === undefined ? {} : { maxMessageBytes: opts.maxMessageBytes };
  const actor = new TestActor({ transport, subjects, id, logger, heartbeatMs: 60_000, ...limit });
  t.teardown(async () => {
    actor.releaseAll();
    await actor.stop();
    await transport.close();
  });
  if (opts.start !== false) await actor.start();
  return { actor, client, subjects };
}

const echo = (client: Transport, subject: string, fields: Record<string, unknown> = {}, ms = 5000) =>
  request(client, subject, 'echo', fields, deadlineIn(ms));

const server = await startNats(t);

void t.test('request/reply returns the body; errors arrive typed', async (t) => {
  const { actor, client } = await rig(t, server.url);

  const value = new LWWPair<unknown>(3, 'w1', { n: 1 });
  const bytes = new Uint8Array([0, 1, 254, 255]);
  const body = (await echo(client, actor.subject, { s: 'hi', n: 42, list: [1, null, 'x'], bytes, value })) as Record<
    string,
    unknown
  >;
  t.match(body, { s: 'hi', n: 42, list: [1, null, 'x'] }, 'plain fields come back');
  t.same([...(body['bytes'] as Uint8Array)], [...bytes], 'byte strings come back');
  t.type(body['value'], LWWPair, 'a lattice comes back as a lattice');
  t.ok(value.equals(body['value'] as LWWPair), 'with the same state');
  t.type(body['deadline'], 'number', 'the deadline travels with the request');

  const boom = await failure(request(client, actor.subject, 'boom', {}, deadlineIn(5000)));
  t.type(boom, InvalidArgument, 'a thrown InvalidArgument arrives as InvalidArgument');
  t.equal((boom as InvalidArgument).message, 'boom: bad argument', 'with its message');
  t.same((boom as InvalidArgument).data, { field: 'x' }, 'and its data');

  const rejected = await failure(request(client, actor.subject, 'reject', {}, deadlineIn(5000)));
  t.type(rejected, InvalidArgument, 'an async handler rejecting arrives typed too');
  t.equal((rejected as InvalidArgument).message, 'rejected asynchronously');

  const crash = await failure(request(client, actor.subject, 'crash', {}, deadlineIn(5000)));
  t.type(crash, InternalError, 'a plain Error becomes InternalError');
  t.equal((crash as InternalError).code, 'INTERNAL_ERROR');
  t.equal((crash as InternalError).message, 'kaboom', 'keeping the message');

  t.match(await echo(client, actor.subject, { after: 'crash' }), { after: 'crash' }, 'the actor still serves');
});

void t.test('unknown message type', async (t) => {
  const { actor, client } = await rig(t, server.url);

  const err = await failure(request(client, actor.subject, 'no-such-type', {}, deadlineIn(5000)));
  t.type(err, UnknownMessageType, 'an unknown type is UnknownMessageType');
  t.match((err as Error).message, /no-such-type/, 'naming the type');

  // Inherited names must not count as handlers.
  for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const inherited = await failure(request(client, actor.subject, type, {}, deadlineIn(5000)));
    t.type(inherited, UnknownMessageType, `"${type}" is not a handler`);
  }

  const reply = await client.request(actor.subject, encode({ v: PROTOCOL_VERSION + 1, t: 'echo' }), 5000);
  const version = (() => {
    try {
      readReply(reply);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.type(version, UnknownMessageType, 'another protocol version is UnknownMessageType');

  t.match(await echo(client, actor.subject, { still: 'here' }), { still: 'here' }, 'echo works afterwards');
});

void t.test('malformed bytes get a MalformedMessage reply', async (t) => {
  const { actor, client } = await rig(t, server.url);

  const payloads: Array<[string, Uint8Array]> = [
    ['0xff 0x00', new Uint8Array([0xff, 0x00])],
    ['empty payload', new Uint8Array()],
    ['truncated envelope', encodeMessage('echo', { a: 'abcdef' }).slice(0, 6)],
    ['a CBOR array', encode([PROTOCOL_VERSION, 'echo'])],
    ['a map without t', encode({ v: PROTOCOL_VERSION })],
    ['a bad lattice tag', new Uint8Array([0xd9, 0x9e, 0x39, 0x61, 0x78])], // tag 40505 wrapping "x"
  ];
  for (const [what, data] of payloads) {
    const reply = await client.request(actor.subject, data, 5000);
    let err: unknown;
    try {
      readReply(reply);
    } catch (e) {
      err = e;
    }
    t.type(err, MalformedMessage, `${what}: MalformedMessage`);
  }

  t.match(await echo(client, actor.subject, { ok: true }), { ok: true }, 'the actor keeps serving');
});

void t.test('deadlines', async (t) => {
  const { actor, client } = await rig(t, server.url);

  const entered = actor.nextSlow();
  const started = Date.now();
  const err = await failure(request(client, actor.subject, 'slow', { n: 1 }, deadlineIn(300)));
  const elapsed = Date.now() - started;
  t.type(err, DeadlineExceeded, 'a handler slower than the deadline gives DeadlineExceeded');
  t.ok(elapsed < 5000, `the caller is not kept waiting long past the deadline (${elapsed} ms)`);

  // The late answer goes nowhere and does no harm.
  (await within(entered, 5000, 'slow handler entered'))();
  t.match(await echo(client, actor.subject, { after: 'late' }), { after: 'late' }, 'the actor keeps serving');

  const past = await failure(request(client, actor.subject, 'echo', {}, Date.now() - 1));
  t.type(past, DeadlineExceeded, 'a deadline already passed fails before sending');
});

void t.test('no subscriber: NoCapacity', async (t) => {
  const { client, subjects } = await rig(t, server.url, { start: false });
  const err = await failure(echo(client, `${subjects.prefix}.test.nobody`));
  t.type(err, NoCapacity, 'no responders is NoCapacity');
  t.ok(err instanceof CloudburstError && err.code === 'NO_CAPACITY', 'with its code');
});

void t.test('heartbeats, ping and leave', async (t) => {
  const { actor, client, subjects } = await rig(t, server.url, { start: false });
  const members = new Inbox(client, subjects.members);
  t.teardown(() => members.close());
  await client.flush();

  const mine = (type: string) => (m: Envelope) => m.t === type && m['id'] === actor.id;

  await actor.start();
  const first = await members.next(mine('heartbeat'), 'heartbeat after start');
  t.match(first, { v: PROTOCOL_VERSION, t: 'heartbeat', id: actor.id, kind: 'kvs', subject: actor.subject });
  t.type(first['startedAt'], 'number', 'startedAt');
  t.type(first['at'], 'number', 'at');

  // heartbeatMs is a minute: only the ping can bring another one now.
  client.publish(subjects.membersPing, encodeMessage('ping', {}));
  const second = await members.next(mine('heartbeat'), 'heartbeat after ping');
  t.match(second, { id: actor.id, kind: 'kvs', subject: actor.subject }, 'a ping brings another heartbeat');
  t.ok((second['at'] as number) >= (first['at'] as number), 'a later one');
  t.equal(second['startedAt'], first['startedAt'], 'from the same start');

  await actor.stop();
  const leave = await members.next(mine('leave'), 'leave after stop');
  t.match(leave, { t: 'leave', id: actor.id, kind: 'kvs' }, 'stop() says leave');
  t.type(await failure(echo(client, actor.subject)), NoCapacity, 'a stopped actor no longer takes requests');
});

void t.test('graceful drain', async (t) => {
  const { actor, client, subjects } = await rig(t, server.url);
  const members = new Inbox(client, subjects.members);
  t.teardown(() => members.close());
  await client.flush();

  const entered = actor.nextSlow();
  const reply = request(client, actor.subject, 'slow', { n: 7 }, deadlineIn(10_000));
  const release = await within(entered, 5000, 'slow handler entered');

  let stopped = false;
  const stopping = actor.stop().then(() => {
    stopped = true;
  });
  await members.next((m) => m.t === 'leave' && m['id'] === actor.id, 'leave');
  // Give a stop that did not wait a few server round trips to finish.
  for (let i = 0; i < 3; i++) await client.flush();
  t.equal(stopped, false, 'stop() waits for the request in flight');
  t.type(await failure(echo(client, actor.subject)), NoCapacity, 'a stopping actor takes no new requests');

  release();
  t.same(await reply, { slept: 7 }, 'the caller still gets its answer');
  await within(stopping, 5000, 'stop after the last request');
  t.equal(stopped, true, 'stop() resolves once the handler has answered');
});

void t.test('reconnect after the nats-server restarts', async (t) => {
  const own = await startNats(t);
  const { actor, client, subjects } = await rig(t, own.url);
  const members = new Inbox(client, subjects.members);
  t.teardown(() => members.close());
  t.match(await echo(client, actor.subject, { n: 1 }), { n: 1 }, 'answers before the restart');

  await own.kill();
  // An outage long enough for several failed reconnect attempts (250 ms apart).
  const during = await failure(echo(client, actor.subject, { n: 0 }, 1500));
  t.type(during, DeadlineExceeded, 'a request while NATS is down fails with DeadlineExceeded');
  await own.restart();

  // Retry until the actor answers: each attempt waits on the transport
  // (a reply, a timeout or no-responders), bounded to 10 s in all.
  const until = Date.now() + 10_000;
  const failed = new Map<string, number>();
  let answer: unknown;
  while (answer === undefined && Date.now() < until) {
    try {
      answer = await echo(client, actor.subject, { n: 2 }, Math.min(1000, until - Date.now()));
    } catch (err) {
      const code = err instanceof CloudburstError ? err.code : String(err);
      failed.set(code, (failed.get(code) ?? 0) + 1);
      if (err instanceof Closed) break; // closed for good: no point retrying
    }
  }
  const attempts = [...failed].map(([code, n]) => `${code} x${n}`).join(', ') || 'none';
  t.match(answer, { n: 2 }, `answers again after the restart (failed attempts: ${attempts})`);

  client.publish(subjects.membersPing, encodeMessage('ping', {}));
  const hb = await members.next((m) => m.t === 'heartbeat' && m['id'] === actor.id, 'heartbeat after reconnect');
  t.match(hb, { id: actor.id, subject: actor.subject }, 'and answers pings again');
});

void t.test('payload limit comes from the server; larger messages travel in pieces', async (t) => {
  const limit = 65536;
  const dir = await mkdtemp(join(tmpdir(), 'cb-nats-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const conf = join(dir, 'nats.conf');
  await writeFile(conf, `max_payload: ${limit}\n`);
  const small = await startNats(t, { args: ['-c', conf] });

  const maxMessageBytes = 256 * 1024;
  const { actor, client, subjects } = await rig(t, small.url, { maxMessageBytes });
  t.equal(client.maxPayload, limit, "maxPayload is the server's max_payload");

  const big = await NatsTransport.connect({ servers: server.url });
  t.teardown(() => big.close());
  t.equal(big.maxPayload, 1024 * 1024, 'a default server reports 1 MiB');

  // A request and its answer, each three times max_payload, arrive whole; no
  // message on the wire is larger than the server takes.
  const watchedClient = new WatchedTransport(client);
  const data = randomBytes(3 * limit);
  const deadline = deadlineIn(10_000);
  const echoed = (await request(watchedClient, actor.subject, 'echo', { data }, deadline)) as { data: Uint8Array };
  t.ok(Buffer.from(echoed.data).equals(data), 'a request and answer of 3 x max_payload come back intact');
  t.ok(watchedClient.sent.length > 3, `the request went in pieces (${watchedClient.sent.length} messages)`);
  t.ok(
    watchedClient.sent.every((m) => m.bytes <= limit),
    `every message is within max_payload (largest ${Math.max(...watchedClient.sent.map((m) => m.bytes))} B)`,
  );

  // A request over the configured message limit never reaches the wire.
  const watched = `${subjects.prefix}.watched`;
  const watcher = new Inbox(client, watched);
  t.teardown(() => watcher.close());
  await client.flush();
  const sizeOf = (n: number) => encodeMessage('echo', { data: new Uint8Array(n), deadline }).byteLength;
  const atLimit = maxMessageBytes - (sizeOf(maxMessageBytes - 100) - (maxMessageBytes - 100));
  t.equal(sizeOf(atLimit), maxMessageBytes, 'test setup: request sized exactly at the limit');
  const over = await failure(
    request(client, watched, 'echo', { data: new Uint8Array(atLimit + 1) }, deadline, { maxMessageBytes }),
  );
  t.type(over, PayloadTooLarge, 'request() refuses a request over the limit');
  t.same((over as PayloadTooLarge).data, { size: maxMessageBytes + 1, limit: maxMessageBytes }, 'naming size and limit');
  client.publish(watched, encodeMessage('marker', {}));
  await watcher.next((m) => m.t === 'marker', 'marker');
  t.same(
    watcher.all.map((m) => m.t),
    [],
    'nothing but the marker was sent',
  );

  // An answer over the actor's limit arrives as PayloadTooLarge instead of
  // leaving the caller hanging.
  const replyTooBig = await failure(request(client, actor.subject, 'make', { n: maxMessageBytes }, deadline));
  t.type(replyTooBig, PayloadTooLarge, 'an answer over the limit arrives as PayloadTooLarge');
  t.match((replyTooBig as PayloadTooLarge).data, { limit: maxMessageBytes }, 'from the actor, naming the limit');
  t.ok(((replyTooBig as PayloadTooLarge).data?.['size'] as number) > maxMessageBytes, 'and the size of the answer');

  const answered = (await request(client, actor.subject, 'make', { n: maxMessageBytes - 100 }, deadline)) as {
    data: Uint8Array;
  };
  t.equal(answered.data.byteLength, maxMessageBytes - 100, 'an answer just under the limit is answered');
});
