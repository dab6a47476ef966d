/**
 * Bench helper: clips with shot transitions and distractors, built with ffmpeg from real footage
 * (the sources of keyframes-clips.ts: Debian packages and the npm package's sample), with their
 * ground truth. Each segment is transcoded to 640x360 at 15 fps (optionally with a fast pan or zoom
 * inside it); segments are joined by hard cuts (concat) or by xfade transitions of a given length
 * (fade = dissolve, fadeblack / fadewhite = dip through black / white, wipeleft, wipeup, ...); then
 * flashes (1-3 frames, lifted towards white by a strength) and brightness steps (a gain and an
 * offset from a frame on) are drawn over the joined clip by frame number. Cached by spec.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, sourcePath, type SOURCES } from './keyframes-clips.js';

export const SHOT_FPS = 15;
const W = 640;
const H = 360;

export interface ShotSegment {
  source: keyof typeof SOURCES;
  startS: number;
  durationS: number;
  /** A fast pan inside the segment: from atS for durS seconds, across `fraction` of the frame width. */
  pan?: { atS: number; durS: number; fraction: number };
  /** A fast zoom in: from atS for durS seconds, up to `factor`. */
  zoom?: { atS: number; durS: number; factor: number };
}

/** How segment i joins segment i + 1: a hard cut, or an xfade transition of durationS. */
export type ShotJoin = { kind: 'cut' } | { kind: 'xfade'; transition: string; durationS: number };

/** Effects over the joined clip, placed relative to a segment's clean start (after its transition in). */
export type ShotEffect =
  | { kind: 'flash'; segment: number; atS: number; frames: number; strength: number }
  | { kind: 'brightness'; segment: number; atS: number; gain: number; offset: number };

export interface ShotClipSpec {
  name: string;
  segments: ShotSegment[];
  joins: ShotJoin[];
  effects?: ShotEffect[];
}

export interface TruthTransition {
  kind: 'cut' | 'gradual';
  /** xfade's transition name, or 'cut'. */
  name: string;
  startS: number;
  /** First clean frame of the new shot. */
  endS: number;
}

export interface TruthDistractor {
  kind: 'flash' | 'brightness' | 'pan' | 'zoom';
  detail: string;
  startS: number;
  endS: number;
}

