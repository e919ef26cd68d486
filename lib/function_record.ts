// How function code is kept: each registered function is an ES module whose
// default export is the function, stored in the KVS under a reserved key so
// any executor can load it. The hash names the code, so executors and workers
// cache modules by content and a re-registration is never confused with the
// old code.

import { createHash } from 'node:crypto';
import { checkArgsSchema, type ArgsSchema } from './args_schema.js';
import { obj } from './codec/index.js';
import { FunctionNotFound, InvalidArgument, MalformedMessage, PayloadTooLarge } from './errors.js';
import type { RegistryKind } from './registry_kind.js';
import { RESERVED_PREFIX } from './reserved_keys.js';

/** Registry notices (on `<prefix>.registry`) that a name now means new code. */
export const FN_UPDATED = 'fn.updated';
export const DAG_UPDATED = 'dag.updated';

/** A cb.send message to a running instance, on `<prefix>.fn.<executor>.<n>`. */
export const FN_MESSAGE = 'msg';

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Largest function module, in UTF-8 bytes of its source. Every executor keeps
 * the code of the functions it runs in each worker thread, so code is held to
 * far less than a message may carry; 4 MiB still fits a bundled dependency.
 */
export const MAX_FUNCTION_CODE_BYTES = 4 * 1024 * 1024;

export interface FunctionRecord {
  name: string;
  /** ES module source whose default export is the function. */
  code: string;
  /** sha256 of `code`, hex. */
  hash: string;
  /** JSON Schema the call's arguments must match (args_schema.ts); none: not checked. */
  argsSchema?: ArgsSchema;
}

export function checkFunctionName(name: string): string {
  if (!NAME.test(name)) {
    throw new InvalidArgument(
      `function name "${name}" must start with a letter or _ and hold only letters, digits, _, . and - (at most 128)`,
    );
  }
  return name;
}

export function functionKey(name: string): string {
  return `${RESERVED_PREFIX}fn/${checkFunctionName(name)}`;
}

/** A record from a function value (its source text) or from module source, with an optional argument schema. */
export function functionRecord(name: string, fnOrModule: ((...args: never[]) => unknown) | string, argsSchema?: unknown): FunctionRecord {
  checkFunctionName(name);
  let code: string;
  if (typeof fnOrModule === 'function') {
    const src = fnOrModule.toString();
    if (src.includes('[native code]')) throw new InvalidArgument('a native or bound function cannot be registered');
    // typeof a class is 'function', but calling one without new throws.
    if (/^class\b/.test(src)) throw new InvalidArgument(`function "${name}": a class cannot be registered, it cannot be called; register a function`);
    // A method shorthand (`name(cb) {}`) is not an expression; make it one.
    const expr = /^(async\s+)?(function\b|\(|[A-Za-z_$][\w$]*\s*=>|async\s*\()/.test(src) ? src : methodToFunction(src);
    code = `export default (${expr});\n`;
  } else if (typeof fnOrModule === 'string' && fnOrModule.trim().length > 0) {
    code = fnOrModule;
  } else {
    throw new InvalidArgument('register takes a function or the source of an ES module with a default export');
  }
  checkCodeSize(name, code);
  const record: FunctionRecord = { name, code, hash: createHash('sha256').update(code).digest('hex') };
  if (argsSchema !== undefined) record.argsSchema = checkArgsSchema(name, argsSchema);
  return record;
}

function checkCodeSize(name: string, code: string): void {
  const size = Buffer.byteLength(code, 'utf8');
  if (size > MAX_FUNCTION_CODE_BYTES) {
    throw new PayloadTooLarge(`the code of function "${name}" is ${size} B, above the limit of ${MAX_FUNCTION_CODE_BYTES} B`, {
      data: { size, limit: MAX_FUNCTION_CODE_BYTES },
    });
  }
}

function methodToFunction(src: string): string {
  const m = /^(async\s+)?(\*?\s*)([A-Za-z_$][\w$]*)\s*\(/.exec(src);
  if (!m) throw new InvalidArgument('cannot register this function: its source is not a function expression');
  return `${m[1] ?? ''}function${m[2] ?? ''} ${src.slice((m[1] ?? '').length + (m[2] ?? '').length)}`;
}

/** Function records as the registry cache loads them. */
export const FUNCTIONS: RegistryKind<FunctionRecord> = {
  notice: FN_UPDATED,
  key: functionKey,
  parse(name, stored) {
    if (stored === undefined) throw new FunctionNotFound(`no function named "${name}" is registered`, { data: { name } });
    const { code, hash, argsSchema } = obj(stored, `the stored record of function "${name}"`);
    if (typeof code !== 'string' || typeof hash !== 'string') throw new MalformedMessage(`the stored record of function "${name}" is damaged`);
    // A record written past the SDK (straight to the KVS) is held to the limits too.
    checkCodeSize(name, code);
    if (argsSchema === undefined) return { name, code, hash };
    try {
      return { name, code, hash, argsSchema: checkArgsSchema(name, argsSchema) };
    } catch (err) {
      throw new MalformedMessage(`the stored argument schema of function "${name}" is damaged: ${(err as Error).message}`, { cause: err });
    }
  },
};
