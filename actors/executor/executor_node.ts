// An executor: the main-thread actor that takes calls on its own subject and
// runs each in a piscina worker thread. A function that throws answers with
// ExecutionError; one that runs past its deadline is aborted, which makes
// piscina terminate its worker and start a fresh one, so the executor keeps
// serving whatever user code does.

import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { Actor, type ActorOptions } from '../../lib/actor/actor.js';
import { actorOptions } from '../../lib/actor/node_setup.js';
import { KvsClient } from '../../lib/client/kvs_client.js';
import { arr, encode, num, str, decodeMessage } from '../../lib/codec/index.js';
import type { ExecutorConfig } from '../../lib/config.js';
import { DeadlineExceeded, errorFromWire } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import { FunctionCache } from './function_cache.js';
import { serveState } from './state_bridge.js';
import type { WorkerOutcome, WorkerTask } from './worker_protocol.js';

const WORKER_FILE = new URL('./worker.js', import.meta.url).href;

/** What an executor answers a call with: the CBOR of the function's result. */
export interface CallReply {
  result: Uint8Array;
}

export class ExecutorNode extends Actor {
  readonly kind = 'executor' as const;
  readonly subject: string;
  private readonly pool: Piscina;
  private readonly kvs: KvsClient;
  private readonly functions: FunctionCache;
  private running = 0;

  constructor(opts: ActorOptions, threads: number) {
    super(opts);
    this.subject = this.subjects.exec(this.id);
    this.kvs = new KvsClient(this.transport, this.subjects);
    this.functions = new FunctionCache(this.kvs);
    this.pool = new Piscina({
      filename: WORKER_FILE,
      minThreads: threads,
      maxThreads: threads,
      // One invocation per thread, so aborting one that overran its deadline
      // (which terminates its thread) never takes another caller's call down.
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
    });
    this.serve(this.subject, { call: (msg) => this.call(msg) });
    this.transport.subscribe(this.subjects.fnUpdated, (m) => {
      try {
        this.functions.invalidate(str(decodeMessage(m.data), 'name'));
      } catch (err) {
        this.log.debug({ err }, 'bad fn.updated notice');
      }
    });
  }

  static async create(config: ExecutorConfig): Promise<ExecutorNode> {
    return new ExecutorNode(await actorOptions('executor', config), config.threads);
  }

  protected override heartbeatFields(): Record<string, unknown> {
    return {
      threads: this.pool.threads.length,
      running: this.running,
      queued: this.pool.queueSize,
      utilization: this.pool.utilization,
    };
  }

  protected override async onStop(): Promise<void> {
    this.kvs.close();
    await this.pool.destroy();
  }

  private async call(msg: Record<string, unknown>): Promise<CallReply> {
    const name = str(msg, 'fn');
    const args = arr(msg, 'args');
    const deadline = num(msg, 'deadline');
    const invocationId = typeof msg['id'] === 'string' ? msg['id'] : newId('inv-');
    const record = await this.functions.get(name, deadline);

    const { port1, port2 } = new MessageChannel();
    serveState(port1, this.kvs, deadline);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), deadline - Date.now());
    const task: WorkerTask = { invocationId, writer: this.id, name, hash: record.hash, code: record.code, args: encode(args), port: port2 };
    this.running++;
    try {
      const outcome = (await this.pool.run(task, { transferList: [port2, task.args.buffer as ArrayBuffer], signal: abort.signal })) as WorkerOutcome;
      if (!outcome.ok) throw errorFromWire(outcome.error);
      return { result: outcome.result };
    } catch (err) {
      if (abort.signal.aborted) {
        throw new DeadlineExceeded(`function ${name} did not return before its deadline; its worker was recycled`, { data: { name } });
      }
      throw err;
    } finally {
      this.running--;
      clearTimeout(timer);
      port1.close();
    }
  }
}
