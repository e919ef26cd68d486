// Typed functions: a function's argument and result types reach its callers,
// and optionally its arguments are checked at the executor against a schema
// (args_schema.ts). Types cost nothing at run time; they come from the
// function's own signature (`client.fn<typeof sum>('sum')` with an `import
// type`), or from a definition (`defineFunction`) that the registering and
// calling code share.

import { IsOptional, type Static, type TSchema, type TTuple } from 'typebox';
import type { Cb, CloudburstFunction } from './function_api.js';
import type { Ref } from './reference.js';

/** The parameters of a function after `cb`. */
export type FunctionArgs<F> = F extends (cb: Cb, ...args: infer A) => unknown ? A : never;

/** What a call of the function resolves with (its result, awaited). */
export type FunctionResult<F> = F extends (...args: never[]) => infer R ? Awaited<R> : never;

/**
 * Arguments as a caller passes them: each top-level one may also be a
 * reference or a future (`ref(key)`, `callFuture`), which the executor
 * replaces with the value before the function runs; their values are not
 * known to the type checker.
 */
export type PassedArgs<A extends unknown[]> = { [K in keyof A]: A[K] | Ref };

/** The leading parameters of a tuple, from none to all: a DAG function gets upstream results after the caller's arguments. */
export type LeadingArgs<A extends unknown[]> = A extends [...infer Head, unknown] ? A | LeadingArgs<Head> : A;

/** The static types of a list of TypeBox schemas, as a parameter list (`Type.Optional` ones optional). */
export type SchemaArgs<S extends TSchema[]> = Static<TTuple<S>> extends infer A extends unknown[] ? A : never;

/** A function with its name, and optionally the schema its arguments are checked against. */
export interface FunctionDefinition<F = CloudburstFunction> {
  readonly name: string;
  readonly fn: F;
  /** JSON Schema of the argument list (after `cb`). */
  readonly argsSchema?: TSchema;
}

/**
 * A function definition to `register` and to call with `client.fn(def)`.
 * With `{ args: [Type.Number(), ...] }` (TypeBox schemas, one per parameter
 * after `cb`), the parameters' types are those of the schemas, and the
 * executor refuses a call whose arguments do not match with InvalidArgument
 * before the function runs. Extra arguments are refused too; a DAG
 * function's schema lists the upstream results it receives after its own
 * arguments.
 */
export function defineFunction<F extends CloudburstFunction>(name: string, fn: F): FunctionDefinition<F>;
export function defineFunction<const S extends TSchema[], R>(
  name: string,
  spec: { args: S },
  fn: (cb: Cb, ...args: SchemaArgs<S>) => R,
): FunctionDefinition<(cb: Cb, ...args: SchemaArgs<S>) => R>;
export function defineFunction(name: string, specOrFn: CloudburstFunction | { args: TSchema[] }, maybeFn?: unknown): FunctionDefinition<unknown> {
  if (typeof specOrFn === 'function') return { name, fn: specOrFn };
  if (typeof maybeFn !== 'function') throw new TypeError(`defineFunction("${name}", spec, fn): fn must be a function`);
  return { name, fn: maybeFn, argsSchema: argumentList(specOrFn.args) };
}

/**
 * The JSON Schema of an argument list: one schema per position, none past
 * the last; trailing `Type.Optional` ones may be left out. (TypeBox's own
 * `Type.Tuple` marks optional elements only in a hidden field that JSON drops.)
 */
function argumentList(args: TSchema[]): TSchema {
  let required = args.length;
  while (required > 0 && IsOptional(args[required - 1])) required--;
  return { type: 'array', items: [...args], additionalItems: false, minItems: required, maxItems: args.length };
}

/** A registered function to call as a typed async function. */
export type TypedFunction<F> = ((...args: PassedArgs<FunctionArgs<F>>) => Promise<FunctionResult<F>>) & {
  /** The registered name it calls. */
  readonly functionName: string;
};

/**
 * A registered DAG to call: `args[fn]` are the arguments of each function,
 * any leading part of its parameters (upstream results fill the rest); the
 * result is the sink's.
 */
export type TypedDag<Fns extends Record<string, CloudburstFunction>, Sink extends keyof Fns> = (args?: {
  [K in keyof Fns]?: PassedArgs<LeadingArgs<FunctionArgs<Fns[K]>>>;
}) => Promise<FunctionResult<Fns[Sink]>>;
