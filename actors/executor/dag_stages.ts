// The DAG stages an executor is waiting to run. A stage runs once its
// upstream results have all arrived; results may come before the stage
// itself (another executor can be quicker than the router), so both are
// kept until the call's deadline and then dropped.

import type { Stage } from '../../lib/dag_protocol.js';
import type { VectorClock } from '../../lib/lattice/index.js';

interface Waiting {
  stage?: Stage;
  inputs: Map<string, Uint8Array>;
  /** Repeatable-read pins made upstream (key → executor subject). */
  pins: Map<string, string>;
  /** Causal dependencies gathered upstream (key → least vector clock). */
  deps: Map<string, VectorClock>;
  timer: NodeJS.Timeout;
}

export class DagStages {
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly run: (stage: Stage, inputs: Uint8Array[], pins: Map<string, string>, deps: Map<string, VectorClock>) => void) {}

  stage(stage: Stage): void {
    this.entry(stage.id, stage.fn, stage.deadline).stage = stage;
    this.check(stage.id, stage.fn);
  }

  result(id: string, to: string, from: string, value: Uint8Array, deadline: number, pins: [string, string][] = [], deps: [string, VectorClock][] = []): void {
    const w = this.entry(id, to, deadline);
    w.inputs.set(from, value);
    // Parallel branches may each have pinned a key; the first pin stays.
    for (const [key, subject] of pins) if (!w.pins.has(key)) w.pins.set(key, subject);
    // Causal dependencies of every branch hold downstream.
    for (const [key, clock] of deps) w.deps.set(key, w.deps.get(key)?.merge(clock) ?? clock);
    this.check(id, to);
  }

  private entry(id: string, fn: string, deadline: number): Waiting {
    const key = `${id}/${fn}`;
    let w = this.waiting.get(key);
    if (!w) {
      const timer = setTimeout(() => this.waiting.delete(key), Math.max(0, deadline - Date.now()));
      timer.unref();
      this.waiting.set(key, (w = { inputs: new Map(), pins: new Map(), deps: new Map(), timer }));
    }
    return w;
  }

  private check(id: string, fn: string): void {
    const key = `${id}/${fn}`;
    const w = this.waiting.get(key);
    if (!w?.stage || !w.stage.inputs.every((i) => w.inputs.has(i))) return;
    clearTimeout(w.timer);
    this.waiting.delete(key);
    this.run(w.stage, w.stage.inputs.map((i) => w.inputs.get(i)!), w.pins, w.deps);
  }
}
