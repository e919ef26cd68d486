// What `cloudburst register <file>` ships: the file's source as one ES module.
// TypeScript is transpiled here, on the client, so executors only ever load
// JavaScript. The CLI imports this module, and the SDK's `register` for the
// loader (module_check.ts); the TypeScript compiler is loaded lazily, when
// source is registered, so nodes and their workers never load it.

import { extname } from 'node:path';
import { InvalidArgument } from '../errors.js';

type TypeScript = typeof import('typescript');

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);
const JS_EXTENSIONS = new Set(['.js', '.mjs']);

/**
 * The ES module source to register for the file at `path` holding `source`:
 * `.ts`/`.mts`/`.cts` transpiled to JavaScript, `.js`/`.mjs` unchanged.
 * Throws InvalidArgument on another extension, on a TypeScript syntax error
 * (naming file, line and column), or when the module imports a relative
 * path: a function is shipped alone, as a data: URL module, so no file next
 * to it can be found where it runs.
 */
export async function moduleSource(path: string, source: string): Promise<string> {
  const ext = extname(path).toLowerCase();
  if (!TS_EXTENSIONS.has(ext) && !JS_EXTENSIONS.has(ext)) {
    throw new InvalidArgument(`${path}: cannot register a "${ext || 'extensionless'}" file; use a .ts, .mts, .cts, .js or .mjs ES module`);
  }
  if (/\.d\.[mc]?ts$/i.test(path)) throw new InvalidArgument(`${path}: a declaration file holds no code to register`);
  const ts = await loadTypeScript();
  const code = TS_EXTENSIONS.has(ext) ? transpile(ts, path, source) : source;
  checkNoRelativeImports(ts, path, code);
  return code;
}

export async function loadTypeScript(): Promise<TypeScript> {
  try {
    return (await import('typescript')).default;
  } catch (err) {
    throw new InvalidArgument('registering a module needs the "typescript" package, which could not be loaded', { cause: err });
  }
}

// Transpilation only: no type checking. Type errors are the job of the
// author's editor or of `tsc`, as they are for any TypeScript build; only
// syntax errors, which leave no module to run, stop the registration.
function transpile(ts: TypeScript, path: string, source: string): string {
  const out = ts.transpileModule(source, {
    // As a .ts name: TypeScript emits CommonJS for a .cts file whatever
    // `module` says, and executors load every function as an ES module.
    fileName: path.replace(/\.[cm]ts$/i, '.ts'),
    reportDiagnostics: true,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      sourceMap: false,
      inlineSourceMap: false,
      declaration: false,
    },
  });
  const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    const shown = errors.slice(0, 5).map((d) => describe(ts, path, d));
    const more = errors.length > shown.length ? `\n  (and ${errors.length - shown.length} more)` : '';
    throw new InvalidArgument(`TypeScript syntax error${errors.length > 1 ? 's' : ''}:\n  ${shown.join('\n  ')}${more}`);
  }
  return out.outputText;
}

function describe(ts: TypeScript, path: string, d: import('typescript').Diagnostic): string {
  const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
  if (!d.file || d.start === undefined) return `${path}: ${text}`;
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  return `${path}:${line + 1}:${character + 1}: ${text} (TS${d.code})`;
}

function isRelative(specifier: string): boolean {
  return specifier === '.' || specifier === '..' || specifier.startsWith('./') || specifier.startsWith('../');
}

// Checked on the JavaScript that will run, so type-only imports (erased by
// transpilation) are fine wherever they point.
function checkNoRelativeImports(ts: TypeScript, path: string, code: string): void {
  const file = ts.createSourceFile(path, code, ts.ScriptTarget.ES2022, false, ts.ScriptKind.JS);
  const found: string[] = [];
  const note = (spec: import('typescript').Node | undefined) => {
    if (spec && ts.isStringLiteralLike(spec) && isRelative(spec.text) && !found.includes(spec.text)) found.push(spec.text);
  };
  const visit = (node: import('typescript').Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) note(node.moduleSpecifier);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) note(node.arguments[0]);
    ts.forEachChild(node, visit);
  };
  visit(file);
  if (found.length > 0) {
    const list = found.map((f) => `"${f}"`).join(', ');
    throw new InvalidArgument(
      `${path} imports the relative path${found.length > 1 ? 's' : ''} ${list}: a registered function is shipped alone ` +
        '(as a data: URL module) and cannot import files next to it; put the code it needs in the same file ' +
        '(type-only imports are fine, they are erased)',
    );
  }
}
