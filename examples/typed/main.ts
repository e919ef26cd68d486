#!/usr/bin/env node
// `node dist/examples/typed/main.js`: typed functions. Registers the cart's
// definitions, calls them through typed handles, then sends arguments of the
// wrong shape the way an untyped caller could, and prints how the executor
// refused them.

import { randomUUID } from 'node:crypto';
import { InvalidArgument } from '../../lib/index.js';
import { exampleCli, say, withCluster } from '../example_cli.js';
import { addItem, countItems } from './functions.js';

const args = await exampleCli('typed', 'Typed functions: argument types checked by tsc at the caller and by a schema at the executor.').parseAsync();

await withCluster(args, async (client) => {
  await client.register(addItem);
  await client.register(countItems);
  const add = client.fn(addItem);       // (cart: string, sku: string, quantity: number) => Promise<Record<string, number>>
  const count = client.fn(countItems);  // (cart: string) => Promise<number>
  const cart = `c-${randomUUID().slice(0, 8)}`;
  await add(cart, 'apple', 3);
  say(`cart holds ${JSON.stringify(await add(cart, 'pear', 2))}, ${await count(cart)} items`);
  // What tsc would refuse at a typed call site, sent untyped:
  for (const bad of [[cart, 'apple', 0], [cart, 'Apple!', 1], [cart, 7, 1], [cart]]) {
    try {
      await client.call(addItem.name, bad);
      say(`${JSON.stringify(bad)}: ran (it should not have)`);
    } catch (err) {
      if (!(err instanceof InvalidArgument)) throw err;
      say(`${JSON.stringify(bad)}: refused, ${err.code}: ${err.message}`);
    }
  }
  say(`cart still holds ${await count(cart)} items`);
});
