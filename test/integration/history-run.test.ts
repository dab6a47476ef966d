/**
 * History inside the service, end to end on real components: the service (`vigil run`) with a
 * local nats-server, the local inference server and a file stream (the pedestrian clip) publishes
 * to JetStream; its history consumer fills the SQLite index; `GET /v1/search` and `POST /v1/ask`
 * find the clip's people, and every thumbnail URL they carry serves the keyframe JPEG from the
 * object store (`GET /v1/evidence/<name>`, bearer token, strict names). Then the web view's search
 * box in headless Chromium asks the same question and shows the answer with thumbnails and times.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserContext } from 'playwright-core';
import { launchChromium, type TestBrowser } from '../helpers/chromium.js';
import { parseConfig } from '../../src/config/index.js';
import { startService, type Service } from '../../src/app/service.js';
import Database from 'better-sqlite3';
import { openSqliteIndex } from '../../src/history/index.js';
import { MODEL_REPO, requireFile, ROOT, VTEST } from '../helpers/paths.js';

const TOKEN = 'history-token-12345';
const ARTIFACTS = resolve(ROOT, 'test-artifacts');

interface Hit {
  id: string;
  stream: string;
  type: string;
  startMs: number;
  labels: string[];
  keyframes: { id: string; thumbnail: string | null }[];
}

describe('history in vigil run', () => {
  let service: Service | undefined;
  let dir: string | undefined;
  let browser: BrowserContext | undefined;
  let chrome: TestBrowser | undefined;

  const api = async (method: 'GET' | 'POST', path: string, body?: unknown, token: string | null = TOKEN) => {
    const res = await fetch(`${service!.controlUrl}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return res;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-history-run-'));
    const config = parseConfig(
      `
inference: { modelRepository: ${JSON.stringify(requireFile(MODEL_REPO))} }
control: { port: 0 }
web: { enabled: true }
history: { path: ${JSON.stringify(join(dir, 'history.sqlite'))}, batchSize: 64 }
streams:
  - { id: walkway, url: ${JSON.stringify(requireFile(VTEST))}, windowMs: 5000 }
`,
      'test.yaml',
      { VIGIL_CONTROL_TOKEN: TOKEN },
    );
    expect(config.history).toMatchObject({ enabled: true, batchSize: 64 });
    service = await startService(config, () => undefined);
    // The file runs to its end (bounded wait), then the consumer catches up with JetStream.
    const deadline = Date.now() + 150_000;
    for (;;) {
      const info = (await (await api('GET', '/v1/streams/walkway')).json()) as { state: string };
      if (info.state === 'completed' || info.state === 'failed') break;
      if (Date.now() > deadline) throw new Error(`stream still ${info.state}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await service.publisher.flush(20_000);
    await service.historyCaughtUp(30_000);
  }, 200_000);

  afterAll(async () => {
    await chrome?.close();
    await service?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('indexes what the service published: events, summaries, objects and keyframes', async () => {
    const stats = await service!.history!.stats();
    expect(stats.records).toBeGreaterThan(5);
    expect(stats.keyframes).toBeGreaterThan(5);
    // Object records (core publishes, captured by the history's own stream): final ones only.
    const db = new Database(join(dir!, 'history.sqlite'), { readonly: true });
    try {
      const kinds = db.prepare('SELECT kind, count(*) AS n FROM records GROUP BY kind').all() as {
        kind: string;
        n: number;
      }[];
      expect(kinds.map((k) => k.kind)).toEqual(expect.arrayContaining(['event', 'summary', 'object']));
      const objects = db
        .prepare(`SELECT id, labels, start_ms, end_ms FROM records WHERE kind = 'object'`)
        .all() as {
        id: string;
        labels: string;
        start_ms: number;
        end_ms: number;
      }[];
      expect(objects.every((o) => JSON.parse(o.labels).length > 0 && o.end_ms >= o.start_ms)).toBe(true);
      // One record per object: `<object id>:<revision>` with a distinct object id each.
      expect(new Set(objects.map((o) => o.id.replace(/:\d+$/, ''))).size).toBe(objects.length);
    } finally {
      db.close();
    }
    // The same file, opened read-only the way `vigil search --history` does.
    const ro = await openSqliteIndex({ path: join(dir!, 'history.sqlite'), readonly: true });
    try {
      expect((await ro.stats()).records).toBe(stats.records);
    } finally {
      await ro.close();
    }
  });

  it('search finds the people with thumbnails that serve the keyframe JPEG', async () => {
    const res = await api('GET', '/v1/search?label=person&stream=walkway&limit=20');
    expect(res.status).toBe(200);
    const { hits } = (await res.json()) as { hits: Hit[] };
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((h) => h.stream === 'walkway' && h.labels.includes('person'))).toBe(true);
    const thumbs = hits.flatMap((h) => h.keyframes.flatMap((k) => (k.thumbnail ? [k.thumbnail] : [])));
    expect(thumbs.length).toBeGreaterThan(0);
    for (const t of thumbs.slice(0, 3)) {
      expect(t).toMatch(/^\/v1\/evidence\/walkway%2F/);
      const img = await api('GET', t);
      expect(img.status).toBe(200);
      expect(img.headers.get('content-type')).toBe('image/jpeg');
      const bytes = new Uint8Array(await img.arrayBuffer());
      expect([bytes[0], bytes[1]]).toEqual([0xff, 0xd8]);
    }
    // Authenticated like the rest of /v1; names validated before anything is read.
    expect((await api('GET', thumbs[0]!, undefined, null)).status).toBe(401);
    expect((await api('GET', thumbs[0]!, undefined, 'wrong-token-123')).status).toBe(401);
    for (const bad of [
      '..%2F..%2Fetc%2Fpasswd',
      'walkway%2F..%2F..%2Fx.jpg',
      'walkway%2Fa%2Fb.jpg',
      'walkway%2Fx.png',
      '%E0%A4%A',
      'a'.repeat(400),
    ]) {
      const r = await api('GET', `/v1/evidence/${bad}`);
      expect(r.status, bad).toBe(400);
      expect(await r.json()).toMatchObject({ error: { code: 'VIGIL_ERR_BAD_REQUEST' } });
    }
    const missing = await api('GET', '/v1/evidence/walkway%2Fnosuch%3A1.jpg');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'VIGIL_ERR_EVIDENCE_NOT_FOUND' } });
  });

  it('ask answers with a sentence and evidence; NATS-free bad input stays a 400', async () => {
    const res = await api('POST', '/v1/ask', { question: 'How many people were there?' });
    expect(res.status).toBe(200);
    const a = (await res.json()) as { answer: string; empty: boolean; evidence: { thumbnails: string[] }[] };
    expect(a.empty).toBe(false);
    expect(a.answer).toMatch(/people|person/);
    expect(a.evidence.length).toBeGreaterThan(0);
    expect((await api('POST', '/v1/ask', { question: '' })).status).toBe(400);
    expect((await api('GET', '/v1/search?from=0:20&to=0:10')).status).toBe(400);
  });

  it('the web view search box shows the answer with thumbnails and stream times', async () => {
    chrome = await launchChromium({ width: 1280, height: 900 });
    browser = chrome.context;
    const page = await browser.newPage();
    await page.goto(`${service!.controlUrl}/?token=${TOKEN}`);
    await page.fill('#q', 'when did people appear?');
    await page.click('#ask button');
    await page.waitForSelector('#answer[data-state="answered"]', { timeout: 20_000 });
    expect(await page.locator('#answer .sentence').textContent()).toMatch(/\S/);
    const first = page.locator('#answer li.evidence').first();
    await first.waitFor({ timeout: 5_000 });
    expect(await first.getAttribute('data-stream')).toBe('walkway');
    expect(await first.locator('.when').textContent()).toMatch(/^walkway \d+:\d\d/);
    // The thumbnail was fetched with the token and shown from a blob: URL, and it decoded.
    await page.waitForSelector('#answer li.evidence img[src^="blob:"]', { timeout: 10_000 });
    const img = page.locator('#answer li.evidence img[src^="blob:"]').first();
    await expect
      .poll(() => img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth))
      .toBeGreaterThan(0);

    // A question that finds nothing is an answer too.
    await page.fill('#q', 'when did a giraffe enter?');
    await page.click('#ask button');
    await page.waitForSelector('#answer[data-empty="true"][data-state="answered"]', { timeout: 20_000 });
    expect(await page.locator('#answer .sentence').textContent()).toMatch(/^Nothing found/);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'web-search.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(5_000);
  }, 60_000);
});
