/**
 * The live web view in headless Chromium (Debian's chromium driven by playwright-core) against the
 * real service: the page loads, a stream attached during the test appears with its keyframe, boxes,
 * fps and latency, an event shows up, all pushed over ws; a screenshot is saved under test-artifacts/.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserContext, type Page } from 'playwright-core';
import { launchChromium, type TestBrowser } from '../helpers/chromium.js';
import { parseConfig } from '../../src/config/index.js';
import { startService, type Service } from '../../src/app/service.js';
import { MODEL_REPO, requireFile, ROOT, VTEST } from '../helpers/paths.js';

const TOKEN = 'web-token-12345';
const ARTIFACTS = resolve(ROOT, 'test-artifacts');

describe('live web view', () => {
  let service: Service;
  let browser: BrowserContext | undefined;
  let chrome: TestBrowser | undefined;
  let page: Page;
  const requests: string[] = [];

  beforeAll(async () => {
    const config = parseConfig(
      `
inference: { modelRepository: ${JSON.stringify(requireFile(MODEL_REPO))} }
control: { port: 0 }
analyzer: { windowMs: 2000 }
`,
      'test.yaml',
      { VIGIL_CONTROL_TOKEN: TOKEN },
    );
    service = await startService(config, () => undefined);
    chrome = await launchChromium({ width: 1280, height: 800 });
    browser = chrome.context;
    page = await browser.newPage();
    page.on('request', (r) => requests.push(r.url()));
  }, 60_000);

  afterAll(async () => {
    await chrome?.close();
    await service?.close();
  });

  it('refuses the page and the socket without the token', async () => {
    expect((await fetch(`${service.controlUrl}/`)).status).toBe(401);
    expect((await fetch(`${service.controlUrl}/?token=${TOKEN}`)).status).toBe(200);
  });

  it('loads, shows a stream attached during the test with keyframe, boxes, fps, latency and an event', async () => {
    await page.goto(`${service.controlUrl}/?token=${TOKEN}`);
    await page.waitForSelector('#conn.up', { timeout: 10_000 });
    expect(await page.locator('#empty').isVisible()).toBe(true);

    const res = await fetch(`${service.controlUrl}/v1/streams`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'walkway', url: requireFile(VTEST), live: true, windowMs: 2000 }),
    });
    expect(res.status).toBe(201);

    const card = page.locator('[data-stream="walkway"]');
    await card.waitFor({ timeout: 10_000 });
    await page.waitForSelector('[data-stream="walkway"][data-state="live"]', { timeout: 15_000 });
    // Selectors, not string predicates: the page's CSP forbids eval, and Playwright evaluates those.
    await page.waitForSelector('[data-stream="walkway"] img[src^="data:image/jpeg"]', { timeout: 20_000 });
    await page.waitForSelector('[data-stream="walkway"] .box', { timeout: 20_000 });
    await page.waitForSelector('#events li[data-stream="walkway"]', { timeout: 30_000 });
    await page
      .locator('[data-stream="walkway"] .latency')
      .filter({ hasText: /\d+ ms/ })
      .waitFor({ timeout: 10_000 });
    expect(await card.locator('.fps').textContent()).toMatch(/^\d+\.\d fps$/);
    expect(await card.locator('.label').first().textContent()).toMatch(/person \d+%/);
    // Issue 18 §5: box labels never overlap each other and stay inside the frame.
    const frame = (await card.locator('.frame').boundingBox())!;
    // Measured in one step: a new keyframe replaces every label, so one-by-one reads could mix two keyframes.
    const labels = await card.locator('.label:visible').evaluateAll((els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return { x: r.x, y: r.y, width: r.width, height: r.height };
      }),
    );
    expect(labels.length).toBeGreaterThan(0);
    for (const [i, a] of labels.entries()) {
      expect(a.x).toBeGreaterThanOrEqual(frame.x - 0.5);
      expect(a.y).toBeGreaterThanOrEqual(frame.y - 0.5);
      expect(a.x + a.width).toBeLessThanOrEqual(frame.x + frame.width + 0.5);
      expect(a.y + a.height).toBeLessThanOrEqual(frame.y + frame.height + 0.5);
      for (const b of labels.slice(i + 1)) {
        const apart =
          a.x + a.width <= b.x + 0.5 ||
          b.x + b.width <= a.x + 0.5 ||
          a.y + a.height <= b.y + 0.5 ||
          b.y + b.height <= a.y + 0.5;
        expect(apart, JSON.stringify([a, b])).toBe(true);
      }
    }
    // Events read as sentences with a thumbnail, never raw nanosecond fields.
    const entered = page.locator('#events li[data-stream="walkway"][data-type="object.entered"]').first();
    await entered.waitFor({ timeout: 30_000 });
    expect(await entered.locator('.sentence').textContent()).toMatch(
      /^person #\d+ (entered from the (left|right|top|bottom)|appeared) at \d\d:\d\d$/,
    );
    expect(await entered.locator('img.thumb').getAttribute('src')).toMatch(/^data:image\/jpeg;base64,/);
    for (const text of await page.locator('#events li').allTextContents()) {
      expect(text).not.toMatch(/\d{7,}/);
      expect(text).not.toMatch(/PtsNs|=/);
    }
    const eventType = await page
      .locator('#events li[data-stream="walkway"]')
      .first()
      .getAttribute('data-type');
    expect(eventType).toMatch(/^[a-z]+(\.[a-z]+)+$/);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'web-live-view.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);

    // Pushed, not polled: after the page and its socket, the browser made no further requests.
    const base = new URL(service.controlUrl);
    const own = requests.filter((u) => u.startsWith(`${base.protocol}//${base.host}`));
    expect(own.filter((u) => !u.includes('/ws'))).toHaveLength(1);
  }, 90_000);

  it('a detached stream disappears from the grid', async () => {
    await fetch(`${service.controlUrl}/v1/streams/walkway`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    await page.locator('[data-stream="walkway"].card').waitFor({ state: 'detached', timeout: 10_000 });
    expect(await page.locator('#empty').isVisible()).toBe(true);
  }, 20_000);
});
