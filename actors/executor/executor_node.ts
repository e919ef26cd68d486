// An executor: the main-thread actor that takes calls on its own subject and
// runs each in a piscina worker thread. A function that throws answers with
// ExecutionError; one that runs past its deadline is aborted, which makes
// piscina terminate its worker and start a fresh one, so the executor keeps
// serving whatever user code does.

import { setTimeout as delay } from 'node:timers/promises';
import type { Piscina } from 'piscina';
import { Actor, type ActorOptions } from '../../lib/actor/actor.js';
import { actorOptions } from '../../lib/actor/node_setup.js';
import { KvsClient } from '../../lib/client/kvs_client.js';
import { arr, decode, encode, num, obj, str } from '../../lib/codec/index.js';
import type { ExecutorConfig } from '../../lib/config.js';
import { Closed, DeadlineExceeded, InvalidArgument, MalformedMessage, TransactionAborted, asCloudburstError, errorFromWire } from '../../lib/errors.js';
import { DEFAULT_TIMEOUT_MS, remainingMs, timerMs } from '../../lib/deadline.js';
import { newId } from '../../lib/ids.js';
import { FN_MESSAGE, FUNCTIONS, type FunctionRecord } from '../../lib/function_record.js';
import { checkArgs } from '../../lib/args_schema.js';
import { DAG_RESULT, DAG_STAGE, PIN_GET, checkIsolation, checkModes, parseConsistency, parseIsolation, parseDeps, parsePins, parseStage, type Stage } from '../../lib/dag_protocol.js';
import { encodeError, encodeReply, request } from '../../lib/actor/rpc.js';
import { LWWPair, MultiKeyCausal, VectorClock, type Lattice } from '../../lib/lattice/index.js';
import { DagStages, type Upstream } from './dag_stages.js';
import { RegistryCache } from '../../lib/registry_cache.js';
import { answerState, type Invocation, type InvocationHost } from './state_bridge.js';
import { PinnedVersions, addDependency, type Session } from './sessions.js';
import { EffectLog, logKey } from './effect_log.js';
import { executorTiming, type ExecutorTiming } from './executor_timing.js';
import { DelayedDeletes } from '../../lib/kvs/delayed_deletes.js';
import { CommitIntents } from './commit_intents.js';
import { Collector } from './collector.js';
import { SendCollector } from './send_collector.js';
import { isTransient, outcomeRecord, recordCall, sendKey, type SendIntent, type SendOutcome } from '../../lib/sends.js';
import { FinishedTransactions, MarkedKeys, Transaction, TxClock, parseCarriedTransaction, type CarriedTransaction } from './transaction.js';
import { MainStateLine } from './state_line.js';
import { CallLocks } from './locks.js';
import { stallAfterCheck } from './test_hooks.js';
import { ExecutorState } from './executor_state.js';
import { Ref } from '../../lib/reference.js';
import { Inboxes, type Delivered } from './inboxes.js';
import { callFields, sendCallMessage } from './nested_calls.js';
import { sendCall } from '../../lib/client/send_calls.js';
import { DoneNotices } from './done_notices.js';
import type { WorkerOutcome, WorkerReads, WorkerTask } from './worker_protocol.js';
import { workerPool } from './worker_pool.js';
import { executorMetrics } from '../../lib/node_metrics.js';

/** Where an invocation's reads go: see WorkerReads. */
function workerReads({ session, tx, log }: Omit<Invocation, 'deadline'>): WorkerReads {
  if (tx || session?.consistency === 'rr') return 'pinned';
  // Under exactly-once every read is a logged, numbered step: a read the
  // worker answered from the cache would be neither, so a re-run on another
  // executor (another cache) would number its steps differently and miss
  // the first attempt's logged writes.
  return session?.consistency === 'causal' || log ? 'main' : 'cache';
}

/** A serializable call's pause before its next try: full jitter over a doubling bound (5 ms, then 10 ms, … up to 250 ms). */
function retryPause(attempt: number): number {
  const bound = Math.min(250, 5 * 2 ** Math.min(attempt, 10));
  return Math.ceil(bound / 2 + Math.random() * (bound / 2));
}

/** A serializable call gives up this long before its deadline at least, so its TransactionAborted reaches the caller in time. */
const REPLY_MARGIN_MS = 100;

