// What every example's entry script shares: its command line (`--nats` and
// `--prefix` of a running cluster, as `cloudburst up` prints them, or none to
// start a private local cluster for the run), a connected client, output
// lines, and a clean stop however the run ends.

import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LocalCluster, memoryCluster } from '../bin/local_cluster.js';
import { withNats } from '../bin/options.js';
import { Cloudburst, CloudburstError } from '../lib/index.js';
import type { LogLevel } from '../lib/log.js';

export interface ClusterArgs {
  nats: string | undefined;
  prefix: string;
  'log-level': string;
}

/** A line of the example's output. */
export type Say = (line: string) => void;

export const say: Say = (line) => void process.stdout.write(`${line}\n`);

/** The example's command line: its own options are added by the caller. */
export function exampleCli(script: string, describe: string): Argv<ClusterArgs> {
  return withNats(yargs(hideBin(process.argv)))
    .scriptName(script)
    .usage(`$0 [options]\n\n${describe}\n\nWithout --nats, a private local cluster (one KVS shard, two executors, one router) runs for the example's duration.`)
    .strict()
    .fail((msg, err, y) => {
      if (err) {
        const code = err instanceof CloudburstError ? `${err.code}: ` : '';
        process.stderr.write(`${script}: ${code}${err.message}\n`);
      } else {
        y.showHelp();
        process.stderr.write(`\n${script}: ${msg}\n`);
      }
      process.exit(1);
    })
    .help();
}

/** A yargs `.check` that the named options are whole numbers of at least their minimum. */
export function wholeNumbers(minimums: Record<string, number>): (argv: Record<string, unknown>) => true {
  return (argv) => {
    for (const [name, min] of Object.entries(minimums)) {
      const v = argv[name];
      if (!(typeof v === 'number' && Number.isSafeInteger(v) && v >= min)) throw new Error(`--${name} must be a whole number >= ${min}`);
    }
    return true;
  };
}

/** Runs `use` with a client of the cluster `args` name (or of a private one started here), then disconnects and stops what it started. */
export async function withCluster<T>(args: ClusterArgs, use: (client: Cloudburst) => Promise<T>): Promise<T> {
  let cluster: LocalCluster | undefined;
  if (args.nats === undefined) {
    say('no --nats given: starting a private local cluster');
    cluster = await LocalCluster.start(memoryCluster({ executors: 2, prefix: args.prefix, logLevel: args['log-level'] as LogLevel }));
  }
  try {
    const client = await Cloudburst.connect({ servers: args.nats ?? cluster!.natsUrl, prefix: args.prefix });
    try {
      return await use(client);
    } finally {
      await client.close();
    }
  } finally {
    await cluster?.stop();
  }
}
