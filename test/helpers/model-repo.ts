import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './paths.js';

/**
 * Writes a model repository into `out` as set-up does (scripts/prepare-model-repo.mjs), serving
 * `models` (comma-separated), with any further options of that script; returns `out`.
 */
export async function prepareModelRepo(out: string, models: string, ...options: string[]): Promise<string> {
  await promisify(execFile)(process.execPath, [
    join(ROOT, 'scripts/prepare-model-repo.mjs'),
    '--out',
    out,
    '--models',
    models,
    ...options,
  ]);
  return out;
}
