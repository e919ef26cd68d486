#!/usr/bin/env node
// `node dist/examples/prediction/main.js`: trains the pipeline's models on a
// synthetic dataset, installs them on the cluster, checks the DAG's
// predictions on held-out inputs against the same ensemble computed here,
// then serves predictions under load and prints latency figures.

import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { measure, summarize } from '../../bench/harness.js';
import { exampleCli, say, wholeNumbers, withCluster } from '../example_cli.js';
import { makeDataset } from './dataset.js';
import { accuracy, PredictionPipeline, predictLocally } from './pipeline.js';
import { trainPipeline } from './train.js';

const args = await exampleCli('prediction', 'Prediction serving: preprocess → three models in parallel → ensemble, as one DAG.')
  .option('train', { type: 'number', default: 2000, describe: 'training samples' })
  .option('held-out', { type: 'number', default: 500, describe: 'held-out samples, predicted through the DAG' })
  .option('seed', { type: 'number', default: 1, describe: 'seeds the data and the initial weights' })
  .option('requests', { type: 'number', default: 1000, describe: 'predictions in the load phase' })
  .option('in-flight', { type: 'number', default: 8, describe: 'predictions running at once in the load phase' })
  .check(wholeNumbers({ train: 10, 'held-out': 1, requests: 1, 'in-flight': 1 }))
  .parseAsync();

await withCluster(args, async (client) => {
  const started = performance.now();
  const trained = trainPipeline(makeDataset(args.train, args.seed), args.seed);
  say(`trained a scaler and 3 models on ${args.train} samples in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const pipeline = await PredictionPipeline.install(client, trained);
  say('stored the weights in the KVS; registered the functions and the DAG');

  const heldOut = makeDataset(args['held-out'], args.seed + 1);
  const limit = pLimit(args['in-flight']);
  const predictions = await Promise.all(heldOut.x.map((raw) => limit(() => pipeline.predict(raw))));
  const same = predictions.every((p, i) => JSON.stringify(p) === JSON.stringify(predictLocally(trained, heldOut.x[i]!)));
  say(`held-out accuracy: ${accuracy(predictions, heldOut.y).toFixed(3)} on ${heldOut.x.length} inputs; the DAG's answers equal the local computation: ${same ? 'yes' : 'NO'}`);
  if (!same) process.exitCode = 1;

  let next = 0;
  const load = await measure(() => pipeline.predict(heldOut.x[next++ % heldOut.x.length]!), { inFlight: args['in-flight'], ops: args.requests });
  say(summarize('predict (a 5-function DAG)', load));
});
