// `cloudburst demo` (what `npm run demo` runs): starts a private local
// cluster, registers two functions that share state through the KVS, calls
// them, prints what happened, and stops everything.

import type { CommandModule } from 'yargs';
import { Cloudburst } from '../../lib/client/cloudburst.js';
import type { Cb } from '../../lib/function_api.js';
import { LocalCluster, memoryCluster } from '../local_cluster.js';

// Counts visits in a last-writer-wins value shared by every executor.
const visit = async (cb: Cb, by: number): Promise<number> => {
  const seen = (await cb.get<number>('demo/visits')) ?? 0;
  await cb.put('demo/visits', seen + by);
  return seen + by;
};

// Adds a guest to a set lattice: concurrent adds merge instead of overwriting.
const sign = async (cb: Cb, guest: string): Promise<string[]> => {
  await cb.put('demo/guests', new cb.lattices.SetLattice([guest]));
  const guests = (await cb.get<ReadonlySet<string>>('demo/guests')) ?? new Set<string>();
  return [...guests].sort();
};

export async function runDemo(say: (line: string) => void): Promise<void> {
  const cluster = await LocalCluster.start(memoryCluster({ onProgress: (l) => say(`  ${l}`) }));
  try {
    const client = await Cloudburst.connect({ servers: cluster.natsUrl, timeoutMs: 10_000 });
    try {
      await client.register('visit', visit);
      await client.register('sign', sign);
      say('registered functions: visit, sign');
      for (const by of [1, 2, 3]) say(`visit(${by}) -> ${await client.call<number>('visit', [by])}`);
      const guests = await Promise.all(['ada', 'grace', 'edsger'].map((g) => client.call<string[]>('sign', [g])));
      say(`sign(ada|grace|edsger) in parallel -> last answer saw ${JSON.stringify(guests.at(-1))}`);
      say(`client reads demo/visits = ${await client.get<number>('demo/visits')}`);
      say(`client reads demo/guests = ${JSON.stringify([...((await client.get<ReadonlySet<string>>('demo/guests')) ?? [])].sort())}`);
      try {
        await client.call('nope');
      } catch (err) {
        say(`calling an unknown function -> ${(err as Error).name}: ${(err as Error).message}`);
      }
    } finally {
      await client.close();
    }
  } finally {
    say('stopping the cluster');
    await cluster.stop();
  }
  say('done');
}

export const demoCommand: CommandModule = {
  command: 'demo',
  describe: 'start a private local cluster, run an example stateful function, stop',
  handler: () => runDemo((line) => void process.stdout.write(`${line}\n`)),
};
