// `npm run verify -- <workload|all> [--seed N] [--seconds S] [--nemesis kinds|all|none]
// [--processes N] [--control] [--keep]`: runs each workload against a fresh
// cluster under faults and its control run, prints a line per phase and per
// fault on stderr, and writes verify/results/<workload>.json. Exits 1 when a
// run found anomalies or a control run found none.

import { rmSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_TOPOLOGY } from './cluster.js';
import { FAULT_KINDS, parseNemeses } from './nemesis.js';
import { activeClusters, activeDirs } from './run.js';
import { verifyWorkload, type Mode } from './suite.js';
import { workloads } from './workloads/index.js';

const say = (line: string): void => void process.stderr.write(`[verify] ${line}\n`);

// Ctrl-C or a kill: stop every node started, then exit (the children die with
// this process anyway: cluster.ts spawns them under setpriv --pdeathsig).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping every node`);
    void Promise.allSettled([...activeClusters].map((c) => c.stop())).then(() => {
      for (const dir of activeDirs) rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

const argv = await yargs(hideBin(process.argv))
  .scriptName('npm run verify --')
  .usage('$0 <workload|all> [options]\n\nRuns a workload against a fresh local cluster under faults, then its control run, and writes verify/results/<workload>.json.')
  .command('$0 <workload>', 'verify one workload, or all in turn', (y) =>
    y.positional('workload', { type: 'string', choices: [...Object.keys(workloads), 'all'], describe: 'the workload to run' }),
  )
  .option('seed', { type: 'number', describe: 'seed of the fault schedule (the same seed gives the same faults at the same times) and of the workload\'s choices (default: random, printed)' })
  .option('seconds', { type: 'number', default: 30, describe: 'seconds of load under the nemesis' })
  .option('control-seconds', { type: 'number', describe: 'seconds of the control run (default: min(seconds, 30))' })
  .option('nemesis', { type: 'string', default: 'kill,pause', describe: `faults, comma-separated: ${FAULT_KINDS.join(', ')}; or all, or none` })
  .option('processes', { type: 'number', default: 4, describe: 'client processes running the workload at once' })
  .option('control', { type: 'boolean', default: false, describe: 'run only the control run (the workload without its mechanism: its checker must find anomalies)' })
  .option('skip-control', { type: 'boolean', default: false, describe: 'skip the control run' })
  .option('keep', { type: 'boolean', default: false, describe: 'keep each run\'s directory (node logs, shard data, history.jsonl) and print where it is' })
  .option('heartbeat-ms', { type: 'number', default: DEFAULT_TOPOLOGY.heartbeatMs, describe: 'heartbeat period of every node (member timeout: 3 periods; pauses last 3-4 timeouts)' })
  .check((a) => {
    parseNemeses(a.nemesis); // throws naming the unknown kind
    if (!(a.seconds > 0) || !(a.processes >= 1) || !(a['heartbeat-ms'] >= 50)) throw new Error('--seconds must be > 0, --processes >= 1, --heartbeat-ms >= 50');
    return true;
  })
  .version(false)
  .strict()
  .help()
  .parseAsync();

const seed = argv.seed ?? Math.floor(Math.random() * 2 ** 31);
const nemeses = parseNemeses(argv.nemesis);
const names = argv.workload === 'all' ? Object.keys(workloads) : [argv.workload as string];
const mode: Mode = argv.control ? 'control' : argv['skip-control'] ? 'run' : 'both';
say(`seed ${seed}; nemesis ${nemeses.join(',') || 'none'}; workloads ${names.join(', ')}`);
let failed = false;
for (const name of names) {
  const verified = await verifyWorkload(workloads[name]!, {
    seed,
    seconds: argv.seconds,
    ...(argv['control-seconds'] === undefined ? {} : { controlSeconds: argv['control-seconds'] }),
    nemeses,
    nemesisArg: argv.nemesis,
    processes: argv.processes,
    mode,
    keep: argv.keep,
    topology: { heartbeatMs: argv['heartbeat-ms'] },
    progress: say,
  }).catch((err: Error) => {
    // A run that could not finish (the cluster never settled, a node never
    // started) is a failure of its own, not a reason to skip the rest.
    say(`${name}: the run did not finish: ${err.stack ?? err.message}`);
    return undefined;
  });
  if (!verified) {
    failed = true;
    continue;
  }
  const { path, file } = verified;
  const run = file.run ? `${file.run.anomalyCount} anomalies in ${file.run.ops.invoked} ops (${file.run.faultsInjected} faults)` : 'not run';
  const control = file.control ? `${file.control.anomalyCount} anomalies` : 'not run';
  say(`${name}: run ${run}; control ${control}; ${path}`);
  if (file.run && !file.run.valid) failed = true;
  if (file.control && file.control.anomalyCount === 0) {
    say(`${name}: the control run found no anomaly: its checker proves nothing at this length`);
    failed = true;
  }
  if (file.run && !file.run.valid) say(`${name}: rerun with: ${file.rerun}`);
}
process.exit(failed ? 1 : 0);
