// The client SDK: what a user program imports to register functions, call
// them and read and write shared state. Calls go to the router queue group;
// the executor that runs a call answers here directly.

import { request } from '../actor/rpc.js';
import type { NatsAuth } from '../actor/nats_auth.js';
import { NatsTransport, type NatsTransportOptions } from '../actor/nats_transport.js';
import type { Transport } from '../actor/transport.js';
import { decode, encodeMessage, obj, str } from '../codec/index.js';
import { sendCall, sentResult } from './send_calls.js';
import { DEFAULT_TIMEOUT_MS, deadlineIn } from '../deadline.js';
import { checkIsolation, checkModes, parseIsolation } from '../dag_protocol.js';
import { DeadlineExceeded, InvalidArgument, MalformedMessage, Unauthorized, Unavailable } from '../errors.js';
import { validateDag, type DagRecord } from '../dag.js';
import { DAG_UPDATED, FN_UPDATED, functionKey, functionRecord, type FunctionRecord } from '../function_record.js';
import { FUTURES_PREFIX, PINNED_REPLICATION_KEY, checkUserKey, dagKey } from '../reserved_keys.js';
import { Ref } from '../reference.js';
import type { CloudburstFunction } from '../function_api.js';
import type { FunctionDefinition, FunctionResult, TypedDag, TypedFunction } from '../typed_functions.js';
import { newId } from '../ids.js';
import { LWWPair, MapLattice, isLattice, type Lattice } from '../lattice/index.js';
import { subjectsFor, type Subjects } from '../subjects.js';
import { CLUSTER_FILE, clusterAddress, withRecordedCredentials, type ClusterAddress } from './cluster_file.js';
import { KvsClient } from './kvs_client.js';
import { checkPutOptions, type PutOptions } from '../kvs/expiry.js';
import { checkFunctionModule } from './module_check.js';
import type { ClusterStatus } from '../../router/router_node.js';

export interface ConnectOptions {
  /**
   * NATS URL(s) of the cluster. Default: the cluster a running `cloudburst up`
   * recorded in `.cloudburst/cluster.json` of the working directory (or the
   * nearest parent that has one), else `nats://127.0.0.1:4222`.
   */
  servers?: string | string[];
  /** Subject prefix of the cluster. Default: the recorded cluster's when `servers` is not given, else `cb`. */
  prefix?: string;
  /** Deadline of calls and KVS operations that name none. Default 30 s. */
  timeoutMs?: number;
  /** Credentials and TLS for NATS (docs/security.md); `natsAuthFromEnv()` reads them from CLOUDBURST_NATS_* variables. */
  auth?: NatsAuth;
  /** Extra NATS options, passed through to nats.js as they are. */
  nats?: NatsTransportOptions['nats'];
}

export interface CallOptions {
  /** How long the call may take, queueing included. Default: the connection's. */
  timeoutMs?: number;
  /**
   * `lww` (default): reads see whatever the cache holds. `rr`: repeatable
   * read: every read of a key in the call (in a DAG, across all its
   * functions and executors) returns the version its first read saw.
   * `causal`: the call's reads and writes form one causal session: it never
   * sees an effect without its cause. Under causal, `get` returns the array
   * of concurrent values, and puts store causal versions.
   */
  consistency?: 'lww' | 'rr' | 'causal';
  /**
   * Log every read, write and the result under the call's id, so a retry
   * (the executor died, or the caller calls again with the same `requestId`)
   * repeats no effect and returns the first result. Costs KVS round trips
   * per read and write. Functions must be deterministic given their reads.
   */
  exactlyOnce?: boolean;
  /** The call's id (an idempotency key): calls with one id are one call under `exactlyOnce`. */
  requestId?: string;
  /**
   * Read-atomic transaction: the call's writes become visible together when
   * it returns (none if it throws), and its reads never see part of another
   * atomic call's writes. Keys written atomically should only be written
   * atomically. In a DAG call the transaction spans every function: each
   * reads what those upstream of it wrote, and the sink commits all of it.
   */
  atomic?: boolean;
  /**
   * `serializable`: the call is one serializable transaction (atomic, and
   * every key it reads or writes is locked until it commits), so
   * read-modify-write code loses no update under any concurrency. A call
   * that meets a key locked by another is run again (jittered backoff) until
   * it commits or its deadline leaves no room for another try: then it fails
   * with TransactionAborted. Costs a lock round trip per key, a release at
   * the end, and a read of each key written without being read. Single
   * calls only, not DAG calls; with `exactlyOnce` it commits once
   * (docs/consistency.md).
   */
  isolation?: 'none' | 'serializable';
}