/** The effect log of try `n` of exactly-once serializable call `id` (the first try's is the call's own). */
const tryLogId = (id: string, n: number): string => (n === 0 ? id : `${id}/try${n}`);

/** Whether a logged `end` step says `what`. */
const isEnd = (logged: Uint8Array | null | undefined, what: 'commit' | 'aborted'): boolean => logged != null && decode(logged) === what;

/** The decided outcome of `step` (CBOR), `mine` proposed if none is. */
async function decodedOnce<T>(log: EffectLog, step: string, deadline: number, mine: T): Promise<T> {
  return decode((await log.once(step, deadline, () => Promise.resolve(encode(mine))))!) as T;
}

/** Deadline of storing a recorded call's outcome. */
const SETTLE_TIMEOUT_MS = 10_000;

/** A recorded call is run by the sweep with at least this long a deadline, however little its first attempt had left. */
const RECORDED_MIN_TIMEOUT_MS = 5_000;

/** Cached keys named in each heartbeat, for locality-aware scheduling. */
const CACHED_KEYS_REPORTED = 1000;

/** What an executor answers a call with: the CBOR of the function's result. */
export interface CallReply {
  result: Uint8Array;
}

export class ExecutorNode extends Actor implements InvocationHost {
  readonly kind = 'executor' as const;
  readonly subject: string;
  private readonly pool: Piscina;
  private readonly kvs: KvsClient;
  private readonly state: ExecutorState;
  private readonly functions: RegistryCache<FunctionRecord>;
  private running = 0;
  private readonly stages: DagStages;
  private readonly inboxes = new Inboxes();
  /** Running instances, for requests on the state line. */
  private readonly live = new Map<string, Invocation>();
  private readonly pinned = new PinnedVersions();
  private readonly deletes: DelayedDeletes;
  /** Where this executor's commits file their intents, and what finishes or rolls back every executor's commits from them. */
  private readonly intents: CommitIntents;
  private readonly collector: Collector;
  private readonly sends: SendCollector;
  /** Keys seen marked by a transaction, shared by every transaction here. */
  private readonly marked = new MarkedKeys();
  /** Transactions seen done, shared likewise (a reader finishes an old one it reads, once per executor). */
  private readonly finished = new FinishedTransactions();
  /** The clock this executor's transactions commit by (a test may give executors clocks that disagree). */
  txClock = new TxClock();
  private readonly line: MainStateLine;
  private readonly done: DoneNotices;
  private instances = 0;
  /** DAG stages running (their functions, and passing their results on). */
  private stagesRunning = 0;
  /** Stopping: routers place no new work here (see beforeStop). */
  private draining = false;
  /** The last causal version stamp each worker thread wrote (see writeCausal). */
  private readonly causalStamps = new Map<string, number>();
  private readonly calls: ReturnType<typeof executorMetrics> | undefined;
  private readonly timing: ExecutorTiming = executorTiming();

