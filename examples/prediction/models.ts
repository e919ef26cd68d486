// The math of the prediction pipeline, written once and used three ways: by
// the trainer, by the functions registered on the cluster (shipped with them
// as helpers, so each uses only its arguments and the helpers here), and by
// anyone checking the cluster's answers locally.

/** Per-feature mean and standard deviation of the training set. */
export interface Scaler {
  mean: number[];
  std: number[];
}

/** A dense layer: `w[j]` holds output j's weights. Hidden layers use tanh; the last one a sigmoid. */
export interface Layer {
  w: number[][];
  b: number[];
}

/** A classifier: logistic regression is one layer; an MLP has hidden layers before it. */
export interface Model {
  /** `quadratic`: the input is expanded with its squares and pairwise products first. */
  features: 'raw' | 'quadratic';
  layers: Layer[];
}

/** What the ensemble answers: the mean of the models' probabilities of class 1, and the class it implies. */
export interface Prediction {
  probability: number;
  label: 0 | 1;
  /** Each model's probability, in the order the ensemble received them. */
  votes: number[];
}

/** Raw features to zero mean, unit variance. */
export function standardize(scaler: Scaler, raw: number[]): number[] {
  return raw.map((v, i) => (v - scaler.mean[i]!) / scaler.std[i]!);
}

/** `x` followed by every product x_i·x_j with i <= j. */
export function quadraticFeatures(x: number[]): number[] {
  const out = [...x];
  for (let i = 0; i < x.length; i++) for (let j = i; j < x.length; j++) out.push(x[i]! * x[j]!);
  return out;
}

/** The activations of every layer for input `x` (the model's features already applied); the last holds the probability. */
export function activations(model: Model, x: number[]): number[][] {
  const out = [model.features === 'quadratic' ? quadraticFeatures(x) : x];
  model.layers.forEach((layer, l) => {
    const input = out[out.length - 1]!;
    const last = l === model.layers.length - 1;
    out.push(
      layer.w.map((row, j) => {
        let z = layer.b[j]!;
        for (let i = 0; i < row.length; i++) z += row[i]! * input[i]!;
        return last ? 1 / (1 + Math.exp(-z)) : Math.tanh(z);
      }),
    );
  });
  return out;
}

/** The model's probability that standardized input `x` is of class 1. */
export function probability(model: Model, x: number[]): number {
  const layers = activations(model, x);
  return layers[layers.length - 1]![0]!;
}

/** The ensemble's answer from its models' probabilities. */
export function combine(votes: number[]): Prediction {
  const mean = votes.reduce((a, b) => a + b, 0) / votes.length;
  return { probability: mean, label: mean >= 0.5 ? 1 : 0, votes };
}
