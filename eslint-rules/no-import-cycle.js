/**
 * vigil/no-import-cycle: an import (or re-export) whose target leads back to the importing module,
 * directly or through other modules, is an error naming the whole cycle. Type-only imports count
 * too: a cycle of types is still two modules that cannot be understood (or split) one at a time.
 *
 * The other modules are read with TypeScript's import scanner (relative specifiers only, `.js`
 * mapped to the `.ts` source), cached per file and modification time for the lint run.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';

/** file -> { mtimeMs, deps } */
const cache = new Map();

/** The `.ts` source a relative specifier names, or null (packages, missing files). */
function sourceOf(fromFile, specifier) {
  if (!specifier.startsWith('.')) return null;
  const target = resolve(dirname(fromFile), specifier);
  const candidate = target.endsWith('.js') ? `${target.slice(0, -3)}.ts` : target;
  try {
    return statSync(candidate).isFile() ? candidate : null;
  } catch {
    return null;
  }
}

function depsOf(file) {
  let mtimeMs;
  try {
    mtimeMs = statSync(file).mtimeMs;
  } catch {
    return [];
  }
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit.deps;
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const deps = [
    ...new Set(info.importedFiles.map((i) => sourceOf(file, i.fileName)).filter((d) => d !== null)),
  ];
  cache.set(file, { mtimeMs, deps });
  return deps;
}

/** The shortest path of modules from `start` back to `home` (both included), or null. */
function pathBack(start, home) {
  const parent = new Map([[start, null]]);
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const file = queue[i];
    for (const dep of depsOf(file)) {
      if (dep === home) {
        const path = [home];
        for (let f = file; f !== null; f = parent.get(f)) path.unshift(f);
        return path;
      }
      if (!parent.has(dep)) {
        parent.set(dep, file);
        queue.push(dep);
      }
    }
  }
  return null;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'Disallow import cycles between modules (type-only imports included)' },
    schema: [],
    messages: { cycle: 'import cycle: {{cycle}}' },
  },
  create(context) {
    const home = resolve(context.filename);
    if (!home.endsWith('.ts')) return {};
    const cwd = context.cwd;
    const check = (node) => {
      const specifier = node.source?.value;
      if (typeof specifier !== 'string') return;
      const target = sourceOf(home, specifier);
      if (target === null) return;
      const path = target === home ? [home] : pathBack(target, home);
      if (path === null) return;
      const cycle = [home, ...path].map((f) => relative(cwd, f)).join(' → ');
      context.report({ node: node.source, messageId: 'cycle', data: { cycle } });
    };
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};