  constructor(opts: ActorOptions, config: Pick<ExecutorConfig, 'threads' | 'minThreads' | 'cacheBytes'>) {
    super(opts);
    this.subject = this.subjects.exec(this.id);
    this.kvs = new KvsClient(this.transport, this.subjects, { onBackgroundError: (err) => this.log.debug({ err }, 'cache refresh failed') });
    this.state = new ExecutorState(this.kvs, config.cacheBytes);
    this.done = new DoneNotices(this.transport);
    this.deletes = new DelayedDeletes(this.kvs, this.timing.deletes, (err, what) => this.log.debug({ err, what }, 'delayed deletes: failed; tried again'));
    this.intents = new CommitIntents(this.kvs, this.timing.intents);
    this.collector = new Collector(this.kvs, this.intents, this.deletes, this.timing.tx, this.log);
    this.sends = new SendCollector(
      this.kvs,
      (fields, deadline) => sendCallMessage(this.transport, this.subjects, fields, deadline),
      this.deletes,
      this.timing.logRetentionMs,
      this.timing.sends,
      this.log,
    );
    this.line = new MainStateLine(
      this.id,
      async (req) => {
        const inv = this.live.get(req.instance);
        if (inv === undefined) throw new Closed(`instance ${req.instance} has ended`);
        return await answerState(req, this, inv);
      },
      (err) => ({ error: asCloudburstError(err).toWire() }),
    );
    this.functions = new RegistryCache(this.kvs, FUNCTIONS, this.transport, this.subjects, (err) => this.log.debug({ err }, 'bad registry notice'));
    // Every worker reads the shared-memory cache directly.
    this.pool = workerPool(config, { cache: this.state.writer.buffer, executorId: this.id });
    this.calls =
      this.metrics &&
      executorMetrics(this.metrics, { cache: () => this.cacheStats, running: () => this.running, queued: () => this.pool.queueSize, threads: () => this.pool.threads.length });
    this.stages = new DagStages((stage, inputs, upstream) => void this.runStage(stage, inputs, upstream));
    this.serve(this.subjects.instances(this.id), {
      [FN_MESSAGE]: (msg, ctx) => {
        if (!(msg['data'] instanceof Uint8Array)) throw new MalformedMessage('a message needs its data bytes');
        const to = ctx.subject.slice(`${this.subjects.prefix}.fn.`.length);
        this.inboxes.deliver(to, { from: str(msg, 'from'), data: msg['data'] });
        return {};
      },
    });
    this.serve(this.subject, {
      call: (msg) => this.call(msg),
      [DAG_STAGE]: (msg) => (this.stages.stage(parseStage(msg)), {}),
      [DAG_RESULT]: (msg) => {
        if (!(msg['value'] instanceof Uint8Array)) throw new MalformedMessage('a DAG result needs its value bytes');
        this.stages.result(typeof msg['run'] === 'string' ? msg['run'] : str(msg, 'id'), str(msg, 'to'), str(msg, 'from'), msg['value'], num(msg, 'deadline'), {
          pins: parsePins(msg['pins']),
          deps: parseDeps(msg['deps']),
          tx: parseCarriedTransaction(msg['tx']),
        });
        return {};
      },
      [PIN_GET]: (msg) => {
        const value = this.pinned.get(str(msg, 'session'), str(msg, 'key'));
        return value === undefined ? {} : { value };
      },
    });
  }

  static async create(config: ExecutorConfig): Promise<ExecutorNode> {
    return new ExecutorNode(await actorOptions('executor', config), config);
  }

  protected override heartbeatFields(): Record<string, unknown> {
    const cache = this.cacheStats;
    return {
      cached: this.state.cachedKeys(CACHED_KEYS_REPORTED),
      cacheBytes: cache.bytes,
      cacheEntries: cache.entries,
      // Reads answered from the cache (worker threads included), and fetches it could not answer.
      cacheHits: cache.hits,
      cacheMisses: cache.misses,
      threads: this.pool.threads.length,
      running: this.running,
      queued: this.pool.queueSize,
      utilization: this.pool.utilization,
      ...(this.draining ? { draining: true } : {}),
    };
  }

  /**
   * Routers stop placing work here once they hear that it drains; what they
   * sent before still arrives and runs. So the work finishes, and its done
   * notices go out, before `leave` does: work still running at `leave` would
   * be sent again elsewhere and run twice.
   */
  protected override async beforeStop(): Promise<void> {
    this.draining = true;
    this.heartbeat();
    do await delay(this.heartbeatMs);
    while (this.requestsInFlight > 0 || this.running > 0 || this.stagesRunning > 0);
  }

  protected override async onStop(): Promise<void> {
    this.collector.close();
    this.sends.close();
    await this.deletes.close();
    this.line.close();
    this.state.close();
    this.kvs.close();
    await this.pool.destroy();
  }

  private async call(msg: Record<string, unknown>): Promise<CallReply> {
    const id = typeof msg['id'] === 'string' ? msg['id'] : newId('inv-');
    const deadline = num(msg, 'deadline');
    const consistency = parseConsistency(msg['consistency']);
    const isolation = parseIsolation(msg['isolation']);
    checkIsolation(isolation, { atomic: msg['atomic'] === true, dag: false });
    const serializable = isolation === 'serializable';
    checkModes(consistency, msg['atomic'] === true || serializable);
    try {
      const session: Session | undefined = consistency === 'lww' ? undefined : { id, consistency, pins: new Map(), deps: new Map() };
      const once = msg['once'] === true;
      const tx = msg['atomic'] === true && !serializable ? this.transaction(id, once) : undefined;
      const fn = str(msg, 'fn');
      const args = arr(msg, 'args');
      // Accepted means finished: an exactly-once call is recorded before it runs, for the sweep of recorded calls to finish.
      const recorded = once && msg['recorded'] !== true ? this.record(id, fn, args, consistency, msg['atomic'] === true || serializable, deadline, serializable) : undefined;
      let result: Uint8Array;
      try {
        result = serializable ? await this.runSerializable(fn, args, deadline, id, session, once, recorded) : await this.runOnce(fn, args, deadline, id, once, { session, tx }, false, recorded);
      } catch (err) {
        // A call that failed for what it is is finished: the sweep must not run it again.
        const error = asCloudburstError(err);
        if (once && !isTransient(error.code)) this.settle(id, { error: error.toWire() });
        throw err;
      }
      if (once) this.settle(id, { result });
      // A future's result is kept for later calls that take it as an argument.
      if (typeof msg['outputKey'] === 'string') await this.storeResult(msg['outputKey'], result, deadline);
      return { result };
    } finally {
      if (typeof msg['router'] === 'string') this.done.add(msg['router'], id);
    }
  }

