/**
 * Issue 17 (one definition per contract): one registry of error codes, each with its HTTP status
 * and CLI exit status; the control API and the CLI read it instead of keeping their own maps.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  EXIT,
  exitCodeOf,
  httpStatusOf,
  isErrorCode,
  VigilError,
} from '../../src/core/errors.js';
import { errorReply } from '../../src/control/api.js';
import { reportError } from '../../src/cli/main.js';
import { ROOT } from '../helpers/paths.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('error code registry', () => {
  it('lists every code the source throws (no code outside the registry)', () => {
    const used = new Set<string>();
    for (const file of sources(join(ROOT, 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/'(VIGIL_ERR_[A-Z_]*[A-Z])'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((c) => !isErrorCode(c))).toEqual([]);
  });

  it('gives each code an HTTP error status, one of the documented exit statuses and a summary', () => {
    const exits = new Set<number>(Object.values(EXIT));
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^VIGIL_ERR_[A-Z_]+$/);
      expect(info.http, code).toBeGreaterThanOrEqual(400);
      expect(info.http, code).toBeLessThan(600);
      expect(exits.has(info.exit) && info.exit !== EXIT.ok, code).toBe(true);
      expect(info.summary.length, code).toBeGreaterThan(10);
    }
  });

  it('unknown codes (from a newer analyzer) map to 500 and exit 1', () => {
    expect(httpStatusOf('VIGIL_ERR_FROM_THE_FUTURE')).toBe(500);
    expect(exitCodeOf('VIGIL_ERR_FROM_THE_FUTURE')).toBe(EXIT.failure);
  });

  it('the control API replies and the CLI exits by the registry, code by code', () => {
    const stderr: string[] = [];
    const error = console.error;
    console.error = (line: string) => stderr.push(line);
    try {
      for (const [code, info] of Object.entries(ERROR_CODES)) {
        const err = new VigilError(code as keyof typeof ERROR_CODES, 'm');
        expect(errorReply(err).status, code).toBe(info.http);
        expect(reportError(err), code).toBe(info.exit);
      }
    } finally {
      console.error = error;
    }
    expect(stderr).toHaveLength(Object.keys(ERROR_CODES).length);
  });
});
