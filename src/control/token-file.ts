/**
 * The control token kept in a file: `vigil run` without a configured token makes one at first
 * start (32 random bytes, base64url, mode 0600 in a 0700 directory) and reads it back on later
 * starts, so the API is never open by default. The CLI's remote commands read the same file when
 * no token is given and the analyzer is on this machine. The token itself is never printed: only
 * the file's path. The default place is `defaultControlTokenFile()` (src/config).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { makeDirectory, MakeDirError } from '../core/make-dir.js';

const MAX_TOKEN_FILE_BYTES = 4096;

/** Reads the token in `file`; undefined when the file does not exist. */
export function readControlTokenFile(file: string): string | undefined {
  let stat;
  try {
    stat = lstatSync(file);
  } catch {
    return undefined;
  }
  if (!stat.isFile() || stat.size > MAX_TOKEN_FILE_BYTES) {
    throw new ConfigError(
      `control.tokenFile: ${file} is not a regular file of at most ${MAX_TOKEN_FILE_BYTES} bytes`,
    );
  }
  const token = readFileSync(file, 'utf8').trim();
  if (token.length < 8 || /\s/.test(token)) {
    throw new ConfigError(
      `control.tokenFile: ${file} does not hold a token (one line, at least 8 characters)`,
    );
  }
  return token;
}

/** The token in `file`, made there first when the file does not exist yet. */
export function loadOrCreateControlToken(file: string): { token: string; created: boolean } {
  const existing = readControlTokenFile(file);
  if (existing !== undefined) return { token: existing, created: false };
  const token = randomBytes(32).toString('base64url');
  try {
    makeDirectory(dirname(file), 0o700);
    // 'wx': never overwrite a file that appeared meanwhile (another process made it first).
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, `${token}\n`);
    } finally {
      closeSync(fd);
    }
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      return { token: readControlTokenFile(file)!, created: false };
    }
    throw new ConfigError(
      `control.tokenFile: cannot write ${file} (${cause instanceof MakeDirError ? cause.message : ((cause as NodeJS.ErrnoException).code ?? 'error')}): set control.token or VIGIL_CONTROL_TOKEN, or a writable control.tokenFile`,
      { cause },
    );
  }
  return { token, created: true };
}

/** How to use the token, for the start-up log: names the file, never prints the token. */
export function controlTokenHint(file: string, controlUrl: string): string {
  return (
    `vigil: the control API needs the token kept in ${file}: ` +
    `vigil attach/detach/ls/search/ask on this machine read it from there; ` +
    `elsewhere pass --token "$(cat ${file})" (or VIGIL_CONTROL_TOKEN); ` +
    `the live view is ${controlUrl}/?token=<that token>`
  );
}
