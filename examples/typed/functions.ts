// A shopping cart as typed functions: each definition carries the types of
// its arguments as TypeBox schemas, so callers get them checked by tsc, and
// executors check what arrives at run time: a call with a quantity of 0, or
// a number where a name belongs, is refused with InvalidArgument before the
// function runs.
//
// State: cart/<id>  {sku: quantity}, a plain value (last writer wins).

import { defineFunction, Type, type Cb } from '../../lib/index.js';

export const addItem = defineFunction(
  'cart.add',
  { args: [Type.String({ minLength: 1 }), Type.String({ pattern: '^[a-z0-9-]+$' }), Type.Integer({ minimum: 1, maximum: 99 })] },
  // Shipped as source to the executors: it uses nothing from this module.
  async (cb: Cb, cart, sku, quantity) => {
    const key = `cart/${cart}`;
    const items = (await cb.get<Record<string, number>>(key)) ?? {};
    items[sku] = (items[sku] ?? 0) + quantity;
    await cb.put(key, items);
    return items;
  },
);

export const countItems = defineFunction('cart.count', { args: [Type.String({ minLength: 1 })] }, async (cb: Cb, cart) => {
  const items = (await cb.get<Record<string, number>>(`cart/${cart}`)) ?? {};
  return Object.values(items).reduce((sum, n) => sum + n, 0);
});
