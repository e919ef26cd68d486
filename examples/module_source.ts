// Registered functions travel to executors as source text and cannot import
// the files beside them. When a function calls helpers that the client (or a
// test, or another function) also uses, this builds the module to register:
// the helpers' source first, then the function as the default export. So the
// helpers are written once, instead of being copied into every function.

import { InvalidArgument, type CloudburstFunction } from '../lib/index.js';

/** A function declaration (`function name(...) {...}`) using only its arguments, other helpers and globals. */
export type Helper = (...args: never[]) => unknown;

/** ES module source: `helpers`, then `fn` as the default export. */
export function moduleSource(fn: CloudburstFunction, ...helpers: Helper[]): string {
  const declarations = helpers.map((h) => {
    const src = h.toString();
    // An arrow function or a method would not declare its name in the module.
    if (!/^(async\s+)?function\b/.test(src)) throw new InvalidArgument(`helper ${h.name} must be a function declaration`);
    return src;
  });
  return `${declarations.join('\n')}\nexport default (${fn.toString()});\n`;
}
