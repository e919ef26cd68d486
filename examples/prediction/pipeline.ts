// The prediction-serving pipeline on the cluster: a DAG
//   preprocess → (logistic | quadratic | mlp) → ensemble
// whose three models run in parallel (fan-out) and meet in the ensemble
// (fan-in). install() stores a trained scaler and models in the KVS and
// registers the functions and the DAG; predict() runs the DAG for one input.

import { InvalidArgument, type Cloudburst } from '../../lib/index.js';
import { moduleSource } from '../module_source.js';
import { FEATURES } from './dataset.js';
import { ensemble, logistic, mlp, predictionKey, preprocess, quadratic, stored, vote } from './functions.js';
import { activations, combine, probability, quadraticFeatures, standardize, type Prediction } from './models.js';
import { MODEL_NAMES, type TrainedPipeline } from './train.js';

export type { Prediction } from './models.js';

const DAG = 'prediction';
const PREPROCESS = 'prediction.preprocess';
const ENSEMBLE = 'prediction.ensemble';
const modelFunction = (name: string): string => `prediction.${name}`;

export class PredictionPipeline {
  private constructor(private readonly client: Cloudburst) {}

  /** Stores `trained` in the KVS and registers the functions and the DAG (again: the newest wins). */
  static async install(client: Cloudburst, trained: TrainedPipeline): Promise<PredictionPipeline> {
    await client.put(predictionKey('scaler'), trained.scaler);
    for (const name of MODEL_NAMES) await client.put(predictionKey(`model/${name}`), trained.models[name]);
    const math = [quadraticFeatures, activations, probability, standardize, combine];
    const shipped = [predictionKey, stored, vote, ...math];
    const models = { logistic, quadratic, mlp };
    await client.register(PREPROCESS, moduleSource(preprocess, ...shipped));
    for (const name of MODEL_NAMES) await client.register(modelFunction(name), moduleSource(models[name], ...shipped));
    await client.register(ENSEMBLE, moduleSource(ensemble, ...math));
    const fns = MODEL_NAMES.map(modelFunction);
    await client.registerDag(DAG, [PREPROCESS, ...fns, ENSEMBLE], [...fns.map((f): [string, string] => [PREPROCESS, f]), ...fns.map((f): [string, string] => [f, ENSEMBLE])]);
    return new PredictionPipeline(client);
  }

  /** The ensemble's prediction for one raw input of FEATURES numbers. */
  predict(raw: number[], timeoutMs?: number): Promise<Prediction> {
    if (!Array.isArray(raw) || raw.length !== FEATURES || !raw.every((v) => Number.isFinite(v))) {
      throw new InvalidArgument(`an input is ${FEATURES} finite numbers`);
    }
    return this.client.callDag<Prediction>(DAG, { [PREPROCESS]: [raw] }, timeoutMs === undefined ? {} : { timeoutMs });
  }
}

/** What the pipeline answers for `raw`, computed here with the same math: for checking the cluster. */
export function predictLocally(trained: TrainedPipeline, raw: number[]): Prediction {
  const x = standardize(trained.scaler, raw);
  return combine(MODEL_NAMES.map((name) => probability(trained.models[name], x)));
}

/** The share of `inputs` whose predicted label is the true one. */
export function accuracy(predictions: Prediction[], labels: number[]): number {
  return predictions.filter((p, i) => p.label === labels[i]).length / predictions.length;
}
