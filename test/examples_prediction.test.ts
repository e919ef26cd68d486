// The prediction-serving example (examples/prediction): a fan-out/fan-in DAG
// (preprocess → three models in parallel → ensemble) answers what the same
// ensemble computes locally, accurately, with the models' weights read from
// the executors' caches.

import pLimit from 'p-limit';
import t from 'tap';
import { ExecutionError, InvalidArgument } from '../lib/errors.js';
import { makeDataset } from '../examples/prediction/dataset.js';
import { accuracy, PredictionPipeline, predictLocally } from '../examples/prediction/pipeline.js';
import { trainPipeline } from '../examples/prediction/train.js';
import { startCluster } from './fixtures/cluster.js';
import { runExampleScript } from './fixtures/example_script.js';

/** Held-out accuracy the ensemble must reach on the synthetic task (it reaches about 0.93). */
const MIN_ACCURACY = 0.9;

t.test('the DAG predicts held-out inputs as the local ensemble does, accurately, from cached weights', async (t) => {
  const { client, executors } = await startCluster(t, { executors: 2 });
  const trained = trainPipeline(makeDataset(2000, 1), 1);
  const pipeline = await PredictionPipeline.install(client, trained);
  const heldOut = makeDataset(300, 2);
  const limit = pLimit(8);
  const predict = (xs: number[][]) => Promise.all(xs.map((raw) => limit(() => pipeline.predict(raw))));

  const predictions = await predict(heldOut.x);
  t.strictSame(predictions, heldOut.x.map((raw) => predictLocally(trained, raw)), 'every answer is the local ensemble’s, to the bit');
  t.ok(predictions.every((p) => p.votes.length === 3), 'three models voted on each input');
  const acc = accuracy(predictions, heldOut.y);
  t.ok(acc >= MIN_ACCURACY, `held-out accuracy ${acc.toFixed(3)} >= ${MIN_ACCURACY}`);

  // Every executor has read the weights by now: more predictions fetch nothing.
  const misses = (): number => executors.reduce((sum, e) => sum + e.cacheStats.misses, 0);
  const before = misses();
  await predict(heldOut.x.slice(0, 50));
  t.equal(misses(), before, 'the weights came from the executors’ caches');

  t.throws(() => pipeline.predict([1, 2]), InvalidArgument, 'an input of the wrong size is refused by the client');
  await t.rejects(client.call('prediction.preprocess', [['a', 'b', 'c', 'd']]), ExecutionError, 'and by the function');
});

t.test('the load script trains, checks and prints latency figures', async (t) => {
  const { nats } = await startCluster(t, { executors: 2 });
  const { code, stdout } = await runExampleScript('prediction', ['--nats', nats.url, '--train', '1000', '--held-out', '100', '--requests', '100']);
  t.equal(code, 0, stdout);
  t.match(stdout, /held-out accuracy: 0\.\d+ on 100 inputs; the DAG's answers equal the local computation: yes/);
  t.match(stdout, /predict \(a 5-function DAG\), 8 in flight: [\d,]+ ops\/s, p50 [\d,]+ µs, p99 [\d,]+ µs \(100 ops\)/);
});
