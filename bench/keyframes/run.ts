/**
 * bench/keyframes: keyframe selection accuracy and speed on labelled clips built from real footage
 * (see bench/lib/keyframes-clips.ts), Vigil's selector next to ffmpeg's `select='gt(scene,0.3)'`.
 *
 *   npx tsx bench/keyframes/run.ts
 *
 * Per clip: cut recall and precision within ±0.5 s of the true join times, keyframes per frame,
 * frames per second (decode + selection, both sides; Vigil decodes through its own GStreamer
 * ingest, both gray and model-size branches, exactly as the analyzer does). On the 80 s pedestrian
 * clip (no cuts) it also checks that at most 5% of frames become keyframes while every person
 * entering the scene gets a keyframe within 1 s. Ground truth for "a person enters" is a PROXY:
 * motion onset in the frame's border band (changed pixels there after at least 1 s of quiet),
 * computed on the decoded gray frames; no detector is involved.
 */
import type { Frame, Keyframe } from '../../src/core/contracts.js';
import { KeyframeSelector, motionScore } from '../../src/stream/index.js';
import { buildClip, ffmpegScene, sourcePath, type LabelledClip } from '../lib/keyframes-clips.js';
import { decodeClip } from '../lib/keyframes-decode.js';

const TOLERANCE_S = 0.5;

interface Row {
  clip: string;
  tool: string;
  cuts: number;
  recall: number;
  precision: number;
  kfPerFrame: number;
  fps: number;
  note: string;
}

function score(cuts: number[], detected: number[]): { recall: number; precision: number } {
  const used = new Set<number>();
  let hits = 0;
  for (const c of cuts) {
    const i = detected.findIndex((t, j) => !used.has(j) && Math.abs(t - c) <= TOLERANCE_S);
    if (i >= 0) {
      used.add(i);
      hits++;
    }
  }
  // A detection is correct when it lies within the tolerance of any true cut.
  const correct = detected.filter((t) => cuts.some((c) => Math.abs(t - c) <= TOLERANCE_S)).length;
  return {
    recall: cuts.length === 0 ? 1 : hits / cuts.length,
    precision: detected.length === 0 ? (cuts.length === 0 ? 1 : 0) : correct / detected.length,
  };
}

function select(frames: Frame[]): { keyframes: Keyframe[]; seconds: number } {
  const sel = new KeyframeSelector();
  const keyframes: Keyframe[] = [];
  const t0 = process.hrtime.bigint();
  for (const f of frames) {
    const k = sel.next(f);
    if (k !== null) keyframes.push(k);
  }
  return { keyframes, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/** Proxy ground truth for "a person enters": motion onsets in the border band (see header). */
function entryOnsets(frames: Frame[], bandFrac = 0.08, active = 0.01, quietMs = 1000): number[] {
  const onsets: number[] = [];
  let lastActiveMs = -Infinity;
  for (let i = 1; i < frames.length; i++) {
    const a = frames[i - 1]?.analysis;
    const b = frames[i]?.analysis;
    if (a === undefined || b === undefined) continue;
    const w = b.width;
    const h = b.height;
    const bw = Math.max(1, Math.round(w * bandFrac));
    const bh = Math.max(1, Math.round(h * bandFrac));
    let changed = 0;
    let n = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (x >= bw && x < w - bw && y >= bh && y < h - bh) continue;
        n++;
        const d = (a.data[y * w + x] as number) - (b.data[y * w + x] as number);
        if (d > 25 || d < -25) changed++;
      }
    }
    const t = (frames[i] as Frame).ptsNs / 1e6;
    if (changed / n >= active) {
      if (t - lastActiveMs >= quietMs) onsets.push(t / 1000);
      lastActiveMs = t;
    }
  }
  return onsets;
}

