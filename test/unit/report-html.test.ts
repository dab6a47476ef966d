import { describe, expect, it } from 'vitest';
import type { ObjectRecord, VigilEvent } from '../../src/core/contracts.js';
import { ReportBuilder } from '../../src/cli/report.js';
import { escapeHtml, renderHtml } from '../../src/cli/report-html.js';
import { JpegCache } from '../../src/publish/evidence.js';
import { describeEvent } from '../../src/web/sentences.js';
import { sampleAnalysis, sampleEvent, sampleKeyframe, sampleSummary } from '../helpers/messages.js';

const ev = (type: string, data: Record<string, unknown>, ptsNs = 42e9): VigilEvent => ({
  ...sampleEvent('cam', 0),
  type,
  ptsNs,
  data,
});

describe('events as sentences', () => {
  it('says who, what, where and when in player time, never raw nanoseconds', () => {
    expect(
      describeEvent(
        ev('object.entered', { trackId: 12, label: 'person', entryEdge: 'left', firstSeenPtsNs: 69e9 }),
      ),
    ).toBe('person #12 entered from the left at 01:09');
    expect(
      describeEvent(
        ev('object.entered', { trackId: 3, label: 'car', entryEdge: 'none', firstSeenPtsNs: 1e9 }),
      ),
    ).toBe('car #3 appeared at 00:01');
    expect(
      describeEvent(
        ev('object.left', {
          trackId: 12,
          label: 'person',
          exitEdge: 'right',
          lastSeenPtsNs: 74e9,
          dwellMs: 5200,
        }),
      ),
    ).toBe('person #12 left to the right at 01:14 after 5 s');
    expect(
      describeEvent(
        ev('object.left', {
          trackId: 1,
          label: 'dog',
          exitEdge: 'none',
          lastSeenPtsNs: 3e9,
          dwellMs: 65_000,
        }),
      ),
    ).toBe('dog #1 was last seen at 00:03 after 1 min 05 s');
    expect(describeEvent(ev('scene.cut', { kind: 'cut' }))).toBe('scene cut at 00:42');
    expect(describeEvent(ev('scene.cut', { kind: 'dissolve' }))).toBe('scene change (dissolve) at 00:42');
    expect(describeEvent(ev('count.changed', { label: 'person', from: 2, to: 3 }))).toBe(
      'person count went from 2 to 3 at 00:42',
    );
    expect(describeEvent(ev('alert.door', {}))).toBe('alert "door" at 00:42');
    expect(describeEvent(ev('alert.door.rejected', {}))).toBe('alert "door" (rejected on review) at 00:42');
    for (const t of ['motion.started', 'text.appeared', 'stream.down', 'made.up'])
      expect(describeEvent(ev(t, { startPtsNs: 123456789012 }))).not.toMatch(/\d{7,}/);
  });
});

describe('report.html', () => {
  const hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&';

  function build() {
    const b = new ReportBuilder();
    const jpegs = new JpegCache();
    const kf = sampleKeyframe('cam', 1, 128, 72);
    const plain = jpegs.put(kf)!;
    b.addKeyframe(kf, sampleAnalysis(kf));
    b.addTracked(
      {
        streamId: 'cam',
        keyframeId: kf.id,
        ptsNs: kf.frame.ptsNs,
        sourceWidth: kf.frame.sourceWidth,
        sourceHeight: kf.frame.sourceHeight,
        tracks: [{ trackId: 7, label: hostile, box: { x: 10, y: 5, w: 20, h: 20 }, score: 0.9 }],
      },
      plain,
    );
    const record: ObjectRecord = {
      id: 'cam:object:7',
      streamId: 'cam',
      trackId: 7,
      label: hostile,
      revision: 0,
      final: true,
      reason: 'lost',
      startPtsNs: 1e9,
      endPtsNs: 6e9,
      startTimeMs: 0,
      endTimeMs: 5000,
      dwellMs: 5000,
      hits: 9,
      peakScore: 0.9,
      medianScore: 0.8,
      best: { keyframeId: kf.id, ptsNs: kf.frame.ptsNs, box: { x: 10, y: 5, w: 20, h: 20 }, score: 0.9 },
      entryEdge: 'left',
      exitEdge: 'right',
      zones: [],
      path: [],
    };
    b.addObject(record, plain);
    b.addEvent(ev('text.appeared', { text: hostile }), plain);
    b.addSummary({ ...sampleSummary('cam', 0), text: hostile });
    return b.build({
      streamId: 'cam',
      source: hostile,
      startedAt: 'now',
      wallSeconds: 1,
      mediaSeconds: 6,
      counters: {},
    });
  }

  it('lists objects with crops and annotated snapshots in report.json', () => {
    const r = build();
    expect(r.objects).toHaveLength(1);
    expect(r.objects[0]!.crop).toMatch(/^evidence\/.*\.track-7\.jpg$/);
    expect(r.objects[0]!.snapshot).toMatch(/^evidence\/.*\.boxes\.jpg$/);
    expect(r.objects[0]!.start).toBe('00:01');
    expect(r.annotated).toHaveLength(1);
  });

  it('escapes every piece of stream, model and user text; no script, no remote URL', () => {
    const html = renderHtml(build());
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain(escapeHtml(hostile));
    expect(html).not.toMatch(/(src|href)="(https?:|\/\/)/);
    for (const id of ['timeline', 'thumbnails', 'objects', 'events', 'summaries'])
      expect(html).toContain(`id="${id}"`);
  });
});
