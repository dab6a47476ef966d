import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
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

/**
 * Writes `<repo>/<name>/` serving the server's built-in text test backend: a BYTES `text_input`
 * turned into a BYTES `text_output` by `template` (`{text_input}` stands for the input), as Triton's
 * vLLM-style text models are called.
 */
export function writeTextTemplateModel(repo: string, name: string, template: string): void {
  mkdirSync(join(repo, name, '1'), { recursive: true });
  writeFileSync(
    join(repo, name, 'config.pbtxt'),
    [
      `name: "${name}"`,
      'platform: "vigil_text_template"',
      'input [ { name: "text_input" data_type: TYPE_STRING dims: [ 1 ] } ]',
      'output [ { name: "text_output" data_type: TYPE_STRING dims: [ 1 ] } ]',
      `parameters { key: "vigil_text_template" value: { string_value: "${template}" } }`,
      '',
    ].join('\n'),
  );
}
