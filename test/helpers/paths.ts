import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SAMPLES = resolve(ROOT, 'samples');
export const MODEL_REPO = resolve(ROOT, 'models/repo');
export const VTEST = resolve(SAMPLES, 'vtest.avi');

/** Set-up (scripts/setup.sh) provides these; a missing one is a set-up failure, not a skip. */
export function requireFile(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: run 'bash scripts/setup.sh' first`);
  return path;
}
