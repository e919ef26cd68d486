// The DAG stages an executor is waiting to run. A stage runs once its
// upstream results have all arrived; results may come before the stage
// itself (another executor can be quicker than the router), so both are
// kept until the call's deadline and then dropped.

import { timerMs } from '../../lib/deadline.js';
import type { Stage } from '../../lib/dag_protocol.js';
import type { VectorClock } from '../../lib/lattice/index.js';
import type { CarriedTransaction } from './transaction.js';

/** What the stages upstream of one pass on besides their results. */
export interface Upstream {
  /** Repeatable-read pins made upstream (key → executor subject). */
  pins: Map<string, string>;
  /** Causal dependencies gathered upstream (key → least vector clock). */
  deps: Map<string, VectorClock>;
  /** An atomic call's transaction as each upstream stage left it. */
  txs: CarriedTransaction[];
}

interface Waiting extends Upstream {
  stage?: Stage;
  inputs: Map<string, Uint8Array>;
  timer: NodeJS.Timeout;
}

/** What one upstream result message brings. */
export interface Passed {
  pins: [string, string][];
  deps: [string, VectorClock][];
  tx: CarriedTransaction | undefined;
}

export class DagStages {
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly run: (stage: Stage, inputs: Uint8Array[], upstream: Upstream) => void) {}

  stage(stage: Stage): void {
    this.entry(stage.run, stage.fn, stage.deadline).stage = stage;
    this.check(stage.run, stage.fn);
  }

  /** An upstream result for stage `to` of run `run` (Stage.run). */
  result(run: string, to: string, from: string, value: Uint8Array, deadline: number, { pins, deps, tx }: Passed): void {
    const w = this.entry(run, to, deadline);
    w.inputs.set(from, value);
    if (tx) w.txs.push(tx);
    // Parallel branches may each have pinned a key; the first pin stays.
    for (const [key, subject] of pins) if (!w.pins.has(key)) w.pins.set(key, subject);
    // Causal dependencies of every branch hold downstream.
    for (const [key, clock] of deps) w.deps.set(key, w.deps.get(key)?.merge(clock) ?? clock);
    this.check(run, to);
  }

  private entry(id: string, fn: string, deadline: number): Waiting {
    const key = `${id}/${fn}`;
    let w = this.waiting.get(key);
    if (!w) {
      const timer = setTimeout(() => this.waiting.delete(key), timerMs(deadline));
      timer.unref();
      this.waiting.set(key, (w = { inputs: new Map(), pins: new Map(), deps: new Map(), txs: [], timer }));
    }
    return w;
  }

  private check(id: string, fn: string): void {
    const key = `${id}/${fn}`;
    const w = this.waiting.get(key);
    if (!w?.stage || !w.stage.inputs.every((i) => w.inputs.has(i))) return;
    clearTimeout(w.timer);
    this.waiting.delete(key);
    this.run(w.stage, w.stage.inputs.map((i) => w.inputs.get(i)!), w);
  }
}
