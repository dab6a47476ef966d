/** Real Chromium for browser tests: a fresh profile per launch, removed again on close. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's chromium (scripts/setup.sh installs it). */
export const CHROMIUM = '/usr/bin/chromium';

export interface TestBrowser {
  readonly context: BrowserContext;
  /** Closes the browser and removes its profile. Idempotent; never throws. */
  close(): Promise<void>;
}

/** Headless, no network of its own (no updates, sync or QUIC): only what the page under test asks. */
export async function launchChromium(viewport = { width: 1280, height: 900 }): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'vigil-chromium-'));
  let context: BrowserContext;
  try {
    // launchPersistentContext passes the profile as --user-data-dir.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  let closed: Promise<void> | null = null;
  return {
    context,
    close: () =>
      (closed ??= context
        .close()
        .catch(() => undefined)
        .finally(() => rmSync(profile, { recursive: true, force: true }))),
  };
}
