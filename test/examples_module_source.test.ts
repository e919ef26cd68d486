// moduleSource (examples/module_source.ts): a function and the helpers it
// calls become one module that runs on its own, as executors load it.

import t from 'tap';
import { InvalidArgument } from '../lib/errors.js';
import type { Cb } from '../lib/function_api.js';
import { moduleSource } from '../examples/module_source.js';

function double(x: number): number {
  return 2 * x;
}

function doublePlusOne(x: number): number {
  return double(x) + 1;
}

t.test('the module declares the helpers and default-exports the function', async (t) => {
  const fn = async (_cb: Cb, x: number): Promise<number> => doublePlusOne(x);
  const src = moduleSource(fn, double, doublePlusOne);
  const mod = (await import(`data:text/javascript,${encodeURIComponent(src)}`)) as { default: (cb: unknown, x: number) => Promise<number> };
  t.equal(await mod.default(undefined, 20), 41);
});

t.test('a helper must be a function declaration', async (t) => {
  t.throws(() => moduleSource(async () => 1, (x: number) => x), InvalidArgument);
});
