// One run of a workload against a fresh cluster: setup, then the load with
// the nemesis for the run's seconds, then the nemesis stops and heals
// everything, the cluster settles, the workload reads the final state, and
// its checker judges the history. Every process started is stopped at the
// end, whatever happened.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { DEFAULT_TOPOLOGY, HarnessCluster, type Progress, type Topology } from './cluster.js';
import { Recorder, RunClock, type OpCounts } from './history.js';
import { Nemesis, planSchedule, type FaultKind, type FaultRecord } from './nemesis.js';
import { workloadContext } from './session.js';
import type { CheckResult, Workload } from './workload.js';

export interface RunOptions {
  workload: Workload;
  seed: number;
  /** Seconds of load under the nemesis. */
  seconds: number;
  nemeses: FaultKind[];
  /** Client processes running the workload at once. */
  processes: number;
  control: boolean;
  topology?: Partial<Topology>;
  /** Keep the run's directory (node logs, data, the history as history.jsonl) instead of removing it. */
  keep?: boolean;
  progress?: Progress;
  /** Deadline of the calls the workload makes without one (the client's default). Default 5 s. */
  callTimeoutMs?: number;
  /** The harness's own bound on any one operation, so a run always ends. Default 15 s. */
  opDeadlineMs?: number;
  /** How long the healed cluster may take to settle. Default 60 s. */
  settleTimeoutMs?: number;
}

export interface RunOutcome {
  control: boolean;
  seed: number;
  nemeses: FaultKind[];
  topology: Topology;
  processes: number;
  /** Wall time of the whole run (start-up to check), ms. */
  durationMs: number;
  /** Run-clock ms of each phase's end. */
  phases: Record<string, number>;
  ops: OpCounts;
  planned: number;
  faults: FaultRecord[];
  /** Nodes that exited without the harness asking (each a crash worth a look). */
  unexpectedExits: { at: number; id: string; how: string }[];
  /** Processes a killed `cloudburst up` left running. */
  supervisorOrphans: Nemesis['supervisorOrphans'];
  check: CheckResult;
  /** The run's directory when kept. */
  dir?: string;
}

/** Clusters running now, and run directories to remove, so a Ctrl-C can clean up (main.ts). */
export const activeClusters = new Set<HarnessCluster>();
export const activeDirs = new Set<string>();

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until a router's view holds every node the harness runs, each heard
 * within two heartbeats, none it stopped, and the supervisor's executors;
 * then until that view (ids and incarnations) has not changed for two
 * member timeouts, so joins, leaves and hand-offs are over.
 */
