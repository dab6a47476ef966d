/**
 * Fault figures (#22): the analyzer's stream manager with its real reconnecting ingest (test-sized
 * backoff and watchdog, as the fault tests use), a real RTSP server (gst-rtsp-server) and a real
 * nats-server with JetStream, all on loopback.
 *
 *   RTSP flaps: 20 kills with random 1-5 s outages, then one 15 s freeze (SIGSTOP). Per outage:
 *     recovered or not, time from the server's return to the first frame. Afterwards: which share
 *     of the delivered frames' stream time the window summaries cover, and how many analysed
 *     keyframes fall in no window.
 *   NATS restarts: a stream publishes window summaries (JetStream, acked) while nats-server is
 *     stopped and started again 3 times (same port and store); then every summary the manager
 *     handed over is looked up in JetStream: lost and duplicated.
 *
 *   npx tsx bench/faults/run.ts            # both, then the churn figures (bench/faults/churn.ts)
 */
import { Observable } from 'rxjs';
import { createManager, type ManagerSink } from '../../src/analyzer/manager.js';
import type { Frame, Summary } from '../../src/core/contracts.js';
import { createPublisher } from '../../src/publish/nats-publisher.js';
import { startNatsServer } from '../../src/publish/nats-server.js';
import { fastFrameSource, jetstreamContents, sleep, withoutModel } from '../../test/helpers/faults-env.js';
import { startRtspServer } from '../../test/helpers/rtsp-server.js';

const waitFor = async (what: string, cond: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
};

export interface FlapFigures {
  outages: number;
  recovered: number;
  ttffMs: number[];
  freezeRecovered: boolean;
  freezeTtffMs: number | null;
  windows: number;
  framesDelivered: number;
  framesCovered: number;
  framesAfterLastWindow: number;
  keyframes: number;
  keyframesInNoWindow: number;
}

export async function rtspFlaps(
  kills: number,
  freezeMs: number,
  log: (l: string) => void,
): Promise<FlapFigures> {
  const [nats, rtsp] = await Promise.all([
    startNatsServer(),
    startRtspServer({ width: 160, height: 120, fps: 15 }),
  ]);
  const publisher = await createPublisher({ servers: nats.url, evidence: false, ackTimeoutMs: 1_000 });
  const framePts: number[] = [];
  const windows: Summary[] = [];
  const keyframePts: number[] = [];
  const inner = fastFrameSource();
  const sink: ManagerSink = {
    summary: async (s) => {
      if (s.level === 'window') windows.push(s);
      await publisher.summary(s);
    },
    event: (e) => publisher.event(e),
    detections: async (a, kf) => {
      keyframePts.push(kf.frame.ptsNs);
      await publisher.detections(a, kf);
    },
  };
  const manager = createManager({
    analyze: withoutModel,
    sink,
    windowMs: 2_000,
    frameSource: (spec, options, counters) => {
      const opened = inner(spec, options, counters);
      return {
        ...opened,
        frames: new Observable<Frame>((sub) =>
          opened.frames.subscribe({
            next: (f: Frame) => {
              framePts.push(f.ptsNs);
              sub.next(f);
            },
            error: (e: unknown) => sub.error(e),
            complete: () => sub.complete(),
          }),
        ),
      };
    },
  });
  const frames = () => framePts.length;
  const fig: FlapFigures = {
    outages: kills,
    recovered: 0,
    ttffMs: [],
    freezeRecovered: false,
    freezeTtffMs: null,
    windows: 0,
    framesDelivered: 0,
    framesCovered: 0,
    framesAfterLastWindow: 0,
    keyframes: 0,
    keyframesInNoWindow: 0,
  };
  try {
    await manager.attach({ id: 'flap', url: rtsp.url, keyframes: { maxIntervalMs: 1_000 } });
    if (!(await waitFor('first frames', () => frames() >= 10, 30_000))) throw new Error('no frames at start');
    for (let i = 1; i <= kills; i++) {
      await rtsp.kill();
      const outageMs = 1_000 + Math.round(Math.random() * 4_000);
      await sleep(outageMs);
      const before = frames();
      await rtsp.restart();
      const back = Date.now();
      const ok = await waitFor('frames again', () => frames() > before, 30_000);
      if (ok) {
        fig.recovered++;
        fig.ttffMs.push(Date.now() - back);
      }
      log(
        `  kill ${i}: outage ${outageMs} ms, ${ok ? `first frame ${Date.now() - back} ms after the server returned` : 'NOT recovered in 30 s'}`,
      );
      await waitFor('a few frames', () => frames() > before + 15, 10_000);
    }
    const before = frames();
    rtsp.hang();
    await sleep(freezeMs);
    rtsp.resume();
    const back = Date.now();
    fig.freezeRecovered = await waitFor('frames after the freeze', () => frames() > before, 30_000);
    if (fig.freezeRecovered) fig.freezeTtffMs = Date.now() - back;
    log(
      `  freeze ${freezeMs} ms: ${fig.freezeRecovered ? `first frame ${fig.freezeTtffMs} ms after SIGCONT` : 'NOT recovered'}`,
    );
    // Two more windows of stream time so the last outage's windows close.
    await sleep(5_000);
    await manager.detach('flap');
    await publisher.flush(10_000);
  } finally {
    await manager.close();
    await publisher.close();
    await rtsp.stop();
    await nats.stop();
  }
  // Windows and keyframes are in stream time, which starts at the first frame (the runner rebases
  // it, src/analyzer/stream-time.ts); the frames here were taken before that.
  const base = framePts[0] ?? 0;
  for (let i = 0; i < framePts.length; i++) framePts[i] = framePts[i]! - base;
  const inWindow = (pts: number) => windows.some((w) => pts >= w.startPtsNs && pts < w.endPtsNs);
  const lastEnd = Math.max(...windows.map((w) => w.endPtsNs));
  fig.windows = windows.length;
  const closed = framePts.filter((p) => p < lastEnd);
  fig.framesDelivered = closed.length;
  fig.framesCovered = closed.filter(inWindow).length;
  fig.framesAfterLastWindow = framePts.length - closed.length;
  const kfClosed = keyframePts.filter((p) => p < lastEnd);
  fig.keyframes = kfClosed.length;
  fig.keyframesInNoWindow = kfClosed.filter((p) => !inWindow(p)).length;
  return fig;
}

