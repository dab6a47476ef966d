/**
 * Creates a directory and its missing parents one level at a time. Node 20's
 * `mkdirSync(path, { recursive: true })` never returns on some virtual file systems (under
 * /proc it loops at full CPU), so every directory Vigil makes for the user goes through here.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Bounds the walk up to the root (no path is this deep in practice). */
const MAX_DEPTH = 256;

export class MakeDirError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${reason}`, options);
  }
}

/** Makes `path` (and missing parents) with `mode`; throws MakeDirError naming the failing level. */
export function makeDirectory(path: string, mode = 0o777): void {
  const missing: string[] = [];
  let at = resolve(path);
  for (let depth = 0; ; depth += 1) {
    if (depth > MAX_DEPTH) throw new MakeDirError(path, 'path too deep');
    let isDir: boolean | undefined;
    try {
      isDir = statSync(at).isDirectory();
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      // ENOTDIR: a parent is a file; the walk up names it.
      if (code !== 'ENOENT' && code !== 'ENOTDIR')
        throw new MakeDirError(at, code ?? 'cannot stat', { cause });
    }
    if (isDir === true) break;
    if (isDir === false) throw new MakeDirError(at, 'exists and is not a directory');
    missing.push(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, { mode });
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(dir).isDirectory()) continue;
      throw new MakeDirError(dir, code ?? 'cannot create', { cause });
    }
  }
}
