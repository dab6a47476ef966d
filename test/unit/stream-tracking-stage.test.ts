import { firstValueFrom, from, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { DetectScheduler } from '../../src/analyzer/detect-scheduler.js';
import { rebaseStreamTime } from '../../src/analyzer/stream-time.js';
import { TrackingStage, type TrackingCounters } from '../../src/analyzer/tracking-stage.js';
import type { Detection, Frame, Keyframe, ObjectRecord, VigilEvent } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import { CadenceGate } from '../../src/stream/cadence.js';
import { validateTrackOptions } from '../../src/stream/track-options.js';
import type { TrackedKeyframe, TrackerOptions } from '../../src/stream/tracker.js';
import { schemaValidator } from '../../src/publish/schemas.js';
import { envelope } from '../../src/publish/cloudevents.js';
import { analysedKeyframe } from '../helpers/analysed.js';

/** A frame at ptsMs whose 8x8 gray picture is `level` everywhere (motion = a change of level). */
function frame(seq: number, ptsMs: number, level = 0): Frame {
  const gray = { width: 8, height: 8, format: 'GRAY8' as const, data: new Uint8Array(64).fill(level) };
  return {
    streamId: 'cam',
    seq,
    ptsNs: ptsMs * 1e6,
    captureTimeMs: 1_700_000_000_000 + ptsMs,
    sourceWidth: 1000,
    sourceHeight: 500,
    analysis: gray,
    model: { width: 1, height: 1, format: 'RGB', data: new Uint8Array(3) },
  };
}

describe('track options', () => {
  const labels = ['person', 'car', 'dog'];
  it('resolves defaults and per-class settings', () => {
    const r = validateTrackOptions(
      { detect: { fps: 4 }, objects: { person: { threshold: 0.6 }, car: null }, track: { maxLostMs: 1000 } },
      { knownLabels: labels, sourceFps: 25 },
    );
    expect(r.detect).toEqual({ fps: 4, maxQueue: 2, motionThreshold: 0.004 });
    expect(r.tracker).toMatchObject({
      maxLostMs: 1000,
      maxLostDetections: 5,
      maxLostLimitMs: 6000,
      reacquireGrowth: 0.5,
      minHits: 3,
      labels: ['person', 'car'],
      classes: { person: { threshold: 0.6 }, car: {} },
    });
    expect(r.exitDeadlineMs).toBe(500);
    expect(validateTrackOptions({ track: { exitDeadlineMs: 0 } }).exitDeadlineMs).toBe(0);
    expect(validateTrackOptions({ objects: ['dog'] }, { knownLabels: labels }).tracker.labels).toEqual([
      'dog',
    ]);
  });

  it('names the key in a typed config error', () => {
    const bad: [unknown, RegExp][] = [
      [{ detect: { fps: 0 } }, /^detect\.fps/],
      [{ detect: { fps: -2 } }, /^detect\.fps/],
      [{ detect: { fps: 30 } }, /^detect\.fps must be .*<= 25 \(the source frame rate\)/],
      [{ objects: ['unicorn'] }, /^objects\.unicorn: unknown class name/],
      [{ objects: { person: { threshold: 1.2 } } }, /objects\.person: threshold/],
      [{ objects: { person: { minScore: -0.1 } } }, /objects\.person: minScore/],
      [{ track: { threshold: 2 } }, /track: threshold/],
      [{ track: { maxLost: 5 } }, /track: unknown option 'maxLost'/],
      [{ track: { exitDeadlineMs: -1 } }, /track: exitDeadlineMs/],
      [{ track: { maxLostDetections: 1.5 } }, /track: maxLostDetections/],
      [{ track: { maxLostLimitMs: -1 } }, /track: maxLostLimitMs/],
      [{ track: { reacquireGrowth: 'fast' } }, /track: reacquireGrowth/],
      [{ objects: [] }, /objects: must name/],
    ];
    for (const [input, re] of bad) {
      expect(() => validateTrackOptions(input as never, { knownLabels: labels, sourceFps: 25 })).toThrow(
        ConfigError,
      );
      expect(() => validateTrackOptions(input as never, { knownLabels: labels, sourceFps: 25 })).toThrow(re);
    }
  });
});

describe('CadenceGate', () => {
  it('detects at fps while there is motion, and nothing in a static scene', () => {
    const gate = new CadenceGate({ fps: 5, motionThreshold: 0.01 });
    gate.keyframe(frame(0, 0, 0));
    // 25 fps: a static second, then a moving second (the level changes every frame).
    const picked: number[] = [];
    for (let i = 1; i < 50; i++) {
      const f = frame(i, i * 40, i < 25 ? 0 : (i * 37) % 256);
      if (gate.pick(f, false)) picked.push(i);
    }
    expect(picked.filter((i) => i < 25)).toEqual([]);
    expect(picked).toEqual([25, 30, 35, 40, 45]);
  });

  it('keeps detecting while the tracker waits for an exit, even without motion', () => {
    const gate = new CadenceGate({ fps: 5, motionThreshold: 0.01 });
    gate.keyframe(frame(0, 0));
    const picked = [5, 10, 15].filter((i) => gate.pick(frame(i, i * 40), true));
    expect(picked).toEqual([5, 10, 15]);
  });
});

describe('player time', () => {
  it('the first frame is 0, later ones keep their spacing', async () => {
    const frames = [frame(0, 80), frame(1, 120), frame(2, 160)];
    const out = await firstValueFrom(from(frames).pipe(rebaseStreamTime(), toArray()));
    expect(out.map((f) => f.ptsNs / 1e6)).toEqual([0, 40, 80]);
  });

  // Regression, issue 22 item 2 ("stream time restarts at each reconnect"): the source's later runs
  // come already offset past the last one (StreamSource); rebasing each run on its own first frame
  // started time near 0 again after every reconnect, and windows stopped closing (the fault bench
  // saw 2 windows in 2 minutes of RTSP flaps).
  it('issue 22 item 2: stream time stays monotonic across runs (only the first frame sets the base)', async () => {
    const frames = [frame(0, 80), frame(1, 120), frame(2, 160)];
    const later = [
      { ...frame(3, 5000), runId: 1 },
      { ...frame(4, 5040), runId: 1 },
    ];
    const out = await firstValueFrom(from([...frames, ...later]).pipe(rebaseStreamTime(), toArray()));
    expect(out.map((f) => f.ptsNs / 1e6)).toEqual([0, 40, 80, 4920, 4960]);
  });
});

describe('TrackingStage', () => {
  const person = (x: number, score = 0.9): Detection => ({
    label: 'person',
    classId: 0,
    score,
    box: { x, y: 100, w: 60, h: 120 },
  });
  const counters = (): TrackingCounters => ({
    cadenceDetections: 0,
    detectDropped: 0,
    detectFailed: 0,
    detectStale: 0,
  });

  it('tracks on keyframes and cadence frames in frame order; unconfirmed objects appear nowhere', async () => {
    const scheduler = new DetectScheduler({ ratePerS: 0, maxInFlight: 4 });
    const c = counters();
    // Cadence detections answer out of order (later frames first): the stage restores the order.
    const pending: { at: number; resolve: () => void }[] = [];
    const stage = new TrackingStage({
      streamId: 'cam',
      runId: 'r1',
      tracker: { maxLostMs: 600 },
      cadence: {
        options: { fps: 5, maxQueue: 10, motionThreshold: 0 },
        lane: scheduler.open('cam', 10),
        detect: (f) =>
          new Promise<Detection[]>((resolve) => {
            const t = f.ptsNs / 1e6;
            // A person walking right until 1.4 s; a one-off "dog" at 0.25 at 0.4 s.
            const dets = t <= 1400 ? [person(100 + t / 4)] : [];
            if (t === 400)
              dets.push({ label: 'dog', classId: 16, score: 0.3, box: { x: 800, y: 50, w: 40, h: 40 } });
            pending.push({ at: t, resolve: () => resolve(dets) });
          }),
      },
      counters: c,
    });
    const tracked: TrackedKeyframe[] = [];
    const events: VigilEvent[] = [];
    const records: ObjectRecord[] = [];
    stage.tracked$.subscribe((k) => tracked.push(k));
    stage.events$.subscribe((e) => events.push(e));
    stage.records$.subscribe((r) => records.push(r));
    let done = false;
    stage.tracked$.subscribe({ complete: () => (done = true) });
    // 25 fps for 3 s; keyframes at 0 and 2 s.
    const keyframes: Keyframe[] = [];
    for (let i = 0; i < 75; i++) {
      const f = frame(i, i * 40, (i * 31) % 256);
      if (i === 0 || i === 50) {
        const kf = analysedKeyframe(i, i * 40, {
          detections:
            i === 0
              ? [person(100), { label: 'dog', classId: 16, score: 0.3, box: { x: 800, y: 50, w: 40, h: 40 } }]
              : [],
          sourceWidth: 1000,
          sourceHeight: 500,
        });
        keyframes.push(kf.keyframe);
        stage.keyframeSelected(kf.keyframe);
        stage.analysed(kf);
      } else stage.passedOver(f);
    }
    stage.keyframesComplete();
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    // Answer in reverse order, as they come (at most 4 in flight).
    let answered = 0;
    for (let round = 0; round < 20 && !done; round++) {
      const batch = pending.slice(answered);
      answered = pending.length;
      for (const p of batch.reverse()) p.resolve();
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
    expect(done).toBe(true);
    expect(c.cadenceDetections).toBe(pending.length);
    expect(pending.length).toBe(13); // every 200 ms over 3 s, less the two keyframes
    // One person, entered at its third sighting (0.4 s), left after its last one (1.4 s) once unseen
    // for maxLostMs (600) and 5 missed detections (1.6 ... 2.4 s): an effective maxLost of 1000 ms.
    expect(events.map((e) => `${e.type}@${e.ptsNs / 1e6}`)).toEqual([
      'object.entered@400',
      // The first frame past 1.4 s + 1000 ms (an undetected frame: the exit does not wait for a detection).
      'object.left@2440',
    ]);
    expect(events[1]?.data).toMatchObject({
      trackId: 1,
      label: 'person',
      lastSeenPtsNs: 1400e6,
      exitEdge: 'none',
      maxLostMs: 1000,
    });
    // Keyframes: the first before confirmation (no detections counted), the dog never counts.
    expect(tracked.map((k) => k.analysis?.detections.map((d) => d.label))).toEqual([[], []]);
    expect(JSON.stringify(events)).not.toContain('dog');
    expect(JSON.stringify(records)).not.toContain('dog');
    // Records: the first at confirmation, an update 2 s later (updateMs, the track still alive at
    // 2.4 s), the final one with the best keyframe (the first keyframe).
    expect(records.map((r) => [r.revision, r.final])).toEqual([
      [0, false],
      [1, false],
      [2, true],
    ]);
    const final = records[2]!;
    expect(final).toMatchObject({
      label: 'person',
      reason: 'lost',
      maxLostMs: 1000,
      best: { keyframeId: 'cam:0' },
      exitEdge: 'none',
    });
    const valid = schemaValidator('object');
    expect(valid(envelope('object', 'cam', final.id, final.endTimeMs, final))).toBe(true);
    stage.close();
    stage.close();
    scheduler.close();
  });
});

describe('TrackingStage: progress for the windows', () => {
  it('tells each settled step (results and ticks) before the next keyframe, and completes with the stage', async () => {
    const scheduler = new DetectScheduler({ ratePerS: 0, maxInFlight: 1 });
    const stage = new TrackingStage({
      streamId: 'cam',
      runId: 'r1',
      tracker: {},
      cadence: {
        options: { fps: 5, maxQueue: 10, motionThreshold: 0 },
        lane: scheduler.open('cam', 10),
        detect: () => Promise.resolve([]),
      },
      counters: { cadenceDetections: 0, detectDropped: 0, detectFailed: 0, detectStale: 0 },
    });
    const seen: string[] = [];
    let completed = false;
    stage.progress$.subscribe({ next: () => seen.push('p'), complete: () => (completed = true) });
    stage.tracked$.subscribe((k) => seen.push(`kf@${k.keyframe.frame.ptsNs / 1e6}`));
    const kf0 = analysedKeyframe(0, 0, { detections: [], sourceWidth: 1000, sourceHeight: 500 });
    stage.keyframeSelected(kf0.keyframe);
    stage.analysed(kf0);
    for (let i = 1; i < 25; i++) stage.passedOver(frame(i, i * 40, (i * 31) % 256));
    const kf1 = analysedKeyframe(25, 1000, { detections: [], sourceWidth: 1000, sourceHeight: 500 });
    stage.keyframeSelected(kf1.keyframe);
    stage.keyframesComplete();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    stage.analysed(kf1);
    expect(seen[0]).toBe('kf@0');
    expect(seen.at(-2)).toBe('kf@1000');
    // Between the keyframes: one value per cadence result (every 200 ms), no keyframe waits on them.
    expect(seen.slice(1, -2).filter((x) => x === 'p').length).toBeGreaterThanOrEqual(4);
    expect(completed).toBe(true);
    stage.close();
    scheduler.close();
  });
});

describe('TrackingStage: live exits do not wait on a hung detection (exitDeadlineMs)', () => {
  const run = async (exitDeadlineMs: number) => {
    const scheduler = new DetectScheduler({ ratePerS: 0, maxInFlight: 4 });
    const c = { cadenceDetections: 0, detectDropped: 0, detectFailed: 0, detectStale: 0 };
    let nowMs = 0;
    const stage = new TrackingStage({
      streamId: 'cam',
      runId: 'r1',
      // Time only: the hung frames are no missed detections (see the maxLostLimitMs test below).
      tracker: { maxLostMs: 300, maxLostDetections: 0 },
      cadence: {
        options: { fps: 5, maxQueue: 10, motionThreshold: 0 },
        lane: scheduler.open('cam', 10),
        // A person until 0.4 s; from 0.6 s on the model never answers (the head of the order hangs).
        detect: (f) =>
          f.ptsNs <= 400e6
            ? Promise.resolve([
                { label: 'person', classId: 0, score: 0.9, box: { x: 100, y: 100, w: 60, h: 120 } },
              ])
            : new Promise<Detection[]>(() => undefined),
      },
      counters: c,
      now: () => nowMs,
      exitDeadlineMs,
    });
    const events: VigilEvent[] = [];
    stage.events$.subscribe((e) => events.push(e));
    const kf = analysedKeyframe(0, 0, {
      detections: [{ label: 'person', classId: 0, score: 0.9, box: { x: 100, y: 100, w: 60, h: 120 } }],
      sourceWidth: 1000,
      sourceHeight: 500,
    });
    stage.keyframeSelected(kf.keyframe);
    stage.analysed(kf);
    for (let i = 1; i < 75; i++) {
      const f = frame(i, i * 40, (i * 31) % 256);
      nowMs = f.captureTimeMs;
      stage.passedOver(f);
      await new Promise((r) => setImmediate(r));
    }
    // The deadline timer runs on real time (armed for 200 ms at the first hung frame).
    await new Promise((r) => setTimeout(r, 400));
    stage.close();
    scheduler.close();
    return { events, counters: c };
  };

  it('live: the exit goes out at its deadline, the hung frames count as stale', async () => {
    const { events, counters } = await run(100);
    expect(events.map((e) => e.type)).toEqual(['object.entered', 'object.left']);
    const left = events[1]!;
    expect(left.data).toMatchObject({ lastSeenPtsNs: 400e6, reason: 'lost' });
    expect(left.ptsNs).toBeGreaterThan(700e6);
    expect(counters.detectStale).toBeGreaterThan(0);
  });

  it('live: a keyframe analysis still running does not hold the exit; it is passed on when it comes', async () => {
    const scheduler = new DetectScheduler({ ratePerS: 0, maxInFlight: 4 });
    const c = { cadenceDetections: 0, detectDropped: 0, detectFailed: 0, detectStale: 0 };
    let nowMs = 0;
    const person = [{ label: 'person', classId: 0, score: 0.9, box: { x: 100, y: 100, w: 60, h: 120 } }];
    const stage = new TrackingStage({
      streamId: 'cam',
      runId: 'r1',
      tracker: { maxLostMs: 300, maxLostDetections: 0 },
      cadence: {
        options: { fps: 5, maxQueue: 10, motionThreshold: 0 },
        lane: scheduler.open('cam', 10),
        detect: (f) => Promise.resolve(f.ptsNs <= 400e6 ? person : []),
      },
      counters: c,
      now: () => nowMs,
      exitDeadlineMs: 100,
    });
    const events: VigilEvent[] = [];
    const tracked: string[] = [];
    stage.events$.subscribe((e) => events.push(e));
    stage.tracked$.subscribe((k) => tracked.push(k.keyframe.id));
    const kf0 = analysedKeyframe(0, 0, { detections: person, sourceWidth: 1000, sourceHeight: 500 });
    stage.keyframeSelected(kf0.keyframe);
    stage.analysed(kf0);
    // A keyframe at 0.48 s whose analysis is slow: everything after it waits in order.
    const slow = analysedKeyframe(12, 480, { detections: [], sourceWidth: 1000, sourceHeight: 500 });
    for (let i = 1; i < 75; i++) {
      const f = frame(i, i * 40, (i * 31) % 256);
      nowMs = f.captureTimeMs;
      if (i === 12) stage.keyframeSelected(slow.keyframe);
      else stage.passedOver(f);
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 400));
    expect(events.map((e) => e.type)).toEqual(['object.entered', 'object.left']);
    expect(tracked).toEqual(['cam:0']);
    stage.analysed(slow);
    expect(tracked).toEqual(['cam:0', 'cam:12']);
    stage.close();
    scheduler.close();
  });

  it('without a deadline (fast mode) the exit waits for the detection in order', async () => {
    const { events } = await run(0);
    expect(events.map((e) => e.type)).toEqual(['object.entered']);
  });
});

describe('TrackingStage: detect.fps against the source rate', () => {
  const counters = (): TrackingCounters => ({
    cadenceDetections: 0,
    detectDropped: 0,
    detectFailed: 0,
    detectStale: 0,
  });
  const stage = (fps: number, checkSourceFps: boolean) => {
    const scheduler = new DetectScheduler({ ratePerS: 0 });
    const s = new TrackingStage({
      streamId: 'cam',
      runId: 'r1',
      tracker: {},
      cadence: {
        options: { fps, maxQueue: 4, motionThreshold: 0 },
        lane: scheduler.open('cam', 4),
        detect: () => Promise.resolve([]),
      },
      counters: counters(),
      checkSourceFps,
    });
    let error: unknown = null;
    s.events$.subscribe({ error: (e: unknown) => (error = e) });
    return { s, scheduler, error: () => error };
  };

  it('an explicit detect.fps above the source rate fails the stream with a config error naming the key', () => {
    const { s, scheduler, error } = stage(15, true);
    // A 10 fps source.
    for (let i = 0; i < 12; i++) s.passedOver(frame(i, i * 100, i));
    expect(error()).toBeInstanceOf(ConfigError);
    expect(String((error() as Error).message)).toMatch(
      /^detect\.fps must be at most the source frame rate \(10\.00 fps\), got 15/,
    );
    s.close();
    scheduler.close();
  });

  it('at or under the source rate, or a default above it, the stream runs', () => {
    for (const [fps, explicit] of [
      [10, true],
      [5, true],
      [15, false],
    ] as const) {
      const { s, scheduler, error } = stage(fps, explicit);
      for (let i = 0; i < 12; i++) s.passedOver(frame(i, i * 100, i));
      expect(error()).toBeNull();
      s.close();
      scheduler.close();
    }
  });
});

describe('TrackingStage: object.left on time when detections are scarce', () => {
  /** The model is down for cadence frames (every detection comes back missing): the object.left events. */
  const modelDown = async (tracker: TrackerOptions, c: TrackingCounters): Promise<VigilEvent[]> => {
    const scheduler = new DetectScheduler({ ratePerS: 0 });
    const stage = new TrackingStage({
      streamId: 'cam',
      runId: 'r1',
      tracker,
      cadence: {
        options: { fps: 5, maxQueue: 2, motionThreshold: 0 },
        lane: scheduler.open('cam', 2),
        detect: () => Promise.resolve(null),
      },
      counters: c,
    });
    const events: VigilEvent[] = [];
    stage.events$.subscribe((e) => events.push(e));
    const box = { x: 100, y: 100, w: 40, h: 80 };
    // 25 fps for 6 s; keyframes every 3 s; the person is on the first keyframe only.
    for (let i = 0; i < 150; i++) {
      if (i % 75 === 0) {
        const kf = analysedKeyframe(i, i * 40, {
          detections: i === 0 ? [{ label: 'person', classId: 0, score: 0.9, box }] : [],
          sourceWidth: 1000,
          sourceHeight: 500,
        });
        stage.keyframeSelected(kf.keyframe);
        stage.analysed(kf);
      } else stage.passedOver(frame(i, i * 40, (i * 31) % 256));
      await new Promise((r) => setImmediate(r));
    }
    stage.close();
    scheduler.close();
    return events.filter((e) => e.type === 'object.left');
  };

  it('a track leaves maxLostMs after its last sighting even when no cadence detection comes back (time only)', async () => {
    const c: TrackingCounters = { cadenceDetections: 0, detectDropped: 0, detectFailed: 0, detectStale: 0 };
    const left = await modelDown({ maxLostMs: 1000, minHits: 1, maxLostDetections: 0 }, c);
    expect(left).toHaveLength(1);
    // Decided at the first undetected frame past 1000 ms (a tick at most every 200 ms), not at the
    // next keyframe (3000 ms).
    expect(left[0]!.ptsNs / 1e6).toBeGreaterThan(1000);
    expect(left[0]!.ptsNs / 1e6).toBeLessThanOrEqual(1240);
    expect(left[0]!.data).toMatchObject({ maxLostMs: 1000 });
    expect(c.detectFailed).toBeGreaterThan(0);
  });

  it('frames not detected are no missed detections: the track waits for them, at most maxLostLimitMs', async () => {
    const c: TrackingCounters = { cadenceDetections: 0, detectDropped: 0, detectFailed: 0, detectStale: 0 };
    // The keyframe at 3 s is the only detection that misses it (1 of maxLostDetections 5).
    const left = await modelDown({ maxLostMs: 1000, minHits: 1, maxLostLimitMs: 3500 }, c);
    expect(left).toHaveLength(1);
    expect(left[0]!.ptsNs / 1e6).toBeGreaterThan(3500);
    expect(left[0]!.ptsNs / 1e6).toBeLessThanOrEqual(3740);
    expect(left[0]!.data).toMatchObject({ lastSeenPtsNs: 0, maxLostMs: 3500 });
  });

  it('fast mode: decoding far ahead of slow analyses gives up no keyframe for the ticks queued behind them', async () => {
    const scheduler = new DetectScheduler({ ratePerS: 0 });
    const c: TrackingCounters = { cadenceDetections: 0, detectDropped: 0, detectFailed: 0, detectStale: 0 };
    const maxWaiting = 4;
    const stage = new TrackingStage({
      streamId: 'cam',
      runId: 'r1',
      tracker: { maxLostMs: 1000, minHits: 1 },
      // A static scene: the cadence picks nothing, so every passed-over frame may tick.
      cadence: {
        options: { fps: 5, maxQueue: 2, motionThreshold: 0.5 },
        lane: scheduler.open('cam', 2),
        detect: () => Promise.resolve([]),
      },
      counters: c,
      maxWaiting,
    });
    const tracked: TrackedKeyframe[] = [];
    const events: VigilEvent[] = [];
    stage.tracked$.subscribe((k) => tracked.push(k));
    stage.events$.subscribe((e) => events.push(e));
    const box = { x: 100, y: 100, w: 40, h: 80 };
    // 25 fps for 60 s, a keyframe every second; every analysis comes back only after the decode
    // finished (the model is far behind), in order. The person is there for the first 30 s.
    const kfs = [];
    let maxWaitingSeen = 0;
    for (let i = 0; i < 1500; i++) {
      if (i % 25 === 0) {
        const a = analysedKeyframe(i, i * 40, {
          detections: i < 750 ? [{ label: 'person', classId: 0, score: 0.9, box }] : [],
          sourceWidth: 1000,
          sourceHeight: 500,
        });
        // The keyframe's picture is the static scene's too: no cadence detection, only ticks.
        const kf = {
          ...a,
          keyframe: { ...a.keyframe, frame: { ...a.keyframe.frame, analysis: frame(i, i * 40).analysis } },
        };
        stage.keyframeSelected(kf.keyframe);
        kfs.push(kf);
      } else stage.passedOver(frame(i, i * 40, 0));
      maxWaitingSeen = Math.max(maxWaitingSeen, stage.stats.waiting);
      // The decoder yields now and then: cadence detections settle, analyses do not.
      if (i % 5 === 0) await new Promise((r) => setImmediate(r));
    }
    for (const kf of kfs) stage.analysed(kf);
    stage.keyframesComplete();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(c.cadenceDetections).toBe(0);
    expect(tracked).toHaveLength(60);
    expect(events.map((e) => e.type)).toEqual(['object.entered', 'object.left']);
    // Ticks are bounded too (16 per result slot), the newest standing in for the one before; past
    // the bound, one more per keyframe still in flight (60 here).
    expect(maxWaitingSeen).toBeGreaterThan(maxWaiting * 16);
    expect(maxWaitingSeen).toBeLessThanOrEqual(maxWaiting * 16 + 60);
    const left = events[1]!;
    expect(left.ptsNs / 1e6).toBeGreaterThan(30_000);
    stage.close();
    scheduler.close();
  });
});
