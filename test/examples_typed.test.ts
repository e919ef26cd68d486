// The typed example (examples/typed) runs from the command line against a
// cluster: typed handles return the function's results, and each call with
// arguments of the wrong shape is refused before the function runs.

import t from 'tap';
import { startCluster } from './fixtures/cluster.js';
import { runExampleScript } from './fixtures/example_script.js';

t.test('the typed script calls through typed handles and shows the executor refusing bad arguments', async (t) => {
  const { nats } = await startCluster(t);
  const { code, stdout, stderr } = await runExampleScript('typed', ['--nats', nats.url]);
  t.equal(code, 0, stderr);
  t.match(stdout, /^cart holds \{"apple":3,"pear":2\}, 5 items$/m);
  t.equal(stdout.match(/: refused, INVALID_ARGUMENT: .*it was not run$/gm)?.length, 4, stdout);
  t.notMatch(stdout, /ran \(it should not have\)/);
  t.match(stdout, /^cart still holds 5 items$/m, 'no refused call changed the cart');
});
