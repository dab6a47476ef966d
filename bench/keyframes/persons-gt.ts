/**
 * Bench helper: ground truth for "a person enters the scene", from the real detector.
 *
 * Every frame of the clip is decoded through Vigil's ingest and sent to YOLOv8n on the project's
 * own inference server (startInferenceServer + createDetector, real gRPC on loopback). Person
 * detections are tracked across ALL frames with Vigil's Tracker (IoU + motion matching). A person
 * ENTERS at the first frame of a track that persists at least `minPersistMs` (default 1 s), and
 * that does not start within the first `settleMs` of the clip (people already in view when it
 * starts are covered by the first keyframe). Each entry says whether it is a RE-ACQUISITION
 * (another person track was last seen close by, within 1.5 box heights, during the 2 s before it
 * started: the same person lost behind an occluder or by the detector, found again under a new id)
 * or a SPLIT (within 0.3 s of its start another track's box covered at least 30% of its box: one of
 * a group that walked in under one box gets a box of its own).
 *
 * The per-frame detections are computed once and cached as JSON (they take minutes on a CPU);
 * the entry definition is applied on every run, so it can be read and changed here.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { lastValueFrom, mergeMap } from 'rxjs';
import type { Analysis, Detection, Frame, Keyframe } from '../../src/core/contracts.js';
import { createDetector, InferenceClient, startInferenceServer } from '../../src/infer/index.js';
import { DEFAULT_INGEST_OPTIONS, openFrames } from '../../src/ingest/frames.js';
import { parseSource } from '../../src/ingest/source.js';
import { Tracker } from '../../src/stream/index.js';

export interface FrameDetections {
  seq: number;
  ptsNs: number;
  /** Persons only, source pixels. */
  persons: Detection[];
}

export interface DetectionsFile {
  clip: string;
  model: string;
  sourceWidth: number;
  sourceHeight: number;
  frames: FrameDetections[];
}

export interface PersonEntry {
  trackId: number;
  /** First frame of the track, seconds. */
  t: number;
  /** Track lifetime, seconds. */
  durationS: number;
  /** Box when the track was confirmed (its third frame), source pixels. */
  box: Detection['box'];
  /** Another track was last seen within 1.5 box heights during the 2 s before this one started. */
  reacquired: boolean;
  /** Another track's box covered >= 30% of this one's within 0.3 s of its start (a group split). */
  split: boolean;
}

