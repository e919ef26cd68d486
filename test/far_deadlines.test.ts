// A deadline is an absolute time, and nothing stops a caller (a foreign
// client with "no deadline" in mind, or the SDK with a huge timeoutMs) from
// naming one weeks or centuries ahead, up to 2^53 - 1 ms. Node's timers
// cannot wait more than 2^31 - 1 ms: beyond, setTimeout fires after 1 ms.
// Every wait derived from a deadline must therefore be capped, or a far
// deadline cancels the call at once.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { startCluster } from './fixtures/cluster.js';

void t.test('calls and DAG calls with a deadline far ahead run to the end', async (t) => {
  const { client } = await startCluster(t);
  // Long enough that an executor's cancel timer firing at once would cut it short.
  await client.register('slow_double', async (_cb: Cb, n: number) => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    return n * 2;
  });
  await client.register('slow_inc', async (_cb: Cb, n: number) => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    return n + 1;
  });
  await client.registerDag('double_inc', ['slow_double', 'slow_inc'], [['slow_double', 'slow_inc']]);
  for (const [what, ms] of [
    ['25 days ahead', 25 * 24 * 3600 * 1000],
    ['at 2^53 - 1 ms since the epoch', Number.MAX_SAFE_INTEGER - Date.now()],
  ] as const) {
    t.equal(await client.call('slow_double', [21], { timeoutMs: ms }), 42, `a call, deadline ${what}`);
    t.equal(await client.callDag('double_inc', { slow_double: [3] }, { timeoutMs: ms }), 7, `a DAG call, deadline ${what}`);
  }
});
