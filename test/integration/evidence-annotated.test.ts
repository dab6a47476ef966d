/**
 * Evidence a person reads (issue 18 §5), through the real pipeline: the built CLI analyses 8 s of
 * the pedestrian clip with the real inference server and publishes to a real nats-server.
 *  - Object records name an annotated snapshot and a best-box crop in the object store; both are
 *    there and decode, and the snapshot has the track's colour along its box's edges.
 *  - report.json lists the objects with their crops and the annotated snapshots, whose files exist.
 *  - report.html opens from disk in real Chromium (Debian's, through playwright-core) with its
 *    sections and images, and makes no network request; hostile text is shown, never run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { type BrowserContext } from 'playwright-core';
import { launchChromium, type TestBrowser } from '../helpers/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectRecord, Summary, VigilEvent } from '../../src/core/contracts.js';
import { startInferenceServer, type InferenceServer } from '../../src/infer/index.js';
import { decodeJpeg, scaleBox, trackColor } from '../../src/publish/annotate.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { validateMessage } from '../../src/publish/schemas.js';
import { renderHtml } from '../../src/cli/report-html.js';
import type { AnalysisReport } from '../../src/cli/report.js';
import { MODEL_REPO, requireFile, VTEST } from '../helpers/paths.js';
import { runCli } from '../helpers/run-cli.js';

type Ref = { bucket: string; name: string; contentType: string } | null;
type Published = ObjectRecord & { evidence?: { snapshot: Ref; crop: Ref } };

/** Share of the pixels along a box's edges (1 px inside) within `tol` of colour `c`. */
function edgeShare(
  img: ReturnType<typeof decodeJpeg>,
  box: { x: number; y: number; w: number; h: number },
  c: readonly number[],
  tol = 90,
) {
  const x0 = Math.round(box.x) + 1;
  const y0 = Math.round(box.y) + 1;
  const x1 = Math.round(box.x + box.w) - 2;
  const y1 = Math.round(box.y + box.h) - 2;
  let n = 0;
  let hit = 0;
  const at = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
    const i = (y * img.width + x) * 3;
    const d =
      Math.abs(img.data[i]! - c[0]!) +
      Math.abs(img.data[i + 1]! - c[1]!) +
      Math.abs(img.data[i + 2]! - c[2]!);
    n++;
    if (d <= tol) hit++;
  };
  for (let y = y0 + 2; y <= y1 - 2; y++) {
    at(x0, y);
    at(x1, y);
  }
  return n === 0 ? 0 : hit / n;
}

