/**
 * "No shell is ever invoked with user input", checked statically over src/** and bin/ with the
 * TypeScript parser: child_process may only be used through spawn / execFile (and their Sync
 * forms) with an argument array and without a shell. exec / execSync (which always run a shell
 * command line), `shell: <anything but false>`, and reaching child_process any other way (require,
 * dynamic import, a namespace import) fail the test with the file and line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.js';

const ALLOWED = new Set(['spawn', 'spawnSync', 'execFile', 'execFileSync', 'ChildProcess', 'SpawnOptions']);
const CHILD_PROCESS = /^(node:)?child_process$/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.(ts|js|mjs|cjs)$/.test(name) ? [path] : [];
  });
}

/** Every violation in one source text, as `file:line: what`. */
function shellViolations(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const at = (node: ts.Node, what: string) =>
    out.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${what}`);
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      if (CHILD_PROCESS.test(node.moduleSpecifier.text)) {
        const b = node.importClause?.namedBindings;
        if (node.importClause?.name || (b && ts.isNamespaceImport(b)))
          at(node, 'default/namespace import of child_process');
        if (b && ts.isNamedImports(b)) {
          for (const el of b.elements) {
            const name = (el.propertyName ?? el.name).text;
            if (!ALLOWED.has(name)) at(el, `imports ${name} from child_process`);
          }
        }
      }
    }
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const arg = node.arguments[0];
      const isRequireOrImport =
        (ts.isIdentifier(callee) && callee.text === 'require') || callee.kind === ts.SyntaxKind.ImportKeyword;
      if (isRequireOrImport && arg && ts.isStringLiteral(arg) && CHILD_PROCESS.test(arg.text)) {
        at(node, 'child_process reached through require() or import()');
      }
      const name = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : '';
      if (['spawn', 'spawnSync', 'execFile', 'execFileSync'].includes(name)) {
        for (const a of node.arguments) {
          if (!ts.isObjectLiteralExpression(a)) continue;
          for (const p of a.properties) {
            const key = p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? p.name.text : '';
            if (key !== 'shell') continue;
            const value = ts.isPropertyAssignment(p) ? p.initializer : undefined;
            if (!value || value.kind !== ts.SyntaxKind.FalseKeyword) at(p, `${name}() with a shell option`);
          }
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

describe('no shell is ever invoked', () => {
  it('src/** and bin/ use child_process only through spawn/execFile without a shell', () => {
    const all = [...files(join(ROOT, 'src')), ...files(join(ROOT, 'bin'))];
    expect(all.length).toBeGreaterThan(20);
    const violations = all.flatMap((f) => shellViolations(relative(ROOT, f), readFileSync(f, 'utf8')));
    expect(violations).toEqual([]);
  });

  it('the check catches each forbidden form', () => {
    const bad = [
      `import { exec } from 'node:child_process'; exec('ls ' + userInput);`,
      `import { execSync as run } from 'child_process';`,
      `import * as cp from 'node:child_process';`,
      `import cp from 'child_process';`,
      `import { spawn } from 'node:child_process'; spawn('sh', ['-c', x], { shell: true });`,
      `import { execFile } from 'node:child_process'; execFile(cmd, [], { shell: '/bin/sh' });`,
      `const cp = require('child_process');`,
      `const cp = await import('node:child_process');`,
    ];
    for (const text of bad) expect(shellViolations('x.ts', text), text).toHaveLength(1);
    const good = `import { spawn, execFile } from 'node:child_process';
      spawn('nats-server', ['-p', port], { stdio: 'ignore' });
      execFile('gst-discoverer-1.0', [path], { shell: false }, cb);`;
    expect(shellViolations('ok.ts', good)).toEqual([]);
  });
});
