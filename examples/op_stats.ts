// Latency and throughput of a load generator's operations, per kind of
// operation (post, timeline, transfer, ...), with a progress line while the
// load runs. Latencies go into HDR histograms, as in the benches.

import { performance } from 'node:perf_hooks';
import { build, type Histogram } from 'hdr-histogram-js';
import { fmt } from '../bench/harness.js';
import type { Say } from './example_cli.js';

export interface OpSummary {
  kind: string;
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export class OpStats {
  private readonly latencies = new Map<string, Histogram>();
  private readonly started = performance.now();

  /** Runs `op`, counting its latency under `kind` if it succeeds. */
  async time<T>(kind: string, op: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const result = await op();
    this.histogram(kind).recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    return result;
  }

  /** Operations of every kind so far. */
  get ops(): number {
    let n = 0;
    for (const h of this.latencies.values()) n += h.totalCount;
    return n;
  }

  /** Says how far the load is every `everyMs` until the returned stop is called. */
  reportProgress(say: Say, everyMs = 1000): () => void {
    let last = 0;
    const timer = setInterval(() => {
      const ops = this.ops;
      say(`  ${fmt((performance.now() - this.started) / 1000)} s: ${fmt(ops)} ops (${fmt(((ops - last) * 1000) / everyMs)} ops/s)`);
      last = ops;
    }, everyMs);
    return () => clearInterval(timer);
  }

  summaries(): OpSummary[] {
    const seconds = (performance.now() - this.started) / 1000;
    return [...this.latencies].map(([kind, h]) => ({
      kind,
      ops: h.totalCount,
      opsPerSec: h.totalCount / seconds,
      p50Ms: h.getValueAtPercentile(50) / 1000,
      p99Ms: h.getValueAtPercentile(99) / 1000,
    }));
  }

  /** One line per kind: "post: 1,234 ops, 123.4 ops/s, p50 12.3 ms, p99 45.6 ms". */
  print(say: Say): void {
    for (const s of this.summaries()) {
      say(`${s.kind}: ${fmt(s.ops)} ops, ${s.opsPerSec.toFixed(1)} ops/s, p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms`);
    }
  }

  private histogram(kind: string): Histogram {
    let h = this.latencies.get(kind);
    if (!h) this.latencies.set(kind, (h = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 })));
    return h;
  }
}