export interface ShotClip {
  name: string;
  path: string;
  durationS: number;
  transitions: TruthTransition[];
  distractors: TruthDistractor[];
  /** Start of each shot (0 and every transition's end). */
  shotStarts: number[];
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

const frames = (s: number): number => Math.round(s * SHOT_FPS);

function part(seg: ShotSegment): string {
  const key = createHash('sha1').update(JSON.stringify(seg)).digest('hex').slice(0, 12);
  const dir = join(CACHE_DIR, 'shot-parts');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${seg.source}-${key}.mp4`);
  if (existsSync(out)) return out;
  const fit = `scale=${W}:${H}:force_original_aspect_ratio=decrease,pad=${W}:${H}:(ow-iw)/2:(oh-ih)/2,fps=${SHOT_FPS},setsar=1`;
  let vf = fit;
  if (seg.pan !== undefined) {
    // Twice the size, then a 640x360 window that holds, sweeps `fraction` of its width, holds.
    const { atS, durS, fraction } = seg.pan;
    const n0 = frames(atS);
    const n1 = frames(atS + durS);
    const dx = Math.round(fraction * W);
    vf =
      `scale=${2 * W}:${2 * H}:force_original_aspect_ratio=decrease,pad=${2 * W}:${2 * H}:(ow-iw)/2:(oh-ih)/2,fps=${SHOT_FPS},` +
      `crop=${W}:${H}:x='${W / 4}+${dx}*min(max(n-${n0},0),${n1 - n0})/${n1 - n0}':y=${H / 2},setsar=1`;
  } else if (seg.zoom !== undefined) {
    const { atS, durS, factor } = seg.zoom;
    const n0 = frames(atS);
    const n1 = frames(atS + durS);
    vf =
      `${fit},zoompan=z='1+${factor - 1}*min(max(on-${n0},0),${n1 - n0})/${n1 - n0}':` +
      `x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s=${W}x${H}:fps=${SHOT_FPS},setsar=1`;
  }
  run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-i',
    sourcePath(seg.source),
    '-ss',
    String(seg.startS),
    '-map',
    '0:v:0',
    '-t',
    String(seg.durationS),
    '-vf',
    vf,
    '-an',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-crf',
    '18',
    '-pix_fmt',
    'yuv420p',
    out,
  ]);
  return out;
}

/** Builds (or finds cached) the clip and its ground truth. */
export function buildShotClip(spec: ShotClipSpec): ShotClip {
  if (spec.joins.length !== spec.segments.length - 1)
    throw new Error(`${spec.name}: joins must be segments - 1`);
  const key = createHash('sha1').update(JSON.stringify(spec)).digest('hex').slice(0, 12);
  const dir = join(CACHE_DIR, 'shot-clips');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${spec.name.replace(/[^A-Za-z0-9_-]/g, '-')}-${key}.mp4`);
  // Timeline: where each segment starts, cleanly starts (after its transition in) and ends.
  const transitions: TruthTransition[] = [];
  const clean: number[] = [0];
  const distractors: TruthDistractor[] = [];
  let end = spec.segments[0]!.durationS;
  const filters: string[] = [];
  // Every input on one time base (xfade insists), from 0.
  spec.segments.forEach((_, i) => filters.push(`[${i}:v]settb=AVTB,setpts=PTS-STARTPTS[s${i}]`));
  let label = 's0';
  spec.joins.forEach((j, i) => {
    const next = spec.segments[i + 1]!;
    const outLabel = `v${i + 1}`;
    if (j.kind === 'cut') {
      transitions.push({ kind: 'cut', name: 'cut', startS: end, endS: end });
      clean.push(end);
      filters.push(`[${label}][s${i + 1}]concat=n=2:v=1:a=0,settb=AVTB[${outLabel}]`);
      end += next.durationS;
    } else {
      const offset = end - j.durationS;
      transitions.push({
        kind: 'gradual',
        name: `${j.transition} ${j.durationS}s`,
        startS: offset,
        endS: end,
      });
      clean.push(end);
      filters.push(
        `[${label}][s${i + 1}]xfade=transition=${j.transition}:duration=${j.durationS}:offset=${offset.toFixed(4)}[${outLabel}]`,
      );
      end = offset + next.durationS;
    }
    label = outLabel;
  });
  // Pans and zooms inside segments, at their place on the timeline.
  spec.segments.forEach((seg, i) => {
    const segStart = i === 0 ? 0 : transitions[i - 1]!.startS;
    if (seg.pan !== undefined) {
      distractors.push({
        kind: 'pan',
        detail: `pan ${seg.pan.fraction} of the width in ${seg.pan.durS}s`,
        startS: segStart + seg.pan.atS,
        endS: segStart + seg.pan.atS + seg.pan.durS,
      });
    }
    if (seg.zoom !== undefined) {
      distractors.push({
        kind: 'zoom',
        detail: `zoom x${seg.zoom.factor} in ${seg.zoom.durS}s`,
        startS: segStart + seg.zoom.atS,
        endS: segStart + seg.zoom.atS + seg.zoom.durS,
      });
    }
  });
  const effects: string[] = [];
  for (const e of spec.effects ?? []) {
    const t = (clean[e.segment] ?? 0) + e.atS;
    const n0 = frames(t);
    if (e.kind === 'flash') {
      const n1 = n0 + e.frames - 1;
      effects.push(`lutyuv=y='val+(255-val)*${e.strength}':enable='between(n,${n0},${n1})'`);
      distractors.push({
        kind: 'flash',
        detail: `${e.frames}-frame flash, strength ${e.strength}`,
        startS: n0 / SHOT_FPS,
        endS: (n1 + 1) / SHOT_FPS,
      });
    } else {
      effects.push(`lutyuv=y='clip(val*${e.gain}+${e.offset},0,255)':enable='gte(n,${n0})'`);
      distractors.push({
        kind: 'brightness',
        detail: `brightness step x${e.gain}${e.offset >= 0 ? '+' : ''}${e.offset}`,
        startS: n0 / SHOT_FPS,
        endS: n0 / SHOT_FPS,
      });
    }
  }
  if (!existsSync(out)) {
    const inputs = spec.segments.flatMap((s) => ['-i', part(s)]);
    const chain = [...filters];
    const last = `[${label}]`;
    chain.push(`${last}${effects.length > 0 ? effects.join(',') : 'null'}[out]`);
    const tmp = `${out}.tmp.mp4`;
    run('ffmpeg', [
      '-v',
      'error',
      '-y',
      ...inputs,
      '-filter_complex',
      chain.join(';'),
      '-map',
      '[out]',
      '-an',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '18',
      '-pix_fmt',
      'yuv420p',
      '-r',
      String(SHOT_FPS),
      tmp,
    ]);
    run('mv', [tmp, out]);
  }
  return {
    name: spec.name,
    path: out,
    durationS: end,
    transitions,
    distractors,
    shotStarts: clean,
  };
}
