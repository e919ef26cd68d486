// A synthetic, seeded classification task: four raw features on very
// different scales, and a label that depends on them linearly, through a
// square and through a product, plus noise. A linear model gets part of it,
// models that see squares and products get most of it.

import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

export interface Dataset {
  /** Raw feature vectors, as a client would send them. */
  x: number[][];
  /** Their labels, 0 or 1. */
  y: (0 | 1)[];
}

export const FEATURES = 4;

/** `n` samples drawn from the task with `seed` (the same seed gives the same samples). */
export function makeDataset(n: number, seed: number): Dataset {
  const rng = xoroshiro128plus(seed);
  // Box–Muller: two uniforms to one standard normal.
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniformFloat64(rng))) * Math.cos(2 * Math.PI * uniformFloat64(rng));
  const x: number[][] = [];
  const y: (0 | 1)[] = [];
  for (let i = 0; i < n; i++) {
    const [a, b, c, d] = [normal(), normal(), normal(), normal()];
    const score = 1.5 * a - b + 0.9 * (c * c - 1) + 0.8 * a * d + 0.3 * normal();
    x.push([10 + 3 * a, 0.5 * b - 2, 20 * c, d]);
    y.push(score > 0 ? 1 : 0);
  }
  return { x, y };
}
