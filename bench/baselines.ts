// The systems our numbers are divided by, each reduced to one `op` for the
// driver: a raw NATS request/reply echo (the floor any call over NATS sits
// on) and a Redis GET (a well-known request/response store on the same
// machine). Each registers its own cleanup with the bench's teardown.

import { spawn } from 'node:child_process';
import { childReady, stopChild } from '../bin/child_process.js';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import type { Teardown } from './harness.js';

export interface Baseline {
  /** Written into rows as baselineName. */
  name: string;
  /** Said in progress lines. */
  label: string;
  op: () => Promise<unknown>;
  /** Processes other than this one that serve it (the echo responder), for benches that count CPU by process. */
  pids?: number[];
}

const ECHO_SERVER = fileURLToPath(new URL('./echo_server.js', import.meta.url));

/**
 * An echo of `payloadBytes` bytes: a plain NATS connection in this process
 * asks, a responder in a child process answers with the same bytes. Pick the
 * size of the message being compared so the baseline moves as many bytes.
 */
export async function natsEcho(natsUrl: string, teardown: Teardown, payloadBytes = 64): Promise<Baseline> {
  const subject = `bench.echo.${process.pid}`;
  const child = spawn(process.execPath, [ECHO_SERVER, natsUrl, subject], { stdio: ['pipe', 'pipe', 'inherit'] });
  // Closing stdin asks the responder to stop.
  teardown.defer('echo responder', () => stopChild(child, 5_000, (c) => c.stdin?.end()));
  await childReady(child, {
    what: 'echo responder',
    timeoutMs: 10_000,
    watch: (ready) => {
      const onData = (chunk: Buffer): void => void (chunk.toString().includes('ready') && ready());
      child.stdout?.on('data', onData);
      return () => {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
      };
    },
  });

  const nc = await connect({ servers: natsUrl, name: 'cloudburst-bench-requester' });
  teardown.defer('echo requester connection', () => nc.close());
  const payload = new Uint8Array(payloadBytes).map((_, i) => i & 0xff);
  const first = await nc.request(subject, payload, { timeout: 5_000 });
  if (!sameBytes(first.data, payload)) throw new Error('echo responder answered with different bytes');
  return {
    name: 'nats-echo',
    label: `nats echo ${payloadBytes} B`,
    op: () => nc.request(subject, payload, { timeout: 10_000 }),
    pids: child.pid === undefined ? [] : [child.pid],
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * A connection to Redis on 127.0.0.1:`port`, closed by `teardown`, or
 * undefined when no Redis answers within `connectTimeoutMs`: Redis is a
 * second opinion, not something a bench may fail for.
 */
export async function redisConnection(teardown: Teardown, port = 6379, connectTimeoutMs = 1_000): Promise<Redis | undefined> {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    // Fail fast instead of queueing commands and retrying forever.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // Without a listener, a connection error is an unhandled 'error' event.
  redis.on('error', () => {});
  teardown.defer('redis connection', () => redis.disconnect());
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), connectTimeoutMs).unref()),
    ]);
    await redis.ping();
  } catch {
    return undefined;
  }
  return redis;
}

/** Per process, so benches run side by side on one Redis do not collide. */
export function redisKeyPrefix(): string {
  return `cloudburst-bench:${process.pid}:`;
}

/** GET of a `valueBytes`-byte value from Redis on 127.0.0.1:`port`, or undefined when there is no Redis (see redisConnection). */
export async function redisGet(teardown: Teardown, valueBytes = 64, port = 6379, connectTimeoutMs = 1_000): Promise<Baseline | undefined> {
  const redis = await redisConnection(teardown, port, connectTimeoutMs);
  if (!redis) return undefined;
  const key = `${redisKeyPrefix()}value`;
  await redis.set(key, 'x'.repeat(valueBytes));
  teardown.defer('redis bench key', async () => {
    if (redis.status === 'ready') await redis.del(key);
  });
  return { name: 'redis', label: `redis GET ${valueBytes} B`, op: () => redis.get(key) };
}

const MiB = 1024 * 1024;

/**
 * GET of `value`'s bytes from Redis on 127.0.0.1:`port` with ioredis
 * `getBuffer`, followed by `then` on the bytes in this process: what reading
 * a stored value costs a program that keeps its state in Redis. The value is
 * stored under `<prefix>bytes:<name>` and deleted at teardown. Undefined when
 * there is no Redis (see redisConnection).
 */
export async function redisGetBytes(
  teardown: Teardown,
  name: string,
  value: Uint8Array,
  then: { label: string; use: (bytes: Buffer) => unknown },
  port = 6379,
  connectTimeoutMs = 1_000,
): Promise<Baseline | undefined> {
  const redis = await redisConnection(teardown, port, connectTimeoutMs);
  if (!redis) return undefined;
  const key = `${redisKeyPrefix()}bytes:${name}`;
  await redis.set(key, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  teardown.defer('redis bench key', async () => {
    if (redis.status === 'ready') await redis.del(key);
  });
  return {
    name: 'redis',
    label: `redis getBuffer ${value.byteLength % MiB === 0 ? `${value.byteLength / MiB} MiB` : `${value.byteLength} B`} + ${then.label}`,
    op: async () => {
      const bytes = await redis.getBuffer(key);
      if (!bytes) throw new Error(`redis has no value under ${key}`);
      return then.use(bytes);
    },
  };
}

/** A key-value store as a KVS bench drives it: get and put of raw bytes by key. */
export interface KeyValueStore {
  /** Written into rows as baselineName. */
  name: string;
  /** Said in progress lines. */
  label: string;
  /** Put in front of every key the bench uses, so the bench's keys are its own. */
  keyPrefix: string;
  get(key: string): Promise<unknown>;
  put(key: string, value: Uint8Array): Promise<unknown>;
  /** When a put is on disk, as far as the store tells ("appendonly no": never). */
  durability?: string;
}

/**
 * Redis on 127.0.0.1:`port` as a key-value store: SET and GET of the same
 * bytes (GET as a Buffer, so the value comes back as bytes, as ours does).
 * Every key under its prefix is deleted at teardown. Undefined when there is
 * no Redis (see redisConnection).
 */
export async function redisKeyValue(teardown: Teardown, port = 6379, connectTimeoutMs = 1_000): Promise<KeyValueStore | undefined> {
  const redis = await redisConnection(teardown, port, connectTimeoutMs);
  if (!redis) return undefined;
  const keyPrefix = `${redisKeyPrefix()}kv:`;
  teardown.defer('redis bench keys', async () => {
    if (redis.status !== 'ready') return;
    for await (const keys of redis.scanStream({ match: `${keyPrefix}*`, count: 1000 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) await redis.unlink(...keys);
    }
  });
  return {
    name: 'redis',
    label: 'redis',
    keyPrefix,
    durability: await redisDurability(redis),
    get: (key) => redis.getBuffer(key),
    put: (key, value) => redis.set(key, Buffer.from(value.buffer, value.byteOffset, value.byteLength)),
  };
}

/** Redis's persistence settings, which decide what a SET costs; undefined if CONFIG is not allowed. */
async function redisDurability(redis: Redis): Promise<string | undefined> {
  try {
    const setting = async (name: string): Promise<string> => ((await redis.config('GET', name)) as string[])[1] ?? '?';
    const aof = await setting('appendonly');
    const rdb = await setting('save');
    return `${aof === 'yes' ? `appendonly yes, appendfsync ${await setting('appendfsync')}` : 'appendonly no'}; save "${rdb}"`;
  } catch {
    return undefined;
  }
}
