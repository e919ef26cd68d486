// Trains the pipeline's scaler and its three models on a dataset, here, in
// the client: mini-batch gradient descent on the cross-entropy loss, with
// seeded initial weights, so the same data and seed give the same weights.

import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { Dataset } from './dataset.js';
import { activations, standardize, type Layer, type Model, type Scaler } from './models.js';

/** The ensemble's members, in the order the ensemble receives their votes. */
export const MODEL_NAMES = ['logistic', 'quadratic', 'mlp'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export interface TrainedPipeline {
  scaler: Scaler;
  models: Record<ModelName, Model>;
}

interface TrainOptions {
  /** Widths of the hidden layers (none: logistic regression). */
  hidden: number[];
  epochs: number;
  learningRate: number;
  batch: number;
  seed: number;
}

export function fitScaler(x: number[][]): Scaler {
  const n = x.length;
  const mean = x[0]!.map((_, i) => x.reduce((s, row) => s + row[i]!, 0) / n);
  const std = mean.map((m, i) => Math.sqrt(x.reduce((s, row) => s + (row[i]! - m) ** 2, 0) / n) || 1);
  return { mean, std };
}

export function trainModel(features: Model['features'], x: number[][], y: number[], opts: TrainOptions): Model {
  const rng = xoroshiro128plus(opts.seed);
  const inputs = features === 'quadratic' ? (x[0]!.length * (x[0]!.length + 3)) / 2 : x[0]!.length;
  const widths = [inputs, ...opts.hidden, 1];
  const layers: Layer[] = widths.slice(1).map((out, l) => {
    const scale = 1 / Math.sqrt(widths[l]!);
    return { w: Array.from({ length: out }, () => Array.from({ length: widths[l]! }, () => (2 * uniformFloat64(rng) - 1) * scale)), b: new Array<number>(out).fill(0) };
  });
  const model: Model = { features, layers };
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    for (let start = 0; start < x.length; start += opts.batch) {
      const gradW = layers.map((layer) => layer.w.map((row) => new Array<number>(row.length).fill(0)));
      const gradB = layers.map((layer) => new Array<number>(layer.b.length).fill(0));
      const end = Math.min(start + opts.batch, x.length);
      for (let s = start; s < end; s++) {
        const acts = activations(model, x[s]!);
        // Sigmoid output with cross-entropy: the output's error is p - y.
        let delta = [acts[acts.length - 1]![0]! - y[s]!];
        for (let l = layers.length - 1; l >= 0; l--) {
          const input = acts[l]!;
          const layer = layers[l]!;
          delta.forEach((d, j) => {
            gradB[l]![j]! += d;
            for (let i = 0; i < input.length; i++) gradW[l]![j]![i]! += d * input[i]!;
          });
          // Back through tanh: d(tanh z)/dz = 1 - tanh(z)^2.
          if (l > 0) delta = input.map((a, i) => (1 - a * a) * delta.reduce((sum, d, j) => sum + d * layer.w[j]![i]!, 0));
        }
      }
      const step = opts.learningRate / (end - start);
      layers.forEach((layer, l) => {
        layer.b.forEach((_, j) => (layer.b[j]! -= step * gradB[l]![j]!));
        layer.w.forEach((row, j) => row.forEach((_, i) => (row[i]! -= step * gradW[l]![j]![i]!)));
      });
    }
  }
  return model;
}

/** The scaler and the three models, trained on `data`. */
export function trainPipeline(data: Dataset, seed: number): TrainedPipeline {
  const scaler = fitScaler(data.x);
  const x = data.x.map((raw) => standardize(scaler, raw));
  const common = { epochs: 60, learningRate: 0.3, batch: 32 };
  return {
    scaler,
    models: {
      logistic: trainModel('raw', x, data.y, { ...common, hidden: [], seed }),
      quadratic: trainModel('quadratic', x, data.y, { ...common, hidden: [], seed: seed + 1 }),
      mlp: trainModel('raw', x, data.y, { ...common, hidden: [8], seed: seed + 2 }),
    },
  };
}
