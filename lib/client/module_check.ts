// What `register` checks of module source before storing it, so that broken
// code fails when it is registered rather than on every call. The source is
// parsed (with the TypeScript compiler, loaded lazily: registering source is
// rare and the compiler is large), never run: running it here would run its
// top-level code in the caller's process.
//
// Checked: the module parses as JavaScript (an ES module; TypeScript syntax
// is an error, since executors run it as is), and it has a default export
// that can be a function (not a literal, an object, an array or a class).
// Not checked, as no parse can tell: what a default export named by an
// identifier holds, errors the engine finds only when it compiles (a name
// declared twice, `await` outside an async function), imports of packages
// the executors do not have, and variables the function uses from a scope
// it will not have where it runs. Those still fail on call, as an
// ExecutionError.

import type TS from 'typescript';
import { InvalidArgument } from '../errors.js';
import { loadTypeScript } from './transpile.js';

type TypeScript = typeof import('typescript');

export async function checkFunctionModule(name: string, code: string): Promise<void> {
  const ts = await loadTypeScript();
  // A .mjs name: parsed as an ES module of plain JavaScript.
  const out = ts.transpileModule(code, {
    fileName: `${name}.mjs`,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, allowJs: true },
  });
  const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    const shown = errors.slice(0, 5).map((d) => where(ts, d));
    const more = errors.length > shown.length ? `; and ${errors.length - shown.length} more` : '';
    throw new InvalidArgument(`function "${name}" does not parse as a JavaScript module: ${shown.join('; ')}${more}`, { data: { name } });
  }
  const problem = defaultExportProblem(ts, ts.createSourceFile(`${name}.mjs`, code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS));
  if (problem) throw new InvalidArgument(`function "${name}": ${problem}; the module must export the function: export default async (cb, ...args) => ...`, { data: { name } });
}

function where(ts: TypeScript, d: TS.Diagnostic): string {
  const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
  if (!d.file || d.start === undefined) return text;
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  return `line ${line + 1}, column ${character + 1}: ${text}`;
}

/** Why the module's default export cannot be the function, or undefined when it may be. */
function defaultExportProblem(ts: TypeScript, file: TS.SourceFile): string | undefined {
  const isDefault = (node: TS.Node): boolean =>
    ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
  for (const s of file.statements) {
    if (ts.isFunctionDeclaration(s) && isDefault(s)) return undefined;
    if (ts.isClassDeclaration(s) && isDefault(s)) return 'its default export is a class, which cannot be called';
    if (ts.isExportAssignment(s) && !s.isExportEquals) return notCallable(ts, unwrap(ts, s.expression));
    // `export { f as default }`, `export { default } from 'pkg'`: what it names is not known here.
    if (ts.isExportDeclaration(s) && s.exportClause && ts.isNamedExports(s.exportClause) && s.exportClause.elements.some((e) => e.name.text === 'default')) {
      return undefined;
    }
  }
  return 'the module has no default export';
}

/** The expression inside parentheses (`export default (async () => 1)`). */
function unwrap(ts: TypeScript, e: TS.Expression): TS.Expression {
  while (ts.isParenthesizedExpression(e)) e = e.expression;
  return e;
}

function notCallable(ts: TypeScript, e: TS.Expression): string | undefined {
  if (ts.isClassExpression(e)) return 'its default export is a class, which cannot be called';
  const literal =
    ts.isLiteralExpression(e) ||
    ts.isNoSubstitutionTemplateLiteral(e) ||
    ts.isTemplateExpression(e) ||
    ts.isObjectLiteralExpression(e) ||
    ts.isArrayLiteralExpression(e) ||
    [ts.SyntaxKind.TrueKeyword, ts.SyntaxKind.FalseKeyword, ts.SyntaxKind.NullKeyword].includes(e.kind);
  return literal ? `its default export, ${JSON.stringify(e.getText().slice(0, 40))}, is not a function` : undefined;
}