  /** Records exactly-once call `id` (lib/sends.ts), to be looked at after its deadline. */
  private record(id: string, fn: string, args: unknown[], consistency: SendIntent['consistency'], atomic: boolean, deadline: number, serializable: boolean): Promise<void> {
    const now = Date.now();
    const intent: SendIntent = { fn, args, due: now, timeoutMs: Math.max(RECORDED_MIN_TIMEOUT_MS, deadline - now), consistency, atomic, ...(serializable ? { serializable } : {}) };
    const recording = recordCall(this.kvs, this.id, id, intent, deadline, deadline);
    // Awaited before the function runs; a call that ends before (its result logged already) must not leave it unhandled.
    recording.catch(() => undefined);
    return recording;
  }

  /**
   * Stores how recorded call `id` ended, so the sweep finds it finished and
   * calls nothing; not awaited: if this executor dies first, the sweep's
   * call is answered from the log. The record goes after retention.
   */
  private settle(id: string, outcome: SendOutcome): void {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    this.kvs.put(sendKey(id), outcomeRecord(outcome, this.id), deadline).catch((err: unknown) => this.log.debug({ err, id }, 'storing a recorded call\'s outcome failed; the sweep will'));
    this.deletes.at(sendKey(id), Date.now() + this.timing.logRetentionMs);
  }

  /** Keeps a call's result (CBOR) under `key`, last writer wins: futures and DAG `outputKey`. */
  private storeResult(key: string, result: Uint8Array, deadline: number): Promise<void> {
    return this.kvs.put(key, LWWPair.now(decode(result), this.id), deadline);
  }

  /** The cache as the main thread sees it: gets it answered from memory or had to fetch. */
  get cacheStats(): { hits: number; misses: number; entries: number; bytes: number; evictions: number } {
    const { hits, misses, writer } = this.state;
    return { hits, misses, entries: writer.entries, bytes: writer.bytesUsed, evictions: writer.evictions };
  }

  async get(key: string, { deadline, session, tx, log, locks }: Invocation): Promise<Lattice | undefined> {
    // Serializable: locked first, so the version read is the last committed one and stays so until this commit.
    await locks?.take(key);
    if (tx) return tx.read(key, deadline);
    if (session?.consistency === 'causal') return this.readCausal(key, session, deadline);
    // An exactly-once read is a step decided in the KVS anyway: it reads what
    // every replica holds, not the cache, which may not have heard a write
    // acknowledged elsewhere yet (a lost or late push). So exactly-once
    // read-modify-write calls made one after another each see the last.
    if (session?.consistency !== 'rr') return log ? this.state.fetch(key, deadline) : this.state.get(key, deadline);
    const where = session.pins.get(key);
    if (where === this.subject) return this.pinned.get(session.id, key);
    if (where !== undefined) {
      // Pinned by another executor of this call: its version, not ours.
      const body = obj(await request(this.transport, where, PIN_GET, { session: session.id, key }, deadline), 'pinned version');
      return body['value'] as Lattice | undefined;
    }
    const value = await this.state.get(key, deadline);
    this.pinned.pin(session.id, key, value, deadline);
    session.pins.set(key, this.subject);
    return value;
  }

  async put(key: string, value: Lattice, { deadline, session, tx, locks }: Invocation, thread: number, expiresAt = 0): Promise<void> {
    await locks?.take(key);
    // In a transaction, writes wait for the commit.
    if (tx) return tx.write(key, value);
    if (session?.consistency === 'causal') return this.writeCausal(key, value, session, deadline, `${this.id}/${thread}`);
    await this.state.put(key, value, deadline, expiresAt);
    // A session reads its own writes: the written version becomes its pin.
    if (session?.consistency === 'rr') {
      this.pinned.pin(session.id, key, await this.state.get(key, deadline), deadline);
      session.pins.set(key, this.subject);
    }
  }

