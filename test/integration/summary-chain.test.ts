/**
 * The structured summary chain through the real pipeline (issue 18 item 6, issue 19 item 4): the
 * built CLI analyses samples/vtest.avi with real GStreamer decoding and the real inference server,
 * and report.json holds every summary, event and keyframe. Checked: no summary repeats its time
 * range (nor starts with one), every sentence's evidence keyframe is a published keyframe, cut
 * and entry / exit counts are equal at every level and in the event list, and no label appears in a summary that
 * no confirmed track had.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Summary, VigilEvent } from '../../src/core/contracts.js';
import { startInferenceServer, type InferenceServer } from '../../src/infer/index.js';
import { MODEL_REPO, requireFile, VTEST } from '../helpers/paths.js';
import { runCli } from '../helpers/run-cli.js';

interface Report {
  summaries: Summary[];
  events: VigilEvent[];
  keyframes: { id: string; analysed: boolean }[];
  objects: unknown[];
}

const RANGE = /\d\d:\d\d–\d\d:\d\d: /;

describe('summary chain on samples/vtest.avi', () => {
  let dir: string;
  let infer: InferenceServer | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-summary-chain-'));
    infer = await startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
      logger: { info: () => undefined, warn: () => undefined },
    });
  }, 60_000);

  afterAll(async () => {
    await infer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('no repeated prefix, evidence among published keyframes, cut counts equal across levels', async () => {
    const out = join(dir, 'report');
    const r = await runCli(
      [
        ...['analyze', requireFile(VTEST), '--name', 'walk', '--fast', '--quiet'],
        ...['--infer', `127.0.0.1:${infer!.port}`, '--window-ms', '1000', '--report', out],
      ],
      { timeoutMs: 540_000 },
    ).result;
    expect(r.timedOut, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Report;
    const published = new Set(report.keyframes.map((k) => k.id));
    const windows = report.summaries.filter((s) => s.level === 'window');
    const segments = report.summaries.filter((s) => s.level === 'segment');
    const stream = report.summaries.filter((s) => s.level === 'stream').at(-1);
    expect(windows.length).toBeGreaterThan(10);
    expect(segments.length).toBeGreaterThan(0);
    expect(stream).toBeDefined();

    let cited = 0;
    for (const s of report.summaries) {
      expect(s.text).not.toMatch(RANGE);
      expect(s.sentences?.length).toBeGreaterThan(0);
      expect(s.text).toBe(s.sentences?.map((x) => x.text).join(' '));
      for (const x of s.sentences ?? []) {
        for (const id of x.keyframeIds) expect(published.has(id), `${s.id} cites ${id}`).toBe(true);
        cited += x.keyframeIds.length;
        expect(x.startPtsNs).toBeLessThanOrEqual(x.endPtsNs);
      }
      if (s.level !== 'window') expect(s.text).not.toContain('previous window');
    }
    expect(cited).toBeGreaterThan(0);
    // The report's own lines (range + text) never repeat the range.
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).not.toMatch(/(\d\d:\d\d–\d\d:\d\d: ){2}/);

    const cutEvents = report.events.filter((e) => e.type === 'scene.cut').length;
    const sum = (xs: Summary[], key: string): number =>
      xs.reduce((n, s) => n + ((s.facts[key] as number | undefined) ?? 0), 0);
    expect(sum(windows, 'sceneCuts')).toBe(cutEvents);
    expect(sum(segments, 'sceneCuts')).toBe(cutEvents);
    expect(stream!.facts['sceneCuts']).toBe(cutEvents);
    // Entries and exits: every level counts the events (regression: windows once counted 13 of 28
    // object.entered, closed for idleness while the tracker was still sending their entries; files
    // now wait up to 60 s of wall time without progress, and the tracker's progress counts too).
    const entered = report.events.filter((e) => e.type === 'object.entered');
    const left = report.events.filter((e) => e.type === 'object.left').length;
    expect(entered.length).toBeGreaterThan(0);
    expect(sum(windows, 'entered')).toBe(entered.length);
    expect(sum(windows, 'left')).toBe(left);
    expect(sum(segments, 'entered')).toBe(entered.length);
    expect(sum(segments, 'left')).toBe(left);
    expect(stream!.facts['entered']).toBe(entered.length);
    expect(stream!.facts['left']).toBe(left);
    expect(report.objects.length).toBe(entered.length);
    // Only confirmed tracks' labels appear in any summary's counts.
    const confirmed = new Set(entered.map((e) => e.data['label'] as string));
    for (const s of report.summaries)
      for (const label of Object.keys(s.facts['peakCounts'] as Record<string, number>))
        expect(confirmed.has(label), `${s.id}: ${label}`).toBe(true);
  }, 600_000);
});