export interface RegisterOptions {
  /**
   * JSON Schema of the argument list (after `cb`), e.g. `Type.Tuple([...])`
   * of typebox: the executor refuses a call whose arguments do not match
   * with InvalidArgument before the function runs (lib/args_schema.ts).
   */
  argsSchema?: unknown;
}

export interface SendOptions {
  /** The call's id (an idempotency key): sends under one id are one call. Default: a new one, which `send` returns. */
  requestId?: string;
  /** Run it this long from now (default: at once). */
  delayMs?: number;
  /** Run it at this time (instead of `delayMs`). */
  at?: Date;
  /** Each run's deadline, from when it starts. Default: the connection's. */
  timeoutMs?: number;
}

export interface ReadOptions {
  /** Read every replica and merge what they hold (default: one replica). */
  all?: boolean;
}

export interface DagCallOptions extends CallOptions {
  /** Also store the sink's result under this key (last writer wins). */
  outputKey?: string;
}

/** The fields of a call or DAG call message that carry its `CallOptions`. */
function callFields(opts: CallOptions, dag = false): Record<string, unknown> {
  const isolation = parseIsolation(opts.isolation);
  checkIsolation(isolation, { atomic: opts.atomic, dag });
  // Serializable is atomic with locks.
  const atomic = isolation === 'serializable' || (opts.atomic ?? false);
  checkModes(opts.consistency ?? 'lww', atomic);
  return {
    consistency: opts.consistency ?? 'lww',
    once: opts.exactlyOnce ?? false,
    atomic,
    ...(isolation === 'none' ? {} : { isolation }),
    ...(opts.requestId === undefined ? {} : { id: opts.requestId }),
  };
}

/** A call's result to come; pass it as an argument, or await `result()`. */
export type CallFuture<T> = Ref & { result(): Promise<T> };

export class Cloudburst {
  /** This client's writer id in last-writer-wins timestamps. */
  readonly clientId = newId('client-');
  private readonly kvs: KvsClient;
  private readonly timeoutMs: number;

  private constructor(
    private readonly transport: Transport,
    private readonly subjects: Subjects,
    timeoutMs: number,
  ) {
    this.timeoutMs = timeoutMs;
    this.kvs = new KvsClient(transport, subjects, { timeoutMs });
  }

