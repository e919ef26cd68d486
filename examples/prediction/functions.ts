// The prediction pipeline's functions: preprocess standardizes a raw input,
// three models score it in parallel, the ensemble averages their votes. The
// scaler and the weights are in the KVS (put there by PredictionPipeline
// .install); functions read them with cb.get, so after an executor's first
// read they come from its shared-memory cache. Shipped with the helpers of
// models.ts and the ones below (moduleSource), and nothing else.

import type { Cb } from '../../lib/index.js';
import { combine, probability, standardize, type Model, type Prediction, type Scaler } from './models.js';

/** Where the pipeline keeps `what` (`scaler`, `model/<name>`). */
export function predictionKey(what: string): string {
  return `prediction/${what}`;
}

/** The value stored under `key`, or an error saying the pipeline was not installed. */
export async function stored<T>(cb: Cb, key: string): Promise<T> {
  const value = await cb.get<T>(key);
  if (value === undefined) throw new Error(`nothing is stored under ${key}: install the pipeline first`);
  return value;
}

/** Model `name`'s probability of class 1 for standardized input `x`. */
export async function vote(cb: Cb, name: string, x: number[]): Promise<number> {
  return probability(await stored<Model>(cb, predictionKey(`model/${name}`)), x);
}

export async function preprocess(cb: Cb, raw: number[]): Promise<number[]> {
  const scaler = await stored<Scaler>(cb, predictionKey('scaler'));
  if (!Array.isArray(raw) || raw.length !== scaler.mean.length || !raw.every((v) => Number.isFinite(v))) {
    throw new Error(`an input is ${scaler.mean.length} finite numbers`);
  }
  return standardize(scaler, raw);
}

export function logistic(cb: Cb, x: number[]): Promise<number> {
  return vote(cb, 'logistic', x);
}

export function quadratic(cb: Cb, x: number[]): Promise<number> {
  return vote(cb, 'quadratic', x);
}

export function mlp(cb: Cb, x: number[]): Promise<number> {
  return vote(cb, 'mlp', x);
}

/** The DAG's sink: the models' votes arrive as arguments, in the order of the DAG's connections. */
export function ensemble(_cb: Cb, ...votes: number[]): Prediction {
  return combine(votes);
}
