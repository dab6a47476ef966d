/**
 * Regression, issue 22 item 2 ("stream time restarts at each reconnect"): the analyzer's stream
 * manager with its real reconnecting ingest on a real RTSP server (gst-rtsp-server), killed and
 * restarted a few times. Keyframe stream time never goes back across the outages, windows keep
 * closing on time through them (window summaries after every outage), and every analysed keyframe
 * lands in exactly one window. The model is a stand-in (every analysis unavailable): the windows
 * are the point. (The runner once rebased each run on its own first frame: after every reconnect
 * stream time started near 0 again and no window closed for the rest of the flapping.)
 *
 * And the RTSP flaps figure (summaries cover all the media delivered): with keyframes at most every
 * 2.5 s and 1 s windows, every window that received frames is published, keyframe or not, across
 * an outage (it fails on the code before: windows without a keyframe were never published).
 */
import { Observable } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManager, type Manager, type ManagerSink } from '../../src/analyzer/manager.js';
import type { Frame, Summary } from '../../src/core/contracts.js';
import { fastFrameSource, sleep, until, withoutModel } from '../helpers/faults-env.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';

const OUTAGES = 3;
const WINDOW_MS = 1_000;

let rtsp: RtspServer;
let manager: Manager;
const windows: Summary[] = [];
const keyframePts: number[] = [];
/** Every frame the source delivered, by stream (PTS as the source gave it). */
const framePts = new Map<string, number[]>();
/** Window summaries of the 'gaps' stream. */
const gapWindows: Summary[] = [];

beforeAll(async () => {
  rtsp = await startRtspServer({ width: 160, height: 120, fps: 15 });
  const sink: ManagerSink = {
    summary: async (s) => {
      if (s.level === 'window' && s.streamId === 'flap') windows.push(s);
      if (s.level === 'window' && s.streamId === 'gaps') gapWindows.push(s);
    },
    event: async () => undefined,
    detections: async (_a, kf) => {
      if (kf.frame.streamId === 'flap') keyframePts.push(kf.frame.ptsNs);
    },
  };
  const inner = fastFrameSource();
  manager = createManager({
    analyze: withoutModel,
    sink,
    frameSource: (spec, options, counters) => {
      const opened = inner(spec, options, counters);
      return {
        ...opened,
        frames: new Observable<Frame>((sub) =>
          opened.frames.subscribe({
            next: (f: Frame) => {
              const list = framePts.get(f.streamId) ?? [];
              list.push(f.ptsNs);
              framePts.set(f.streamId, list);
              sub.next(f);
            },
            error: (e: unknown) => sub.error(e),
            complete: () => sub.complete(),
          }),
        ),
      };
    },
    windowMs: WINDOW_MS,
  });
  await manager.attach({ id: 'flap', url: rtsp.url, keyframes: { maxIntervalMs: 500 } });
});

afterAll(async () => {
  await manager?.close();
  await rtsp?.stop();
});

const frames = () => manager.status('flap').counters.frames;

describe('issue 22 item 2: stream time across RTSP reconnects', () => {
  it(`stays monotonic, and windows close through ${OUTAGES} outages`, async () => {
    await until('first frames', () => frames() >= 15, 30_000);
    const windowsAfter: number[] = [];
    for (let i = 0; i < OUTAGES; i++) {
      await rtsp.kill();
      await sleep(1_500);
      const before = frames();
      await rtsp.restart();
      await until('frames again', () => frames() > before + 30, 30_000);
      // Windows that close after the outage: two window lengths of stream time after it.
      const closed = windows.length;
      await until('a window after the outage', () => windows.length > closed, 15_000);
      windowsAfter.push(windows.length - closed);
    }
    await manager.detach('flap');
    expect(windowsAfter.every((n) => n > 0)).toBe(true);
    // Stream time never goes back.
    for (let i = 1; i < keyframePts.length; i++)
      expect(keyframePts[i]!).toBeGreaterThanOrEqual(keyframePts[i - 1]!);
    // Windows are in order, and each analysed keyframe is in exactly one (tumbling windows).
    for (let i = 1; i < windows.length; i++)
      expect(windows[i]!.startPtsNs).toBeGreaterThanOrEqual(windows[i - 1]!.endPtsNs);
    const lastEnd = Math.max(...windows.map((w) => w.endPtsNs));
    const closed = keyframePts.filter((p) => p < lastEnd);
    expect(closed.length).toBeGreaterThan(OUTAGES * 2);
    for (const p of closed) {
      expect(
        windows.filter((w) => p >= w.startPtsNs && p < w.endPtsNs),
        `keyframe at ${p} ns`,
      ).toHaveLength(1);
    }
  }, 120_000);
});

describe('issue 22 RTSP flaps: every window that received frames is published', () => {
  it('covers every delivered frame, windows without a keyframe and an outage included', async () => {
    // At most one keyframe every 2.5 s with 1 s windows: most windows hold frames but no keyframe.
    await manager.attach({
      id: 'gaps',
      url: rtsp.url,
      keyframes: { minIntervalMs: 2_500, maxIntervalMs: 2_500 },
    });
    const delivered = () => framePts.get('gaps')?.length ?? 0;
    await until('first frames', () => delivered() >= 45, 30_000);
    await rtsp.kill();
    await sleep(1_500);
    const before = delivered();
    await rtsp.restart();
    await until('frames again', () => delivered() > before + 45, 30_000);
    await manager.detach('gaps');
    // Stream time starts at the first frame (the runner's base). A detach drops the window still
    // open, so frames after the last published window are not counted (as in bench/faults).
    const base = framePts.get('gaps')![0]!;
    const lastEnd = Math.max(...gapWindows.map((w) => w.endPtsNs));
    const pts = framePts.get('gaps')!.filter((p) => p - base < lastEnd);
    expect(pts.length).toBeGreaterThan(45);
    const noKeyframe = gapWindows.filter((w) => (w.facts as { keyframes: number }).keyframes === 0);
    expect(noKeyframe.length).toBeGreaterThan(0);
    expect(noKeyframe[0]!.text).toMatch(/no keyframe among them/);
    for (const p of pts) {
      const t = p - base;
      expect(
        gapWindows.filter((w) => t >= w.startPtsNs && t < w.endPtsNs),
        `frame at ${t} ns`,
      ).toHaveLength(1);
    }
  }, 120_000);
});