  callFunction(fn: string, args: unknown[], deadline: number, requestId?: string): Promise<Uint8Array> {
    return sendCallMessage(this.transport, this.subjects, callFields(fn, args, requestId), deadline);
  }

  sendFunction(fn: string, args: unknown[], deadline: number, opts: { requestId?: string; delayMs?: number }): Promise<string> {
    // Recorded within the caller's deadline; its runs get the default deadline each.
    return sendCall(this.kvs, this.id, fn, args, { ...opts, timeoutMs: DEFAULT_TIMEOUT_MS, recordBy: deadline }, (fields, timeoutMs) =>
      sendCallMessage(this.transport, this.subjects, fields, Date.now() + timeoutMs),
    );
  }

  async send(from: string, to: string, data: Uint8Array, deadline: number): Promise<void> {
    await request(this.transport, this.subjects.instance(to), FN_MESSAGE, { from, data }, deadline);
  }

  receive(id: string, deadline: number): Promise<Delivered> {
    return this.inboxes.receive(id, deadline);
  }

  /**
   * The transaction of call `id`. Under exactly-once every attempt of the
   * call is one transaction, which a re-run finishes; otherwise a re-run
   * (the router sends a call again when its executor dies) computes other
   * writes and so must be a transaction of its own.
   */
  private transaction(id: string, once: boolean): Transaction {
    return new Transaction(once ? id : newId(`${id}.`), this.kvs, this.intents, this.marked, this.timing.tx, this.txClock, this.finished);
  }

  /**
   * `invoke`, under an effect log when `once`: an attempt that finds the
   * result of an earlier one returns it without running, and the result is
   * logged (an atomic call commits before that, so a re-run finds it done).
   * A transaction is committed unless `passedOn` (a DAG stage before the
   * sink), whose transaction is logged instead, for a re-run to pass on.
   * Under the log, attempts running at once agree on everything they act
   * on: the result, the commit time, and what a stage passes on are decided
   * steps like the reads and writes.
   */
  private async runOnce(
    name: string,
    args: unknown[],
    deadline: number,
    requestId: string,
    once: boolean,
    ctx: Omit<Invocation, 'deadline' | 'log'>,
    passedOn = false,
    /** Resolves once the call is recorded (in parallel with opening its log); the function runs only then. */
    recorded?: Promise<void>,
  ): Promise<Uint8Array> {
    const log = once ? await EffectLog.open(this.kvs, requestId, deadline) : undefined;
    await recorded;
    // Filed as the attempt starts (every attempt does), so that a call that
    // throws, or whose executor dies, does not leave its log for good.
    if (log) this.deletes.at(logKey(requestId), deadline + this.timing.logRetentionMs);
    const logged = await log?.logged('result', deadline);
    if (log && logged) {
      const carried = await log.logged('tx', deadline);
      if (ctx.tx && carried) ctx.tx.absorb(decode(carried) as CarriedTransaction);
      return logged;
    }
    const result = await this.invoke(name, args, deadline, requestId, log ? { ...ctx, log } : ctx);
    // All or nothing: a call that threw never gets here, and its writes are dropped.
    const { tx } = ctx;
    const decided = async (step: string, mine: () => unknown): Promise<unknown> => decode((await log!.once(step, deadline, () => Promise.resolve(encode(mine()))))!);
    // The executor's cache keeps up with the transaction's own writes.
    const wrote = (key: string, value: Lattice): void => this.state.wrote(key, value);
    if (tx && !passedOn) await tx.commit(deadline, log && tx.writing ? ((await decided('commit', () => tx.now())) as number) : undefined, wrote);
    else if (tx && log) tx.adopt((await decided('tx', () => tx.carried())) as CarriedTransaction);
    if (!log) return result;
    return (await log.once('result', deadline, () => Promise.resolve(result))) ?? result;
  }