describe('annotated evidence and report.html through the real pipeline', () => {
  let dir: string;
  let clip: string;
  let nats: LocalNatsServer | undefined;
  let infer: InferenceServer | undefined;
  let nc: NatsConnection | undefined;
  let browser: BrowserContext | undefined;
  let chrome: TestBrowser | undefined;
  const records: Published[] = [];
  const keyframes = new Map<string, { sourceWidth: number; sourceHeight: number }>();
  let out: string;
  let stderr = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-evidence-'));
    clip = join(dir, 'walk.avi');
    execFileSync('ffmpeg', ['-v', 'error', '-t', '8', '-i', requireFile(VTEST), '-c', 'copy', clip]);
    nats = await startNatsServer();
    infer = await startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
      logger: { info: () => undefined, warn: () => undefined },
    });
    nc = await connect({ servers: nats.url });
    nc.subscribe('vigil.walk.object', {
      callback: (err, msg) => {
        if (err || records.length > 10_000) return;
        const body = msg.json<{ data: Published }>();
        expect(validateMessage('object', body)).toBeNull();
        records.push(body.data);
      },
    });
    nc.subscribe('vigil.walk.keyframe', {
      callback: (err, msg) => {
        if (err) return;
        const d = msg.json<{ data: { keyframeId: string; sourceWidth: number; sourceHeight: number } }>()
          .data;
        keyframes.set(d.keyframeId, d);
      },
    });
    out = join(dir, 'report');
    const r = await runCli(
      ['analyze', clip, '--nats', nats.url, '--infer', `127.0.0.1:${infer.port}`, '--report', out, '--quiet'],
      { timeoutMs: 150_000 },
    ).result;
    stderr = r.stderr;
    expect(r.code, r.stderr).toBe(0);
    await nc.flush();
  }, 200_000);

  afterAll(async () => {
    await chrome?.close();
    await nc?.close().catch(() => undefined);
    await infer?.close();
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('object records name an annotated snapshot and a crop in the object store; the snapshot has the box colour at the box edge', async () => {
    const finals = records.filter((r) => r.final && r.evidence?.snapshot && r.evidence?.crop);
    expect(finals.length, stderr).toBeGreaterThan(0);
    const os = await new Objm(nc!).open('vigil-evidence');
    const shares: number[] = [];
    for (const r of finals) {
      const snap = await os.getBlob(r.evidence!.snapshot!.name);
      const crop = await os.getBlob(r.evidence!.crop!.name);
      expect(snap, r.evidence!.snapshot!.name).not.toBeNull();
      expect(crop, r.evidence!.crop!.name).not.toBeNull();
      const img = decodeJpeg(snap!);
      expect(decodeJpeg(crop!).height).toBeGreaterThan(0);
      const kf = keyframes.get(r.best!.keyframeId)!;
      const box = scaleBox(r.best!.box, kf.sourceWidth, kf.sourceHeight, img.width, img.height);
      shares.push(edgeShare(img, box, trackColor(r.trackId)));
    }
    // Another track's box or label may cross an edge; most of the edge is the track's colour.
    shares.sort((a, b) => a - b);
    if (process.env.VIGIL_TEST_PRINT) console.log(`edge colour shares: ${JSON.stringify(shares)}`);
    expect(shares[Math.floor(shares.length / 2)], JSON.stringify(shares)).toBeGreaterThan(0.6);
    // The plain evidence JPEG has no box: the same test on it finds (almost) none of the colour.
    const r0 = finals[0]!;
    const plain = await os.getBlob(r0.evidence!.snapshot!.name.replace(/\.boxes\.jpg$/, '.jpg'));
    if (plain) {
      const img = decodeJpeg(plain);
      const kf = keyframes.get(r0.best!.keyframeId)!;
      const box = scaleBox(r0.best!.box, kf.sourceWidth, kf.sourceHeight, img.width, img.height);
      expect(edgeShare(img, box, trackColor(r0.trackId))).toBeLessThan(0.2);
    }
  });

  it('report.json lists the objects with crops and the annotated snapshots; the files exist', () => {
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as AnalysisReport;
    expect(report.objects.length).toBeGreaterThan(0);
    expect(report.annotated.length).toBeGreaterThan(0);
    for (const o of report.objects) {
      expect(o.start).toMatch(/^\d\d:\d\d$/);
      if (o.crop) expect(existsSync(join(out, o.crop)), o.crop).toBe(true);
      if (o.snapshot) expect(existsSync(join(out, o.snapshot)), o.snapshot).toBe(true);
    }
    expect(report.objects.filter((o) => o.crop !== null).length).toBeGreaterThan(0);
    for (const a of report.annotated) expect(existsSync(join(out, a.file)), a.file).toBe(true);
  });

  it('report.html opens from disk in Chromium with its sections and images, and no network request', async () => {
    // A second report with hostile text in a label, a summary and an OCR string.
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as AnalysisReport;
    const hostile = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>';
    const evil: AnalysisReport = {
      ...report,
      summaries: [{ ...(report.summaries[0] as Summary), text: `summary ${hostile}` }],
      objects: report.objects.slice(0, 1).map((o) => ({ ...o, label: `label ${hostile}` })),
      events: [
        {
          ...(report.events[0] as VigilEvent),
          type: 'text.appeared',
          data: { text: `ocr ${hostile}` },
          evidenceImage: null,
        },
      ],
    };
    const evilDir = join(dir, 'evil');
    mkdirSync(evilDir, { recursive: true });
    writeFileSync(join(evilDir, 'report.html'), renderHtml(evil));

    chrome = await launchChromium({ width: 1280, height: 900 });
    browser = chrome.context;
    const requests: string[] = [];
    browser.on('request', (r) => requests.push(r.url()));
    const page = await browser.newPage();

    await page.goto(pathToFileURL(join(out, 'report.html')).href);
    for (const id of ['timeline', 'thumbnails', 'objects', 'events', 'summaries'])
      expect(await page.locator(`#${id}`).count(), id).toBe(1);
    expect(await page.locator('#timeline .lane.kf .mark').count()).toBe(report.keyframes.length);
    expect(await page.locator('#objects tbody tr').count()).toBe(report.objects.length);
    expect(await page.locator('#summaries tbody tr').count()).toBe(report.summaries.length);
    const sentences = await page.locator('#events .sentence').allTextContents();
    expect(sentences.length).toBe(report.events.length);
    for (const s of sentences) expect(s).not.toMatch(/\d{7,}|PtsNs/);
    // The images load from the files next to the page.
    const crop = page.locator('#objects img.crop').first();
    await crop.scrollIntoViewIfNeeded();
    const naturalWidth = () => crop.evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth);
    for (let i = 0; i < 100 && (await naturalWidth()) === 0; i++) await page.waitForTimeout(100);
    expect(await naturalWidth()).toBeGreaterThan(0);

    await page.goto(pathToFileURL(join(evilDir, 'report.html')).href);
    expect(await page.title()).not.toBe('pwned');
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.locator('#summaries tbody').textContent()).toContain(
      '<script>document.title="pwned"</script>',
    );
    expect(await page.locator('#objects tbody').textContent()).toContain('label <img src=x');
    expect(await page.locator('#events .sentence').first().textContent()).toContain('ocr <img src=x');
    expect(await page.locator('img[src="x"]').count()).toBe(0);

    // Only the two pages and their own files: nothing from the network.
    expect(requests.length).toBeGreaterThan(2);
    for (const u of requests) expect(u.startsWith('file://'), u).toBe(true);
  }, 60_000);
});