/** Detects persons on every frame of `clipPath` (cached in `cacheFile`). */
export async function personDetections(clipPath: string, cacheFile: string): Promise<DetectionsFile> {
  if (existsSync(cacheFile)) return JSON.parse(readFileSync(cacheFile, 'utf8')) as DetectionsFile;
  const server = await startInferenceServer({
    modelRepository: resolve('models/repo'),
    host: '127.0.0.1',
    port: 0,
  });
  const client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`] });
  const detector = createDetector({ client, model: 'yolov8n' });
  const out: DetectionsFile = {
    clip: clipPath,
    model: 'yolov8n',
    sourceWidth: 0,
    sourceHeight: 0,
    frames: [],
  };
  let inFlight = 0;
  const t0 = Date.now();
  try {
    const frames = openFrames(parseSource(clipPath), {
      ...DEFAULT_INGEST_OPTIONS,
      streamId: 'gt',
      live: false,
      // Decoding waits while the detector is busy: every frame is analysed, memory stays bounded.
      shouldPause: () => inFlight >= 2,
    });
    await lastValueFrom(
      frames.pipe(
        mergeMap(async (f: Frame) => {
          inFlight++;
          try {
            const model = { ...f.model, data: new Uint8Array(f.model.data) };
            const r = await detector.detect(model, f.sourceWidth, f.sourceHeight);
            out.sourceWidth = f.sourceWidth;
            out.sourceHeight = f.sourceHeight;
            out.frames.push({
              seq: f.seq,
              ptsNs: f.ptsNs,
              persons: r.detections.filter((d) => d.label === 'person'),
            });
            if (out.frames.length % 100 === 0) {
              console.error(
                `  detections: ${out.frames.length} frames, ${Math.round((Date.now() - t0) / 1000)} s`,
              );
            }
          } finally {
            inFlight--;
          }
        }, 2),
      ),
      { defaultValue: undefined },
    );
  } finally {
    client.close();
    await server.close();
  }
  out.frames.sort((a, b) => a.ptsNs - b.ptsNs);
  mkdirSync(dirname(cacheFile), { recursive: true });
  writeFileSync(cacheFile, JSON.stringify(out));
  return out;
}

/** Person entries (see the header) from per-frame detections. */
export function personEntries(
  det: DetectionsFile,
  { minPersistMs = 1000, settleMs = 1000, minScore = 0.4, reacquireMs = 2000 } = {},
): PersonEntry[] {
  // Frame-level tracking: one "keyframe" per frame, a track confirmed after 3 sightings and kept
  // through short detector dropouts (5 frames or 700 ms), so flicker does not look like entries.
  const tracker = new Tracker({
    labels: ['person'],
    minScore,
    minHits: 3,
    threshold: 0,
    tentativeMaxMisses: 5,
    maxLostMs: 700,
  });
  const first = new Map<number, { t: number; box: Detection['box'] }>();
  const lifetimes = new Map<number, number>();
  /** Sightings of each track: time (ns) and box. */
  const seen = new Map<number, { t: number; box: Detection['box'] }[]>();
  const t0 = det.frames[0]?.ptsNs ?? 0;
  for (const f of det.frames) {
    const keyframe = {
      id: `gt:${f.seq}`,
      frame: { ptsNs: f.ptsNs, captureTimeMs: f.ptsNs / 1e6 },
    } as unknown as Keyframe;
    const analysis: Analysis = {
      keyframeId: keyframe.id,
      streamId: 'gt',
      ptsNs: f.ptsNs,
      captureTimeMs: f.ptsNs / 1e6,
      available: true,
      detections: f.persons,
      text: [],
      model: { name: det.model, version: '1' },
      inferenceMs: 0,
    };
    const step = tracker.update({ keyframe, analysis });
    for (const tr of step.tracks) {
      if (!first.has(tr.id)) first.set(tr.id, { t: tr.firstPtsNs, box: tr.box });
      lifetimes.set(tr.id, tr.lastPtsNs - tr.firstPtsNs);
      if (!tr.occluded) {
        const list = seen.get(tr.id) ?? [];
        list.push({ t: tr.lastPtsNs, box: tr.box });
        seen.set(tr.id, list);
      }
    }
  }
  const entries: PersonEntry[] = [];
  for (const [id, { t, box }] of first) {
    const life = lifetimes.get(id) ?? 0;
    if (life < minPersistMs * 1e6) continue;
    if (t - t0 < settleMs * 1e6) continue;
    const cx = box.x + box.w / 2;
    const cy = box.y + box.h / 2;
    const others = [...seen].filter(([other]) => other !== id).map(([, list]) => list);
    // Re-acquired: another person track was LAST seen close by shortly before this one started
    // (lost behind an occluder or by the detector, then found again under a new id).
    const reacquired = others.some((list) => {
      const l = list[list.length - 1];
      if (l === undefined || l.t > t || t - l.t > reacquireMs * 1e6) return false;
      const d = Math.hypot(l.box.x + l.box.w / 2 - cx, l.box.y + l.box.h / 2 - cy);
      return d <= 1.5 * Math.max(box.h, l.box.h);
    });
    // Split: when this track starts, another track's box covers much of it (one of a group that
    // came in under one box gets a box of its own).
    const split = others.some((list) =>
      list.some((l) => Math.abs(l.t - t) <= 300e6 && overlapOfSmaller(l.box, box) >= 0.3),
    );
    entries.push({ trackId: id, t: t / 1e9, durationS: life / 1e9, box, reacquired, split });
  }
  return entries.sort((a, b) => a.t - b.t);
}

/** Intersection area over the smaller box's area, 0..1. */
function overlapOfSmaller(a: Detection['box'], b: Detection['box']): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / Math.min(a.w * a.h, b.w * b.h);
}
