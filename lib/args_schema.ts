// Argument schemas of registered functions: JSON Schema, stored with the
// function's code and checked by the executor before the function runs, so
// a call with arguments of the wrong shape is refused with InvalidArgument
// instead of failing somewhere inside user code.
//
// Why TypeBox: its schemas are JSON Schema data, not code. A schema written
// with `Type.Number()` on the client is stored in the KVS as plain JSON and
// checked in another process (the executor) by TypeBox's compiled checker;
// a client in another language can store or read the same JSON. zod and
// valibot schemas are closures, which cannot travel to the executor without
// shipping the library's code with them.
//
// Checked at registration: the schema is a JSON object (it survives JSON
// unchanged), at most MAX_ARGS_SCHEMA_BYTES, and TypeBox compiles it. Not
// checked: that its keywords make sense (`{type: "nonsense"}` accepts
// everything), as TypeBox compiles unknown keywords to no check.

import { Compile } from 'typebox/compile';
import type { TSchema } from 'typebox';
import { InvalidArgument } from './errors.js';

/** Largest argument schema, in bytes of its JSON. */
export const MAX_ARGS_SCHEMA_BYTES = 64 * 1024;

/** At most this many of a call's mismatches are named in the error. */
const ERRORS_SHOWN = 5;

export type ArgsSchema = Record<string, unknown>;

/**
 * The schema as it will be stored: a plain JSON copy (TypeBox's schemas carry
 * hidden markers the copy drops). InvalidArgument when it is no JSON object,
 * is too large, or does not compile.
 */
export function checkArgsSchema(fn: string, schema: unknown): ArgsSchema {
  let json: string | undefined;
  try {
    json = JSON.stringify(schema);
  } catch {
    json = undefined;
  }
  const copy: unknown = json === undefined ? undefined : JSON.parse(json);
  if (typeof copy !== 'object' || copy === null || Array.isArray(copy) || json === undefined) {
    throw new InvalidArgument(`the argument schema of function "${fn}" must be a JSON Schema object (e.g. Type.Tuple([...]) of typebox)`, { data: { name: fn } });
  }
  const size = Buffer.byteLength(json, 'utf8');
  if (size > MAX_ARGS_SCHEMA_BYTES) {
    throw new InvalidArgument(`the argument schema of function "${fn}" is ${size} B of JSON, above the limit of ${MAX_ARGS_SCHEMA_BYTES} B`, {
      data: { name: fn, size, limit: MAX_ARGS_SCHEMA_BYTES },
    });
  }
  try {
    Compile(copy as TSchema);
  } catch (err) {
    throw new InvalidArgument(`the argument schema of function "${fn}" does not compile: ${(err as Error).message}`, { cause: err, data: { name: fn } });
  }
  return copy as ArgsSchema;
}

type Validator = ReturnType<typeof Compile>;

/** Compiled checkers, by the stored schema object (records are cached and replaced whole). */
const validators = new WeakMap<ArgsSchema, Validator>();

/** Throws InvalidArgument, naming where and why, when `args` do not match `schema`. */
export function checkArgs(fn: string, schema: ArgsSchema, args: unknown[]): void {
  let validator = validators.get(schema);
  if (!validator) {
    validator = Compile(schema as TSchema);
    validators.set(schema, validator);
  }
  if (validator.Check(args)) return;
  const errors = validator.Errors(args).slice(0, ERRORS_SHOWN).map((e) => ({ path: argsPath(e.instancePath), message: e.message }));
  const said = errors.map((e) => `${e.path} ${e.message}`).join('; ');
  throw new InvalidArgument(`the arguments of function "${fn}" do not match its schema: ${said}; it was not run`, { data: { name: fn, errors } });
}

/** A JSON pointer into the argument array as code would write it: `/1/a` is `args[1].a`. */
function argsPath(pointer: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return parts.reduce((path, p) => (/^\d+$/.test(p) ? `${path}[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `${path}.${p}` : `${path}[${JSON.stringify(p)}]`), 'args');
}
