// Faults on a seeded random schedule. The schedule (which faults, on which
// targets, when, for how long) is drawn up front from its own random stream,
// so the same seed and the same options give the same schedule whatever the
// cluster and the clients do; only the actual times differ by how long a
// restart takes. Every fault injected is recorded with its start and end on
// the run's clock.

import type { HarnessCluster, Orphan, Progress, Topology } from './cluster.js';
import type { RunClock } from './history.js';
import { between, pick, seededRandom } from './rng.js';

export const FAULT_KINDS = ['kill', 'pause', 'skew', 'nats', 'supervisor', 'membership', 'partition'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** `none`, `all`, or a comma-separated list of kinds. */
export function parseNemeses(text: string): FaultKind[] {
  if (text === 'none' || text === '') return [];
  if (text === 'all') return [...FAULT_KINDS];
  const kinds = text.split(',').map((s) => s.trim());
  for (const k of kinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new Error(`unknown nemesis '${k}' (known: ${FAULT_KINDS.join(', ')}, all, none)`);
  return [...new Set(kinds)] as FaultKind[];
}

export interface PlannedFault {
  kind: FaultKind;
  /** A node id, `nats` or `supervisor`. */
  target: string;
  /** When to inject it, ms after the load starts. */
  at: number;
  /** How long the fault lasts once injected (down, paused, skewed, joined). */
  durationMs: number;
  /** kill: 0 ms down (restart at once). skew: the offset. membership: whether the joiner is killed while joining. */
  skewMs?: number;
  killJoiner?: boolean;
  /** partition: [i] cuts server i off from all others; [i, j] cuts the routes between i and j. */
  servers?: number[];
}

export interface FaultRecord {
  kind: FaultKind;
  target: string;
  /** Run-clock ms when it was injected and when it was healed (null: never healed, e.g. a killed joiner). */
  start: number;
  end: number | null;
  detail?: string;
}

/** Node ids the schedule may target: fixed by the topology (kvs-0.., executor-0.., router-0..). */
function nodeIds(t: Topology): string[] {
  return [
    ...Array.from({ length: t.shards }, (_, i) => `kvs-${i}`),
    ...Array.from({ length: t.executors }, (_, i) => `executor-${i}`),
    ...Array.from({ length: t.routers }, (_, i) => `router-${i}`),
  ];
}

/**
 * Draws the schedule for a load of `loadMs`. Faults start every 1-3 s
 * (0.5-2 s with several kinds); a target holds at most one fault at a time,
 * at most one shard is down or paused at once (so replication 2 keeps every
 * key readable: the harness checks consistency, not availability), and at
 * most two faults overlap.
 */
export function planSchedule(seed: number, kinds: readonly FaultKind[], topology: Topology, loadMs: number): PlannedFault[] {
  if (kinds.length === 0) return [];
  const rng = seededRandom(seed, 'nemesis');
  const memberTimeout = 3 * topology.heartbeatMs;
  const busyUntil = new Map<string, number>();
  const plan: PlannedFault[] = [];
  let joiners = 0;
  const gap = kinds.length > 1 ? [500, 2000] : [1000, 3000];
  // Leave the end of the load fault-free so the last faults heal within it.
  for (let at = between(rng, 300, 1000); at < loadMs - 1500; at += between(rng, gap[0]!, gap[1]!)) {
    const kind = pick(rng, kinds);
    const overlapping = plan.filter((f) => f.at + f.durationMs > at);
    if (overlapping.length >= 2) continue;
    const free = (id: string): boolean => (busyUntil.get(id) ?? 0) <= at;
    const shardBusy = overlapping.some((f) => f.target.startsWith('kvs-') && (f.kind === 'kill' || f.kind === 'pause'));
    let fault: PlannedFault | undefined;
    switch (kind) {
      case 'kill':
      case 'pause': {
        const targets = nodeIds(topology).filter((id) => free(id) && !(shardBusy && id.startsWith('kvs-')));
        if (targets.length === 0) break;
        const target = pick(rng, targets);
        // kill: down 0-1.5 s; 0 (restarted at once) brings the same id back
        // within about a second, inside the member timeout with the default
        // 500 ms heartbeat, so nobody sees it leave. pause: 3-4 member
        // timeouts, long enough for a router to give the node's calls to
        // another executor while the paused attempt is still to resume.
        const durationMs = kind === 'kill' ? (rng() < 0.4 ? 0 : between(rng, 200, 1500)) : between(rng, 3 * memberTimeout, 4 * memberTimeout);
        fault = { kind, target, at, durationMs };
        break;
      }
      case 'skew': {
        const targets = nodeIds(topology).filter(free);
        if (targets.length === 0) break;
        const target = pick(rng, targets);
        const skewMs = (rng() < 0.5 ? -1 : 1) * between(rng, 2000, 5000);
        fault = { kind, target, at, durationMs: between(rng, 2000, 5000), skewMs };
        break;
      }
      case 'nats':
        if (!free('nats')) break;
        fault = { kind, target: 'nats', at, durationMs: between(rng, 200, 1500) };
        break;
      case 'supervisor': {
        // One in three is a `cloudburst up` with a private nats-server and no
        // nodes, started for the purpose: its nats-server must die with it.
        const target = rng() < 0.3 ? 'supervisor-private-nats' : 'supervisor';
        if (!free(target)) break;
        fault = { kind, target, at, durationMs: between(rng, 200, 1500) };
        break;
      }
      case 'partition': {
        // One partition at a time: a server cut off from the others, or one route pair cut.
        if (!free('partition') || topology.natsServers < 2) break;
        const a = between(rng, 0, topology.natsServers - 1);
        const b = rng() < 0.5 ? undefined : (a + between(rng, 1, topology.natsServers - 1)) % topology.natsServers;
        fault = { kind, target: 'partition', at, durationMs: between(rng, 2 * memberTimeout, 4 * memberTimeout), servers: b === undefined ? [a] : [a, b] };
        break;
      }
      case 'membership': {
        const target = `kvs-join-${joiners++}`;
        const killJoiner = rng() < 0.35;
        // A joiner killed 50-800 ms after it was started (mid join); else it stays 3-6 s, then hands off and leaves.
        fault = { kind, target, at, durationMs: killJoiner ? between(rng, 50, 800) : between(rng, 3000, 6000), killJoiner };
        break;
      }
    }
    if (!fault) continue;
    plan.push(fault);
    busyUntil.set(fault.target, at + fault.durationMs + 1000);
  }
  return plan;
}

function describePlanned(f: PlannedFault): string {
  if (f.kind === 'skew') return `${f.skewMs! > 0 ? '+' : ''}${f.skewMs} ms for ${f.durationMs} ms`;
  if (f.kind === 'partition') {
    const [a, b] = f.servers!;
    return `${b === undefined ? `nats-${a} cut off from the others` : `routes nats-${a} <-> nats-${b} cut`} for ${f.durationMs} ms`;
  }
  if (f.kind === 'membership') return f.killJoiner ? `joiner kill -9 after ${f.durationMs} ms` : `join, leave after ${f.durationMs} ms`;
  return `for ${f.durationMs} ms`;
}

/** Waits `ms`, or less if `signal` aborts first. */
function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs a schedule against a cluster. `start()` begins (times are relative to
 * that moment); `stop()` injects nothing more, ends every fault still on
 * (resume, unskew, restart), and resolves when all are healed.
 */
export class Nemesis {
  readonly faults: FaultRecord[] = [];
  /** Processes a killed supervisor left running (each one a defect). */
  readonly supervisorOrphans: { at: number; target: string; processes: Orphan[] }[] = [];
  private readonly stopped = new AbortController();
  private readonly running = new Set<Promise<void>>();
  /** Per target, the fault now on it: the next one on that target waits for it. */
  private readonly chains = new Map<string, Promise<void>>();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly cluster: HarnessCluster,
    private readonly schedule: PlannedFault[],
    private readonly clock: RunClock,
    private readonly progress: Progress,
    /** How long a killed supervisor's children may take to stop. */
    private readonly orphanGraceMs = 10_000,
  ) {}

  start(): void {
    const t0 = this.clock.now();
    this.loop = (async () => {
      for (const fault of this.schedule) {
        await wait(t0 + fault.at - this.clock.now(), this.stopped.signal);
        if (this.stopped.signal.aborted) return;
        const previous = this.chains.get(fault.target) ?? Promise.resolve();
        const p = previous.then(() => this.inject(fault)).catch((err: Error) => this.progress(`fault ${fault.kind} on ${fault.target} failed: ${err.message}`));
        this.chains.set(fault.target, p);
        this.running.add(p);
        void p.finally(() => this.running.delete(p));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    await this.loop;
    await Promise.all([...this.running]);
    this.chains.clear();
  }

  private record(kind: FaultKind, target: string, detail?: string): FaultRecord {
    const r: FaultRecord = { kind, target, start: this.clock.now(), end: null, ...(detail ? { detail } : {}) };
    this.faults.push(r);
    this.progress(`fault ${kind} ${target} at ${r.start} ms${detail ? ` (${detail})` : ''}`);
    return r;
  }

  private healed(r: FaultRecord, note = 'healed'): void {
    r.end = this.clock.now();
    this.progress(`${note} ${r.kind} ${r.target} at ${r.end} ms`);
  }

  /** Injects one fault and heals it after its duration, or at once when the nemesis stops. */
  private async inject(f: PlannedFault): Promise<void> {
    if (this.stopped.signal.aborted) return;
    const c = this.cluster;
    const detail = describePlanned(f);
    switch (f.kind) {
      case 'kill': {
        const r = this.record('kill', f.target, detail);
        await c.kill(f.target);
        await wait(f.durationMs, this.stopped.signal);
        await c.restart(f.target);
        // Whether it came back within the member timeout, so that nobody saw
        // it leave, depends on how fast a node starts on this machine.
        const timeout = 3 * c.topology.heartbeatMs;
        const down = this.clock.now() - r.start;
        r.detail = `${detail}; back after ${Math.round(down)} ms, ${down < timeout ? 'within' : 'beyond'} the ${timeout} ms member timeout`;
        this.healed(r, 'restarted');
        return;
      }
      case 'pause': {
        const r = this.record('pause', f.target, detail);
        c.pause(f.target);
        await wait(f.durationMs, this.stopped.signal);
        c.resume(f.target);
        this.healed(r, 'resumed');
        return;
      }
      case 'skew': {
        const r = this.record('skew', f.target, detail);
        c.skew(f.target, f.skewMs ?? 0);
        await wait(f.durationMs, this.stopped.signal);
        c.skew(f.target, 0);
        this.healed(r, 'unskewed');
        return;
      }
      case 'nats': {
        const r = this.record('nats', 'nats', detail);
        await c.nats.kill('SIGKILL');
        await wait(f.durationMs, this.stopped.signal);
        await c.nats.start();
        this.healed(r, 'restarted');
        return;
      }
      case 'supervisor': {
        if (f.target === 'supervisor-private-nats') {
          const r = this.record('supervisor', f.target, 'kill -9 of `cloudburst up` with its own nats-server');
          const outlived = await c.killPrivateNatsSupervisor(this.orphanGraceMs);
          if (outlived.length > 0) {
            this.supervisorOrphans.push({ at: this.clock.now(), target: f.target, processes: outlived });
            this.progress(`private-NATS supervisor killed: ${outlived.length} of its processes outlived it (killed now)`);
          }
          this.healed(r, 'done');
          return;
        }
        if (!c.supervisor) return;
        const r = this.record('supervisor', 'supervisor', detail);
        const outlived = await c.killSupervisor(this.orphanGraceMs);
        if (outlived.length > 0) {
          this.supervisorOrphans.push({ at: this.clock.now(), target: f.target, processes: outlived });
          this.progress(`supervisor killed: ${outlived.length} of its processes outlived it (killed now)`);
        }
        await wait(f.durationMs, this.stopped.signal);
        await c.startSupervisor();
        this.healed(r, 'restarted');
        return;
      }
      case 'partition': {
        const nc = c.natsCluster;
        if (!nc) return;
        const [a, b] = f.servers!;
        const r = this.record('partition', b === undefined ? `nats-${a}` : `nats-${a}|nats-${b}`, detail);
        if (b === undefined) nc.isolate(a!, true);
        else nc.setCut(a!, b, true);
        await wait(f.durationMs, this.stopped.signal);
        nc.healAll();
        this.healed(r, 'healed');
        return;
      }
      case 'membership': {
        if (f.killJoiner) {
          const r = this.record('membership', f.target, detail);
          const node = await c.startNode('kvs', f.target, false);
          node.gone = true;
          // Not cut short by stop(): the point is a kill mid-join.
          await wait(f.durationMs);
          await c.kill(f.target);
          // Never restarted: its end is when it died.
          this.healed(r, 'killed joiner');
          return;
        }
        const r = this.record('membership', f.target, detail);
        try {
          await c.startNode('kvs', f.target);
        } catch (err) {
          // A joiner that could not start is not brought back by the heal.
          c.nodes.get(f.target)!.gone = true;
          throw err;
        }
        await wait(f.durationMs, this.stopped.signal);
        await c.stopGracefully(f.target);
        this.healed(r, 'left');
        return;
      }
    }
  }
}
