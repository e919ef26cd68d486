// Seeded randomness for the harness: the nemesis schedule and the workloads
// each get their own stream from one seed, so the same seed gives the same
// faults at the same times whatever the workload's clients draw.

import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** A stream of floats in [0, 1) from `seed` and a stream name. */
export function seededRandom(seed: number, stream: string): () => number {
  let h = seed | 0;
  for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x9e3779b1);
  const gen = xoroshiro128plus(h);
  return () => uniformFloat64(gen);
}

/** A whole number in [lo, hi]. */
export function between(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

export function pick<T>(rng: () => number, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from nothing');
  return items[Math.floor(rng() * items.length)]!;
}