  static async connect(opts: ConnectOptions = {}): Promise<Cloudburst> {
    const address = clusterAddress(opts);
    // A record left by a killed `up` is ignored; say so, or a failure to reach the default would puzzle.
    if (address.notice) process.emitWarning(address.notice, { code: 'CLOUDBURST_CLUSTER_FILE' });
    const subjects = subjectsFor(address.prefix);
    const auth = withRecordedCredentials(opts.auth, address);
    let transport: NatsTransport;
    try {
      transport = await NatsTransport.connect({
        servers: address.servers,
        name: 'cloudburst-client',
        ...(auth ? { auth } : {}),
        ...(opts.nats ? { nats: opts.nats } : {}),
      });
    } catch (err) {
      throw withAddressSource(err, address);
    }
    return new Cloudburst(transport, subjects, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  /**
   * Registers `fn` (a function, or the source of an ES module whose default
   * export is the function) under `name`, replacing any earlier version; or
   * a definition made with `defineFunction`, under its name with its schema.
   * The function must not use variables from its enclosing scope: it is
   * shipped as source and runs in an executor's worker thread. Source that
   * does not parse, or has no default export that can be a function, is
   * refused here with InvalidArgument (module_check.ts says what is and is
   * not checked); a use of an outer variable is not detected, and fails on
   * call. So is an argument schema that is not a JSON object or does not
   * compile.
   */
  async register(definition: FunctionDefinition): Promise<FunctionRecord>;
  async register(name: string, fn: CloudburstFunction | string, opts?: RegisterOptions): Promise<FunctionRecord>;
  async register(nameOrDefinition: string | FunctionDefinition, fn?: CloudburstFunction | string, opts: RegisterOptions = {}): Promise<FunctionRecord> {
    const [name, code, argsSchema] =
      typeof nameOrDefinition === 'string' ? [nameOrDefinition, fn, opts.argsSchema] : [nameOrDefinition.name, nameOrDefinition.fn, nameOrDefinition.argsSchema];
    if (code === undefined) throw new InvalidArgument(`register("${name}") needs the function or its module source`);
    const record = functionRecord(name, code, argsSchema);
    // A function value's source is a function the engine has parsed already.
    if (typeof code === 'string') await checkFunctionModule(name, record.code);
    await this.kvs.put(functionKey(name), LWWPair.now(record, this.clientId), deadlineIn(this.timeoutMs));
    await this.announce(FN_UPDATED, name);
    return record;
  }

  /**
   * A registered function as a typed async function: `client.fn<typeof sum>('sum')`
   * (the type from the function's signature, e.g. by `import type`), or
   * `client.fn(definition)`. `opts` apply to every call made through it.
   * The types are the caller's promise to itself: only an argument schema
   * (`defineFunction` with `args`) is checked at run time.
   */
  fn<F extends CloudburstFunction>(fn: string | FunctionDefinition<F>, opts: CallOptions = {}): TypedFunction<F> {
    const name = typeof fn === 'string' ? fn : fn.name;
    const call = (...args: unknown[]): Promise<FunctionResult<F>> => this.call<FunctionResult<F>>(name, args, opts);
    return Object.assign(call, { functionName: name });
  }

  /**
   * A registered DAG as a typed async function: `Fns` maps each function of
   * the DAG to its type, `Sink` names the one whose result the DAG returns,
   * e.g. `client.dag<{ increment: typeof increment; square: typeof square }, 'square'>('pipeline')`.
   */
  dag<Fns extends Record<string, CloudburstFunction>, Sink extends keyof Fns>(name: string, opts: DagCallOptions = {}): TypedDag<Fns, Sink> {
    return (args = {}) => this.callDag<FunctionResult<Fns[Sink]>>(name, args as Record<string, unknown[]>, opts);
  }

  /**
   * Registers a DAG: `connections` are `[from, to]` pairs; `from`'s result is
   * passed to `to` as an extra argument after the call's own arguments (in
   * the order of `connections`). Every function must be registered; the DAG
   * must be connected, acyclic and have exactly one sink, whose result is the
   * DAG's result.
   */
  async registerDag(name: string, functions: string[], connections: [string, string][] = []): Promise<DagRecord> {
    const deadline = deadlineIn(this.timeoutMs);
    const stored = await Promise.all(functions.map((fn) => this.kvs.get(functionKey(fn), { deadline })));
    const registered = new Set(functions.filter((_, i) => stored[i] !== undefined));
    const dag = validateDag(name, functions, connections, (fn) => registered.has(fn));
    await this.kvs.put(dagKey(name), LWWPair.now(dag, this.clientId), deadline);
    await this.announce(DAG_UPDATED, name);
    return dag;
  }

  /**
   * Runs DAG `name`: `args[fn]` are the arguments of each function (none when
   * absent). Returns the sink's result; with `outputKey`, the result is also
   * stored under that key before the call returns.
   */
  async callDag<T = unknown>(name: string, args: Record<string, unknown[]> = {}, opts: DagCallOptions = {}): Promise<T> {
    const fields: Record<string, unknown> = { dag: name, args, ...callFields(opts, true) };
    if (opts.outputKey !== undefined) fields['outputKey'] = checkUserKey(opts.outputKey);
    return this.resultOf<T>(await this.run('DAG', name, 'dag', fields, opts.timeoutMs ?? this.timeoutMs));
  }

  /**
   * Sends a call or DAG call and waits for its answer until its deadline.
   * Executors cancel a function still running at the deadline (the worker
   * thread is replaced; an atomic call's writes are dropped), and the caller
   * stops waiting at the same moment, so whichever side notices first, a
   * DeadlineExceeded says which function or DAG was cancelled, not which
   * internal subject went unanswered.
   */
  private async run(what: 'function' | 'DAG', name: string, t: string, fields: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    try {
      return await request(this.transport, this.subjects.sched, t, fields, deadlineIn(timeoutMs));
    } catch (err) {
      if (!(err instanceof DeadlineExceeded)) throw err;
      throw new DeadlineExceeded(`${what} "${name}" was cancelled at its deadline: no result within ${timeoutMs} ms (raise timeoutMs, or --timeout in the CLI)`, {
        cause: err,
        data: { name, timeoutMs },
      });
    }
  }

  /**
   * Holders of the old code or DAG drop it. Published on this connection after
   * the put, so it reaches them before any call made after this returns.
   */
  private async announce(t: string, name: string): Promise<void> {
    let refused: Error | undefined;
    const off = this.transport.onRefused?.((r) => void (r.subject === this.subjects.registry && (refused = r.error)));
    try {
      this.transport.publish(this.subjects.registry, encodeMessage(t, { name }));
      await this.transport.flush();
      // The server's refusal arrives before the flush's answer, but nats.js
      // hands it on through an async iterator: let that catch up.
      if (off) await new Promise((resolve) => setImmediate(resolve));
    } finally {
      off?.();
    }
    if (refused) {
      throw new Unauthorized(
        `"${name}" is stored, but NATS refused the notice that tells executors and routers to drop the old version: registering needs the admin role (docs/security.md, "Roles")`,
        { cause: refused, data: (refused as Unauthorized).data },
      );
    }
  }

  private resultOf<T>(reply: unknown): T {
    const body = obj(reply, 'call reply');
    if (!(body['result'] instanceof Uint8Array)) throw new MalformedMessage('call reply without a result');
    return decode(body['result']) as T;
  }

  /** Runs function `name` with `args` and returns what it returned. */
  async call<T = unknown>(name: string, args: unknown[] = [], opts: CallOptions = {}): Promise<T> {
    return this.resultOf<T>(await this.run('function', name, 'call', { fn: name, args, ...callFields(opts) }, opts.timeoutMs ?? this.timeoutMs));
  }

  /**
   * Starts a call and returns at once a future of its result. The future can
   * be awaited (`result()`), or passed as an argument to later calls, which
   * the executor holds until this result exists (Cloudburst's futures).
   * Takes the options `call` does, with the same meaning; the result is
   * stored for later calls once the call is done (under `atomic`, after its
   * commit; under `exactlyOnce`, a retry stores the first result again).
   * Options that cannot be combined (`atomic` with `causal`) throw
   * InvalidArgument at once: no call starts.
   */
  callFuture<T = unknown>(name: string, args: unknown[] = [], opts: CallOptions = {}): CallFuture<T> {
    const key = `${FUTURES_PREFIX}${newId()}`;
    const fields = { fn: name, args, ...callFields(opts), outputKey: key };
    const result = this.run('function', name, 'call', fields, opts.timeoutMs ?? this.timeoutMs).then((r) => this.resultOf<T>(r));
    // Awaited or not, a failure must not become an unhandled rejection.
    result.catch(() => undefined);
    return Object.assign(new Ref(key), { result: () => result });
  }

  /**
   * Sends a call to run without waiting for it: resolves with its request
   * id once the call is recorded durably in the KVS, and from then on the
   * call runs exactly once (as `exactlyOnce`), whatever dies: the caller,
   * its router, the executor running it (executors sweep recorded calls and
   * run any left unfinished; lib/sends.ts). With `delayMs` or `at` it runs
   * then, up to about 6 s late, by the executors' clocks. Its result (or
   * error) is kept for `result(requestId)` for 10 minutes after it ran.
   * Sending again under the same `requestId` is the same call. Not yet
   * under every fault: docs/consistency.md, "Sent calls", says where the
   * fault harness still finds sends that never ran.
   */
  async send(name: string, args: unknown[] = [], opts: SendOptions = {}): Promise<string> {
    return sendCall(this.kvs, this.clientId, name, args, { timeoutMs: this.timeoutMs, ...opts }, (fields, timeoutMs) =>
      this.run('function', name, 'call', fields, timeoutMs),
    );
  }

  /**
   * The result of a call made with `send`, or of any exactly-once function
   * call (executors record those too), by its request id, waiting for it
   * (until its due time, then joining it as one more attempt of the
   * exactly-once call) for at most `timeoutMs`; the call's own error if it
   * failed. InvalidArgument when no call was recorded under `requestId` (or
   * its record is gone, 10 minutes after it ran).
   */
  async result<T = unknown>(requestId: string, opts: { timeoutMs?: number } = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return decode(await sentResult(this.kvs, requestId, deadlineIn(timeoutMs), (fields, ms) => this.run('function', str(fields, 'fn'), 'call', fields, ms))) as T;
  }

  /** The value under `key` (revealed from its lattice), or undefined. */
  async get<T = unknown>(key: string, opts: ReadOptions = {}): Promise<T | undefined> {
    return (await this.getLattice(key, opts))?.reveal() as T | undefined;
  }

  /** The lattice under `key`, or undefined. */
  async getLattice(key: string, opts: ReadOptions = {}): Promise<Lattice | undefined> {
    return this.kvs.get(checkUserKey(key), { all: opts.all ?? false });
  }

  /**
   * Stores `value`: a lattice is merged in; anything else replaces the value (last writer wins).
   * With `ttlMs` the key is deleted that long from now, on every replica; the
   * key keeps the latest expiry any put gave it (docs/kvs.md, "Lifetimes").
   */
  async put(key: string, value: unknown, opts: PutOptions = {}): Promise<void> {
    checkUserKey(key);
    const ttlMs = checkPutOptions(opts);
    return this.kvs.put(key, isLattice(value) ? value : LWWPair.now(value, this.clientId), ttlMs === undefined ? {} : { ttlMs });
  }

  /**
   * Pins the number of replicas of `key` (at most one per shard), or unpins
   * it with `null`. Pinned factors win over the hot-key policy. A factor
   * above the number of shards is kept: every shard holds the key, and more
   * do as shards join. Resolves with the KVS shards this client saw in the
   * ring as the pin was stored, for a caller to warn about such a factor.
   */
  async setReplication(key: string, replicas: number | null): Promise<{ shards: number }> {
    checkUserKey(key);
    if (replicas !== null && !(Number.isInteger(replicas) && replicas >= 1)) {
      throw new InvalidArgument('replicas must be a whole number >= 1, or null to unpin');
    }
    await this.kvs.put(PINNED_REPLICATION_KEY, new MapLattice([[key, LWWPair.now(replicas, this.clientId)]]));
    return { shards: this.kvs.ringMembers().length };
  }

  async delete(key: string): Promise<void> {
    return this.kvs.delete(checkUserKey(key));
  }

  /** What a router knows of the cluster's nodes, from their heartbeats. */
  async status(opts: CallOptions = {}): Promise<ClusterStatus> {
    return (await request(this.transport, this.subjects.sched, 'status', {}, deadlineIn(opts.timeoutMs ?? this.timeoutMs))) as ClusterStatus;
  }

  async close(): Promise<void> {
    this.kvs.close();
    await this.transport.drain();
  }
}

/** An unreachable NATS whose URL nobody gave: the message says where the URL came from. */
export function withAddressSource(err: unknown, address: ClusterAddress): unknown {
  if (!(err instanceof Unavailable) || address.from === 'given') return err;
  const source =
    address.from === 'default'
      ? `no URL given, and no running cloudburst up recorded a cluster in ${CLUSTER_FILE} here or in a parent directory: ` +
        'start one with cloudburst up, or name one with --nats (servers in code)'
      : `the URL ${address.from} records, written by a cloudburst up that still runs`;
  return new Unavailable(`${err.message} (${source})`, { cause: err });
}

