// Client commands: talk to a running cluster through the SDK.

import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { Cloudburst, withAddressSource } from '../../lib/client/cloudburst.js';
import { withRecordedCredentials, type ClusterAddress } from '../../lib/client/cluster_file.js';
import { CloudburstError, DeadlineExceeded, InvalidArgument, NoCapacity } from '../../lib/errors.js';
import { moduleSource } from '../../lib/client/transpile.js';
import { checkArgsSchema } from '../../lib/args_schema.js';
import { CLI_LATTICE_TYPES, valueFromCli, type CliLatticeType } from '../lattice_args.js';
import { natsAuthFromArgs, type NatsAuthArgs } from '../nats_auth_options.js';
import { joinAddress, withJoinedNats, parseValue } from '../options.js';

export interface ClientArgs extends NatsAuthArgs {
  /** Absent: the cluster is found as FINDING_THE_CLUSTER (bin/options.ts) says. */
  nats: string | undefined;
  prefix: string | undefined;
  timeout: number;
}

export function clientOptions<T>(y: Argv<T>) {
  return withJoinedNats(y).option('timeout', { type: 'number', default: 30_000, describe: 'deadline of the request in ms' });
}

export async function withClient<R>(a: ClientArgs, use: (cb: Cloudburst, address: ClusterAddress) => Promise<R>): Promise<R> {
  const address = joinAddress(a);
  let cb: Cloudburst;
  try {
    cb = await Cloudburst.connect({ servers: address.servers, auth: withRecordedCredentials(natsAuthFromArgs(a), address), prefix: address.prefix, timeoutMs: a.timeout });
  } catch (err) {
    throw withAddressSource(err, address);
  }
  try {
    return await use(cb, address);
  } catch (err) {
    throw withDefaultHint(err, address);
  } finally {
    await cb.close();
  }
}

/**
 * A NATS at the default URL that holds no cluster (someone else's NATS on
 * 4222) answers nothing: calls wait out their deadline or find no capacity.
 * Said with the error, or it reads like a broken cluster.
 */
function withDefaultHint(err: unknown, address: ClusterAddress): unknown {
  if (address.from !== 'default' || !(err instanceof NoCapacity || err instanceof DeadlineExceeded)) return err;
  const Kind = err.constructor as new (message: string, options: { cause: unknown; data: Record<string, unknown> | undefined }) => CloudburstError;
  const hint =
    `no --nats given and no running cloudburst up recorded here, so this asked ${String(address.servers)} under prefix ${address.prefix}: ` +
    'run cloudburst up in this directory, or give --nats and --prefix as up prints them';
  return new Kind(`${err.message} (${hint})`, { cause: err, data: err.data });
}

/**
 * Prints `value` as one line of JSON. Nothing (a missing key, a function that
 * returned undefined) prints `null`, which JSON has and scripts can parse;
 * `undefined` is not JSON.
 */
export function print(value: unknown): void {
  process.stdout.write(`${value === undefined ? 'null' : JSON.stringify(value, replacer)}\n`);
}

// Sets and maps (revealed lattices) print as arrays and objects.
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Set) return [...(value as Set<unknown>)];
  if (value instanceof Map) return Object.fromEntries(value as Map<string, unknown>);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

type Cmd<A> = CommandModule<object, ClientArgs & A>;

export const registerCommand: Cmd<{ file: string; name: string | undefined; 'args-schema': string | undefined }> = {
  command: 'register <file>',
  describe: 'register the default export of a TypeScript or JavaScript ES module as a function',
  builder: (y) =>
    clientOptions(y)
      .positional('file', {
        type: 'string',
        demandOption: true,
        describe:
          'self-contained module (.ts/.mts/.cts transpiled here without type checking, .js/.mjs as is; ' +
          'no relative imports) whose default export is async (cb, ...args) => result',
      })
      .option('name', { type: 'string', describe: 'function name (default: the file name without extension)' })
      .option('args-schema', {
        type: 'string',
        describe: 'JSON file holding a JSON Schema of the argument list (after cb); executors refuse calls whose arguments do not match, with InvalidArgument',
      }),
  handler: async (a) => {
    // Before connecting: a file or schema that cannot be registered fails without a cluster.
    const code = await moduleSource(a.file, await readFile(a.file, 'utf8'));
    const name = a.name ?? basename(a.file, extname(a.file));
    const schemaFile = a['args-schema'];
    const argsSchema = schemaFile === undefined ? undefined : checkArgsSchema(name, await readJsonFile(schemaFile, '--args-schema'));
    const record = await withClient(a, (cb) => cb.register(name, code, { argsSchema }));
    process.stdout.write(`registered ${record.name} (${record.hash.slice(0, 12)})${argsSchema ? ', arguments checked against the schema' : ''}\n`);
  },
};