async function settle(client: Cloudburst, cluster: HarnessCluster, timeoutMs: number): Promise<void> {
  const hb = cluster.topology.heartbeatMs;
  const quietMs = 2 * 3 * hb;
  const expected = new Set(cluster.expected().map((n) => n.id));
  const gone = new Set([...cluster.nodes.values()].filter((n) => n.gone).map((n) => n.id));
  const until = Date.now() + timeoutMs;
  let view = '';
  let stableSince = 0;
  let last = 'no answer from a router';
  while (Date.now() < until) {
    try {
      const status = await client.status({ timeoutMs: 2_000 });
      const fresh = status.members.filter((m) => status.at - m.seenAt <= 2 * hb);
      const ids = new Set(fresh.map((m) => m.id));
      const missing = [...expected].filter((id) => !ids.has(id));
      const stale = status.members.filter((m) => gone.has(m.id)).map((m) => m.id);
      const supervised = fresh.filter((m) => m.kind === 'executor' && !cluster.nodes.has(m.id)).length;
      if (missing.length > 0 || stale.length > 0 || supervised < cluster.topology.supervisedExecutors) {
        last = `missing ${missing.join(', ') || 'none'}; stopped but listed ${stale.join(', ') || 'none'}; supervised executors ${supervised}`;
        view = '';
      } else {
        const now = status.members.map((m) => `${m.id}@${m.startedAt}`).sort().join(' ');
        if (now !== view) {
          view = now;
          stableSince = Date.now();
        } else if (Date.now() - stableSince >= quietMs) return;
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await wait(hb);
  }
  throw new Error(`the cluster did not settle within ${timeoutMs} ms: ${last}`);
}

/** Restarts whatever is still down after the nemesis stopped (a crash, a fault that failed half-way). */
async function healAll(cluster: HarnessCluster, progress: Progress): Promise<void> {
  cluster.natsCluster?.healAll();
  for (const server of cluster.natsServers) {
    if (server.running) continue;
    progress(`heal: nats-server ${server.url} was down; starting it`);
    await server.start();
  }
  for (const node of cluster.expected()) {
    if (node.paused) cluster.resume(node.id);
    if (node.skewMs !== 0) cluster.skew(node.id, 0);
    if (!node.running) {
      progress(`heal: ${node.kind} ${node.id} was down; restarting it`);
      await cluster.restart(node.id);
    }
  }
  if (cluster.topology.supervisedExecutors > 0 && !cluster.supervisor?.running) {
    progress('heal: supervisor was down; starting it');
    await cluster.startSupervisor();
  }
}

export async function runOnce(opts: RunOptions): Promise<RunOutcome> {
  const progress = opts.progress ?? (() => {});
  const topology: Topology = { ...DEFAULT_TOPOLOGY, ...opts.workload.topology, ...opts.topology };
  if (opts.nemeses.includes('supervisor') && topology.supervisedExecutors === 0) topology.supervisedExecutors = 1;
  if (opts.nemeses.includes('partition') && topology.natsServers < 3) topology.natsServers = 3;
  // A slowed route needs the servers at both its ends.
  topology.natsServers = Math.max(topology.natsServers, ...topology.slowRoutes.flatMap((r) => r.between.map((i) => i + 1)));
  const started = Date.now();
  const clock = new RunClock();
  const phases: Record<string, number> = {};
  const phase = (name: string, line: string): void => {
    phases[name] = clock.now();
    progress(`phase ${name} at ${phases[name]} ms: ${line}`);
  };
  const dir = await mkdtemp(join(tmpdir(), 'cb-verify-'));
  if (!opts.keep) activeDirs.add(dir);
  const unexpectedExits: RunOutcome['unexpectedExits'] = [];
  let cluster: HarnessCluster | undefined;
  let client: Cloudburst | undefined;
  try {
    const label = `${opts.workload.name}${opts.control ? ' (control)' : ''}`;
    phase('start', `${label}: starting ${topology.shards} shards, ${topology.executors} executors, ${topology.routers} routers${topology.supervisedExecutors ? `, a supervisor of ${topology.supervisedExecutors}` : ''} in ${dir}`);
    cluster = await HarnessCluster.start({
      topology,
      // Of this harness process: two harnesses on one machine restart servers on
      // ports the other may have just freed, and must not share subjects if
      // their NATS clusters ever meet.
      prefix: `verify-${process.pid}`,
      dir,
      progress: (line) => progress(`  ${line}`),
      onUnexpectedExit: (id, how) => {
        unexpectedExits.push({ at: clock.now(), id, how });
        progress(`node ${id} exited unexpectedly (${how})`);
      },
    });
    activeClusters.add(cluster);
    client = await Cloudburst.connect({ servers: cluster.nats.url, prefix: cluster.prefix, timeoutMs: opts.callTimeoutMs ?? 5_000 });
    await settle(client, cluster, opts.settleTimeoutMs ?? 60_000);

    const recorder = new Recorder(clock, opts.opDeadlineMs ?? 15_000);
    const load = new AbortController();
    const ctx = workloadContext(client, opts.workload, recorder, { processes: opts.processes, seed: opts.seed, control: opts.control, signal: load.signal });
    phase('setup', 'workload setup');
    await opts.workload.setup(ctx);

    const schedule = planSchedule(opts.seed, opts.nemeses, topology, opts.seconds * 1000);
    const nemesis = new Nemesis(cluster, schedule, clock, progress);
    phase('load', `${opts.processes} clients for ${opts.seconds} s; nemesis ${opts.nemeses.join(',') || 'none'} (${schedule.length} faults planned)`);
    const clients = Array.from({ length: opts.processes }, (_, p) =>
      opts.workload.client(ctx, p).catch((err: Error) => progress(`client ${p} stopped on an error: ${err.message}`)),
    );
    nemesis.start();
    await wait(opts.seconds * 1000);
    load.abort();

    phase('heal', 'nemesis stopping; healing every fault');
    await nemesis.stop();
    await healAll(cluster, progress);
    await Promise.all(clients);
    await recorder.idle();

    phase('settle', 'waiting for every node to be heard and the membership to be quiet');
    await settle(client, cluster, opts.settleTimeoutMs ?? 60_000);

    phase('final', 'reading the final state');
    let final: unknown;
    let finalError: string | undefined;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        final = await opts.workload.final(ctx);
        finalError = undefined;
        break;
      } catch (err) {
        finalError = (err as Error).message;
        progress(`final read failed (attempt ${attempt}): ${finalError}`);
      }
    }
    phase('check', 'checking the history');
    const check: CheckResult =
      finalError === undefined
        ? opts.workload.check(recorder.history, final)
        : { valid: false, anomalies: { 'final-read-failed': { count: 1, examples: [finalError] } }, stats: {} };
    // What the harness saw itself: a supervisor that left processes behind.
    if (nemesis.supervisorOrphans.length > 0) {
      check.valid = false;
      check.anomalies['supervisor-child-outlived-it'] = {
        count: nemesis.supervisorOrphans.reduce((n, o) => n + o.processes.length, 0),
        examples: nemesis.supervisorOrphans.slice(0, 5),
      };
    }
    if (opts.keep) await writeFile(join(dir, 'history.jsonl'), recorder.history.map((op) => JSON.stringify(op)).join('\n') + '\n');
    const anomalies = Object.entries(check.anomalies).map(([k, a]) => `${k}=${a.count}`);
    phase('done', `${check.valid ? 'valid' : 'INVALID'}${anomalies.length ? ` (${anomalies.join(', ')})` : ''}; ops ${JSON.stringify(recorder.counts())}`);
    return {
      control: opts.control,
      seed: opts.seed,
      nemeses: opts.nemeses,
      topology,
      processes: opts.processes,
      durationMs: Date.now() - started,
      phases,
      ops: recorder.counts(),
      planned: schedule.length,
      faults: nemesis.faults,
      unexpectedExits,
      supervisorOrphans: nemesis.supervisorOrphans,
      check,
      ...(opts.keep ? { dir } : {}),
    };
  } finally {
    await client?.close().catch(() => undefined);
    if (cluster) {
      await cluster.stop();
      activeClusters.delete(cluster);
    }
    if (opts.keep) progress(`kept ${dir} (node logs in logs/)`);
    else await rm(dir, { recursive: true, force: true });
    activeDirs.delete(dir);
  }
}