async function benchClip(
  clip: LabelledClip,
  rows: Row[],
): Promise<{ frames: Frame[]; keyframes: Keyframe[] }> {
  const decoded = await decodeClip(clip.path, clip.name.replace(/[^A-Za-z0-9_-]/g, '-'));
  const { keyframes, seconds } = select(decoded.frames);
  const n = decoded.frames.length;
  const cutsVigil = keyframes.filter((k) => k.reason === 'scene-cut').map((k) => k.frame.ptsNs / 1e9);
  const v = score(clip.cuts, cutsVigil);
  rows.push({
    clip: clip.name,
    tool: 'vigil',
    cuts: clip.cuts.length,
    ...v,
    kfPerFrame: keyframes.length / n,
    fps: n / (decoded.decodeSeconds + seconds),
    note: `select only ${Math.round(n / seconds)} fps; ${keyframes.length} keyframes (${cutsVigil.length} scene-cut)`,
  });
  const ff = ffmpegScene(clip.path);
  const f = score(clip.cuts, ff.times);
  rows.push({
    clip: clip.name,
    tool: 'ffmpeg gt(scene,0.3)',
    cuts: clip.cuts.length,
    ...f,
    kfPerFrame: ff.times.length / n,
    fps: n / ff.seconds,
    note: `${ff.times.length} selected`,
  });
  return { frames: decoded.frames, keyframes };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

async function main(): Promise<void> {
  const clips: LabelledClip[] = [
    buildClip('mixed', [
      { source: 'vtest', startS: 0, durationS: 8 },
      { source: 'cockatoo', startS: 0, durationS: 6 },
      { source: 'motion', startS: 0, durationS: 6 },
      { source: 'vtest', startS: 30, durationS: 8 },
      { source: 'cockatoo', startS: 7, durationS: 6 },
      { source: 'motion', startS: 2, durationS: 6 },
      { source: 'vtest', startS: 60, durationS: 8 },
    ]),
    buildClip('same-camera-jumps', [
      { source: 'vtest', startS: 5, durationS: 6 },
      { source: 'vtest', startS: 25, durationS: 6 },
      { source: 'vtest', startS: 45, durationS: 6 },
      { source: 'vtest', startS: 65, durationS: 6 },
    ]),
    { name: 'vtest (80 s pedestrians)', path: sourcePath('vtest'), cuts: [], durationS: 79.5 },
  ];
  const rows: Row[] = [];
  let pedestrian: { frames: Frame[]; keyframes: Keyframe[] } | null = null;
  for (const clip of clips) {
    const r = await benchClip(clip, rows);
    if (clip.cuts.length === 0) pedestrian = r;
  }

  console.log(
    `\nbench/keyframes: cut recall/precision within ±${TOLERANCE_S} s, keyframes per frame, frames/s (decode + select)\n`,
  );
  console.log('| clip | tool | cuts | recall | precision | keyframes/frame | fps | note |');
  console.log('| --- | --- | --: | --: | --: | --: | --: | --- |');
  for (const r of rows) {
    const cutCols = r.cuts === 0 ? ['—', '—'] : [r.recall.toFixed(2), r.precision.toFixed(2)];
    console.log(
      `| ${r.clip} | ${r.tool} | ${r.cuts} | ${cutCols[0]} | ${cutCols[1]} | ${pct(r.kfPerFrame)} | ${Math.round(r.fps)} | ${r.note} |`,
    );
  }

  if (pedestrian !== null) {
    const onsets = entryOnsets(pedestrian.frames);
    const kts = pedestrian.keyframes.map((k) => k.frame.ptsNs / 1e9);
    const missed = onsets.filter((t) => !kts.some((k) => k >= t - 1e-6 && k <= t + 1));
    const ratio = pedestrian.keyframes.length / pedestrian.frames.length;
    const motionMean =
      pedestrian.frames
        .slice(1)
        .reduce(
          (s, f, i) => s + motionScore((pedestrian as { frames: Frame[] }).frames[i]!.analysis, f.analysis),
          0,
        ) /
      (pedestrian.frames.length - 1);
    console.log(
      `\npedestrian clip: ${pedestrian.keyframes.length} keyframes / ${pedestrian.frames.length} frames = ${pct(ratio)} (target <= 5%); ` +
        `entries (proxy: border-band motion onsets) ${onsets.length}, with a keyframe within 1 s: ${onsets.length - missed.length}` +
        (missed.length > 0 ? ` (missed at ${missed.map((t) => t.toFixed(1)).join(', ')} s)` : '') +
        `; mean frame motion ${motionMean.toFixed(4)}`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
