/**
 * Regression, issue 22 item 2 ("stream time restarts at each reconnect"): the analyzer's stream
 * manager with its real reconnecting ingest on a real RTSP server (gst-rtsp-server), killed and
 * restarted a few times. Keyframe stream time never goes back across the outages, windows keep
 * closing on time through them (window summaries after every outage), and every analysed keyframe
 * lands in exactly one window. The model is a stand-in (every analysis unavailable): the windows
 * are the point. (The runner once rebased each run on its own first frame: after every reconnect
 * stream time started near 0 again and no window closed for the rest of the flapping.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManager, type Manager, type ManagerSink } from '../../src/analyzer/manager.js';
import type { Summary } from '../../src/core/contracts.js';
import { fastFrameSource, sleep, until, withoutModel } from '../helpers/faults-env.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';

const OUTAGES = 3;
const WINDOW_MS = 1_000;

let rtsp: RtspServer;
let manager: Manager;
const windows: Summary[] = [];
const keyframePts: number[] = [];

beforeAll(async () => {
  rtsp = await startRtspServer({ width: 160, height: 120, fps: 15 });
  const sink: ManagerSink = {
    summary: async (s) => {
      if (s.level === 'window') windows.push(s);
    },
    event: async () => undefined,
    detections: async (_a, kf) => {
      keyframePts.push(kf.frame.ptsNs);
    },
  };
  manager = createManager({
    analyze: withoutModel,
    sink,
    frameSource: fastFrameSource(),
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