export const callCommand: Cmd<{ fn: string; args: string[] }> = {
  command: 'call <fn> [args..]',
  describe: 'call a function; each argument is parsed as JSON, or taken as a string; prints the result as JSON (null for undefined)',
  builder: (y) =>
    clientOptions(y)
      .positional('fn', { type: 'string', demandOption: true, describe: 'function name' })
      .positional('args', { type: 'string', array: true, default: [], describe: 'arguments' }),
  handler: async (a) => print(await withClient(a, (cb) => cb.call(a.fn, a.args.map(String).map(parseValue), { timeoutMs: a.timeout }))),
};

export const getCommand: Cmd<{ key: string; all: boolean; lattice: boolean }> = {
  command: 'get <key>',
  // A missing key prints null and exits 0, as the SDK's get returns undefined
  // rather than throwing: a key without a value is an answer, not a failure,
  // and scripts (`cloudburst get k | jq`) get JSON either way.
  describe: 'print the value stored under a key as JSON; a key with no value prints null (exit 0), and with --lattice a stored null prints its lattice',
  builder: (y) =>
    clientOptions(y)
      .positional('key', { type: 'string', demandOption: true })
      .option('all', { type: 'boolean', default: false, describe: 'read every replica and merge what they hold' })
      .option('lattice', { type: 'boolean', default: false, describe: 'print the lattice kind and its data, not just its value' }),
  handler: async (a) =>
    withClient(a, async (cb) => {
      const lattice = await cb.getLattice(a.key, { all: a.all });
      print(a.lattice && lattice ? { kind: lattice.kind, data: lattice.toData() } : lattice?.reveal());
    }),
};

export const putCommand: Cmd<{ key: string; value: string; type: CliLatticeType; 'ttl-ms': number | undefined }> = {
  command: 'put <key> <value>',
  describe: 'store a value (JSON, or else a string); lww replaces it, other types merge into what is stored',
  builder: (y) =>
    clientOptions(y)
      .positional('key', { type: 'string', demandOption: true })
      .positional('value', { type: 'string', demandOption: true })
      .option('type', {
        choices: CLI_LATTICE_TYPES,
        default: 'lww' as const,
        describe: 'lattice: lww (last writer wins), set / ordered-set (JSON array, union), max-int, bool (or)',
      })
      .option('ttl-ms', {
        type: 'number',
        describe:
          'delete the key this many ms from now, on every replica (a positive number); the key keeps the latest expiry ' +
          'any put gave it: a put without --ttl-ms does not clear it, a delete does not cancel it',
      }),
  handler: async (a) => {
    // Checked before connecting, in the words of this command: a bad lifetime fails without a cluster.
    const ttlMs = a['ttl-ms'];
    if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) throw new InvalidArgument(`--ttl-ms must be a positive number of milliseconds, got ${ttlMs}`);
    await withClient(a, (cb) => cb.put(a.key, valueFromCli(a.type, String(a.value)), ttlMs === undefined ? {} : { ttlMs }));
    process.stdout.write('ok\n');
  },
};

export const deleteCommand: Cmd<{ key: string }> = {
  command: 'delete <key>',
  describe: 'delete a key',
  builder: (y) => clientOptions(y).positional('key', { type: 'string', demandOption: true }),
  handler: async (a) => {
    await withClient(a, (cb) => cb.delete(a.key));
    process.stdout.write('ok\n');
  },
};

export const replicationCommand: Cmd<{ key: string; replicas: string }> = {
  command: 'replication <key> <replicas>',
  describe:
    'pin how many shards hold a key (a number), or unpin it (none); a number above the shard count is kept, ' +
    'with a warning: the key is held by every shard until more join',
  builder: (y) =>
    clientOptions(y)
      .positional('key', { type: 'string', demandOption: true })
      .positional('replicas', { type: 'string', demandOption: true, describe: 'a whole number >= 1, or none to unpin' }),
  handler: async (a) => {
    // Checked before connecting, in the words of this command (none, not the SDK's null).
    const replicas = a.replicas === 'none' ? null : Number(a.replicas);
    if (replicas !== null && !(Number.isInteger(replicas) && replicas >= 1)) {
      throw new InvalidArgument(`replicas must be a whole number >= 1, or none to unpin, not "${a.replicas}"`);
    }
    const { shards } = await withClient(a, (cb) => cb.setReplication(a.key, replicas));
    // Warned, not refused: the factor is kept and takes effect as shards
    // join, so pinning ahead of a scale-up is legitimate, and a shard count
    // seen at one moment (one shard restarting) is no reason to refuse.
    if (replicas !== null && replicas > shards) {
      process.stderr.write(
        `cloudburst: warning: pinned ${replicas} replicas of "${a.key}", but the cluster has ${shards} KVS shard${shards === 1 ? '' : 's'}: ` +
          `${shards === 1 ? 'it holds' : `all ${shards} hold`} the key until more shards join\n`,
      );
    }
    process.stdout.write('ok\n');
  },
};

/** The JSON a file holds; InvalidArgument naming the flag when it is not JSON. */
async function readJsonFile(path: string, flag: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidArgument(`${flag} ${path}: not JSON (${(err as Error).message})`);
  }
}