export interface NatsFigures {
  restarts: number;
  handedOver: number;
  stored: number;
  lost: number;
  duplicated: number;
}

export async function natsRestarts(restarts: number, log: (l: string) => void): Promise<NatsFigures> {
  let nats = await startNatsServer();
  const { port, storeDir } = nats;
  const publisher = await createPublisher({ servers: nats.url, evidence: false, ackTimeoutMs: 1_000 });
  const ids: string[] = [];
  const sink: ManagerSink = {
    summary: async (s) => {
      ids.push(s.id);
      await publisher.summary(s);
    },
    event: async (e) => {
      ids.push(e.id);
      await publisher.event(e);
    },
  };
  const manager = createManager({
    analyze: withoutModel,
    sink,
    windowMs: 500,
    frameSource: fastFrameSource(),
  });
  let fig: NatsFigures;
  try {
    // A keyframe every 250 ms: windows (500 ms) close all the time, so there is traffic through each restart.
    await manager.attach({
      id: 'pub',
      url: 'test:ball?width=160&height=120&fps=15',
      keyframes: { minIntervalMs: 100, maxIntervalMs: 250 },
    });
    await sleep(3_000);
    for (let i = 1; i <= restarts; i++) {
      await nats.stop({ keepStore: true });
      const down = ids.length;
      await sleep(3_000);
      nats = await startNatsServer({ port, storeDir });
      log(`  restart ${i}: ${ids.length - down} messages handed over while NATS was down`);
      await sleep(3_000);
    }
    await manager.detach('pub');
    await publisher.flush(20_000);
    const stored = await jetstreamContents(nats.url);
    const storedIds = new Set(stored.ids);
    fig = {
      restarts,
      handedOver: ids.length,
      stored: stored.ids.length,
      lost: ids.filter((id) => !storedIds.has(id)).length,
      duplicated: stored.ids.length - storedIds.size,
    };
  } finally {
    await manager.close();
    await publisher.close();
    await nats.stop();
  }
  return fig;
}