  /**
   * A serializable call (locks.ts): tries of the function, each its own
   * transaction holding a lock on every key it touches, until one commits.
   * A try that meets a lock held by another call (or loses one of its own)
   * is given up: its writes dropped, its locks released; the function runs
   * again after a jittered pause that doubles each time, while the deadline
   * leaves room for another try as long as the last one took;
   * TransactionAborted otherwise. A try that fails for another reason fails
   * the call, as an atomic call's does.
   * Under exactly-once each try has its own effect log (`tryLogId`), since a
   * try given up must read afresh: the log's step `end` decides, once, that
   * the try commits or was given up, and every attempt of the call (a re-run
   * after a crash, or one running at once) skips the tries given up and
   * joins the first that is not, under the same lock owner (the try's log
   * id), so it replays that try's reads and commits it at its decided time.
   * The generation each lock was first held at is logged too: an attempt
   * that finds another one (the hold lapsed meanwhile) gives the try up
   * unless it was decided to commit.
   */
  private async runSerializable(
    name: string,
    args: unknown[],
    deadline: number,
    id: string,
    session: Session | undefined,
    once: boolean,
    recorded: Promise<void> | undefined,
  ): Promise<Uint8Array> {
    await recorded;
    let tryNo = 0;
    let lastConflict: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      let log: EffectLog | undefined;
      if (once) {
        for (;;) {
          log = await EffectLog.open(this.kvs, tryLogId(id, tryNo), deadline);
          this.deletes.at(logKey(log.requestId), deadline + this.timing.logRetentionMs);
          const result = await log.logged('result', deadline);
          if (result) return result;
          if (!isEnd(await log.logged('end', deadline), 'aborted')) break;
          tryNo++;
        }
      }
      const tx = log ? this.transaction(log.requestId, true) : this.transaction(id, false);
      const agreed = log && ((key: string, generation: number) => decodedOnce<number>(log, `g:${key}`, deadline, generation));
      const locks = new CallLocks(this.kvs, tx.id, deadline, agreed);
      let result: Uint8Array;
      /**
       * Set once this attempt sealed the locks and the try is decided to commit: its index entries go out next (or
       * another attempt's do), so the commit may become visible and is final only once complete or collected.
       */
      let committing = false;
      try {
        result = await this.invoke(name, args, deadline, id, { session, tx, locks, ...(log ? { log } : {}) });
        // The function may have caught a conflict and returned anyway: the try is still over.
        locks.check();
        await tx.readWritten(deadline);
        const ts = log && tx.writing ? await decodedOnce<number>(log, 'commit', deadline, tx.now()) : undefined;
        // This attempt's seal token (another attempt of the try seals with its own, named in its own intent).
        const token = newId('seal.');
        const decideCommit = async (): Promise<void> => {
          locks.check();
          stallAfterCheck(tx.id);
          // The fence: every lock still held at its generation, on its primary's clock, and held from now until the commit is final.
          if (tx.writing) await locks.seal(token);
          // The last moment to give the try up: once decided, every attempt commits it.
          if (log && !isEnd(await log.once('end', deadline, () => Promise.resolve(encode('commit'))), 'commit')) {
            locks.conflict ??= { key: '(another attempt gave this try up)', holder: undefined };
            locks.check();
          }
          committing = tx.writing;
        };
        const fence = { locks: locks.keys(), seals: [token] };
        if (tx.writing) await tx.commit(deadline, ts, (key, value) => this.state.wrote(key, value), decideCommit, fence);
        else await decideCommit();
        if (log) result = (await log.once('result', deadline, () => Promise.resolve(result))) ?? result;
      } catch (err) {
        if (committing) {
          // Its index entries may have gone out: the collector finishes or rolls back the commit, then releases the sealed locks. Not a conflict: not tried again.
          locks.abandon();
          throw err;
        }
        await locks.release();
        // A try that ran out of time after earlier ones met locks: contention, not a slow function.
        if (!locks.conflict && lastConflict && asCloudburstError(err).code === 'DEADLINE_EXCEEDED') {
          throw new TransactionAborted(`serializable call of ${name} ran out of time after ${attempt} tries given up on locks ("${lastConflict}" last)`, { cause: err, data: { key: lastConflict, tries: attempt + 1 } });
        }
        if (!locks.conflict) throw err;
        lastConflict = locks.conflict.key;
        // Given up for every attempt, unless one decided to commit it: then this attempt joins that commit.
        if (log && isEnd(await log.once('end', deadline, () => Promise.resolve(encode('aborted'))), 'aborted')) tryNo++;
        else if (log) {
          // Decided to commit, so its locks were sealed first: this attempt lost them only because that commit is
          // complete, or was rolled forward or back by the collector, which released them. Whether it committed is
          // not known here, and no later try of this attempt can hold the locks again: an unknown outcome.
          throw new DeadlineExceeded(`serializable call of ${name}: another attempt decided to commit this try and its locks are released; whether the commit completed is not known here`, {
            data: { key: locks.conflict.key },
          });
        }
        const pause = retryPause(attempt);
        const tookMs = Date.now() - started;
        // Room for a try as long as the last, and for the answer to reach the caller before its own timer.
        if (Date.now() + pause + tookMs + REPLY_MARGIN_MS >= deadline) {
          throw new TransactionAborted(`serializable call of ${name} gave up after ${attempt + 1} tries: "${locks.conflict.key}" is locked by ${locks.conflict.holder ?? 'another call'} and the deadline leaves no room for another try`, {
            data: { key: locks.conflict.key, tries: attempt + 1 },
          });
        }
        await delay(pause);
        continue;
      }
      await locks.release();
      return result;
    }
  }

  /** Runs function `name` in a worker; resolves with the CBOR of its result. */
  private async invoke(name: string, args: unknown[], deadline: number, invocationId: string, ctx: Omit<Invocation, 'deadline'> = {}): Promise<Uint8Array> {
    const record = await this.functions.get(name, deadline);
    args = await this.resolveReferences(args, deadline);
    // Before a worker is taken: arguments of the wrong shape never reach the function.
    if (record.argsSchema) checkArgs(name, record.argsSchema, args);
    // Past its deadline already (it came late, or waited for its code or
    // arguments): not started, since cancelling it would cost a worker thread.
    if (deadline <= Date.now()) throw new DeadlineExceeded(`function ${name} was not started: its deadline had passed`, { data: { name } });
    // The instance's address for cb.send / cb.recv.
    const instance = `${this.id}.${++this.instances}`;
    this.inboxes.open(instance);
    this.live.set(instance, { ...ctx, deadline, code: record.code });
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timerMs(deadline));
    const task: WorkerTask = { invocationId: instance, requestId: invocationId, writer: this.id, name, hash: record.hash, args: encode(args), reads: workerReads(ctx) };
    this.running++;
    const measured = this.calls?.call(name);
    try {
      const outcome = (await this.pool.run(task, { transferList: [task.args.buffer as ArrayBuffer], signal: abort.signal })) as WorkerOutcome;
      if (!outcome.ok) throw errorFromWire(outcome.error);
      measured?.('ok');
      return outcome.result;
    } catch (err) {
      measured?.(abort.signal.aborted ? 'DEADLINE_EXCEEDED' : asCloudburstError(err).code);
      if (abort.signal.aborted) {
        throw new DeadlineExceeded(`function ${name} did not return before its deadline; its worker was recycled`, { data: { name } });
      }
      throw err;
    } finally {
      this.running--;
      clearTimeout(timer);
      this.live.delete(instance);
      this.inboxes.close(instance);
    }
  }

  /**
   * A causal read: never older than what the session depends on (fetched
   * afresh when the cache is behind), and shown only once the cache holds
   * every dependency of the value, which the session then depends on too.
   */
  private async readCausal(key: string, session: Session, deadline: number): Promise<Lattice | undefined> {
    const covers = (v: Lattice | undefined, clock: VectorClock): boolean => v instanceof MultiKeyCausal && v.clock.dominates(clock);
    let value = await this.state.get(key, deadline);
    const floor = session.deps.get(key);
    while (floor && !covers(value, floor)) {
      remainingMs(deadline, `causal read of ${key}`);
      value = await this.state.fetch(key, deadline);
    }
    if (!(value instanceof MultiKeyCausal)) return value;
    const causal = value as MultiKeyCausal;
    // Dependencies the session already holds at these versions were made
    // present when it got them (or are floors its reads of them enforce).
    const fresh = [...causal.deps].filter(([dep, clock]) => !session.deps.get(dep)?.dominates(clock));
    await Promise.all(
      fresh.map(async ([dep, clock]) => {
        addDependency(session, dep, clock);
        // Writers wrote every replica before writing what depends on it, so one fetch is enough.
        if (!covers(await this.state.get(dep, deadline), clock)) await this.state.fetch(dep, deadline);
      }),
    );
    addDependency(session, key, causal.clock);
    return causal;
  }

  /**
   * A causal write: a new version after what the session saw of the key
   * (its reads and writes), depending on everything else it saw. Not after
   * what the cache holds now: a version that arrived since the function read
   * is concurrent with this write and must stay beside it, not be superseded.
   * Versions are stamped per worker thread (`writer`), so two calls running
   * at once on one executor never write the same clock; the stamp is above
   * every earlier one of that thread, so its writes never collide either
   * (one that did not read the key still supersedes that thread's earlier
   * versions of it).
   */
  private async writeCausal(key: string, value: Lattice, session: Session, deadline: number, writer: string): Promise<void> {
    if (!(value instanceof LWWPair)) throw new InvalidArgument('under causal consistency, put plain values (they become causal versions)');
    const seen = session.deps.get(key) ?? new VectorClock();
    // Starting from the clock time keeps stamps rising across a restart of an executor that keeps its id.
    const stamp = Math.max(seen.get(writer), this.causalStamps.get(writer) ?? Date.now()) + 1;
    this.causalStamps.set(writer, stamp);
    const clock = seen.merge(new VectorClock([[writer, stamp]]));
    const deps = [...session.deps].filter(([k]) => k !== key);
    await this.state.put(key, new MultiKeyCausal(clock, [value.value], deps), deadline);
    addDependency(session, key, clock);
  }

  /** Top-level `ref(key)` arguments become the key's value, read through the cache. */
  private resolveReferences(args: unknown[], deadline: number): Promise<unknown[]> {
    if (!args.some((a) => a instanceof Ref)) return Promise.resolve(args);
    return Promise.all(args.map(async (a) => (a instanceof Ref ? (await this.resolve(a, deadline))?.reveal() : a)));
  }

  /** A reference's value; a future's is waited for (its call may still run), until the deadline. */
  private async resolve(ref: Ref, deadline: number): Promise<Lattice | undefined> {
    const now = await this.state.get(ref.key, deadline);
    if (now || !ref.isFuture) return now;
    return new Promise<Lattice>((resolve, reject) => {
      const settle = (value: Lattice | Error): void => {
        clearTimeout(timer);
        watch.close();
        if (value instanceof Error) reject(value);
        else resolve(value);
      };
      const timer = setTimeout(() => settle(new DeadlineExceeded(`the future ${ref.key} did not resolve before the deadline`)), timerMs(deadline));
      const watch = this.kvs.watch([ref.key], (_key, value) => settle(value));
      // It may have been stored between the first read and the watch.
      this.kvs.get(ref.key, { deadline }).then(
        (value) => value && settle(value),
        () => undefined,
      );
    });
  }

  /** Runs one DAG stage; the result goes downstream, or to the caller from the sink. */
  private async runStage(stage: Stage, inputs: Uint8Array[], { pins, deps, txs }: Upstream): Promise<void> {
    this.stagesRunning++;
    try {
      const session: Session = { id: stage.id, consistency: stage.consistency, pins, deps };
      // Every stage of an atomic call works in one transaction, named by the call (and, without exactlyOnce, the attempt).
      const tx = stage.atomic ? this.transaction(stage.id, stage.once) : undefined;
      for (const upstream of txs) tx?.absorb(upstream);
      const args = [...stage.args, ...inputs.map((b) => decode(b))];
      const sink = stage.next.length === 0;
      const result = await this.runOnce(stage.fn, args, stage.deadline, `${stage.id}/${stage.fn}`, stage.once, { session, tx }, !sink);
      if (sink) {
        if (stage.outputKey !== undefined) await this.storeResult(stage.outputKey, result, stage.deadline);
        this.transport.publish(stage.replyTo, encodeReply({ result }, this.transport.maxPayload));
        if (stage.router !== undefined) this.done.add(stage.router, stage.run);
        return;
      }
      await Promise.all(
        stage.next.map((n) =>
          request(
            this.transport,
            n.subject,
            DAG_RESULT,
            { id: stage.id, run: stage.run, to: n.fn, from: stage.fn, value: result, pins: [...pins], deps: [...deps], ...(tx ? { tx: tx.carried() } : {}) },
            stage.deadline,
          ),
        ),
      );
    } catch (err) {
      this.transport.publish(stage.replyTo, encodeError(asCloudburstError(err)));
    } finally {
      this.stagesRunning--;
    }
  }
}
