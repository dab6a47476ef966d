/**
 * bench/keyframes/select-micro: the keyframe selector alone, in µs per frame, on recorded gray
 * analysis frames (no decoding in the timed loop), plus a record of its output to prove that an
 * optimisation changes nothing.
 *
 *   npx tsx bench/keyframes/select-micro.ts [--rounds N] [--record out.json] [--compare base.json] [clip paths...]
 *
 * Each clip is decoded once by the gray-only pipeline (bench/keyframes/gray-decode.ts, 160 px wide)
 * and its frames cached under $VIGIL_BENCH_CACHE/select-micro/, so runs of different builds see the
 * very same pixels. Default clips: the bench's mixed, held-out and same-camera-jumps clips (when
 * built, by `npx tsx bench/keyframes/run.ts`) and samples/vtest.avi. Each round runs a fresh
 * selector over every frame of every clip; the best and the median round are printed.
 * The record holds every keyframe (id, PTS, reason, scores, phash) and every frame's signals.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Frame } from '../../src/core/contracts.js';
import { KeyframeSelector } from '../../src/stream/index.js';
import { CACHE_DIR } from '../lib/keyframes-clips.js';
import { grayOnlySelect } from './gray-decode.js';

const WIDTH = 160;

function defaultClips(): string[] {
  const clips = ['mixed', 'held-out', 'same-camera-jumps']
    .map((n) => join(CACHE_DIR, 'clips-v2', n, `${n}.mp4`))
    .filter((p) => existsSync(p));
  return [...clips, 'samples/vtest.avi'];
}

/** Cache file: [count, width, height] as u32, then count PTS as f64, then the pixels. */
async function loadFrames(path: string): Promise<Frame[]> {
  const dir = join(CACHE_DIR, 'select-micro');
  const file = join(dir, `${basename(path)}-${WIDTH}.gray`);
  if (!existsSync(file)) {
    const run = await grayOnlySelect(path, {}, WIDTH, true, false);
    const f0 = run.frames[0];
    if (f0 === undefined) throw new Error(`${path}: no frames`);
    const { width, height } = f0.analysis;
    const n = run.frames.length;
    const buf = Buffer.alloc(12 + 8 * n + n * width * height);
    buf.writeUInt32LE(n, 0);
    buf.writeUInt32LE(width, 4);
    buf.writeUInt32LE(height, 8);
    run.frames.forEach((f, i) => {
      buf.writeDoubleLE(f.ptsNs, 12 + 8 * i);
      buf.set(f.analysis.data, 12 + 8 * n + i * width * height);
    });
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, buf);
  }
  const buf = readFileSync(file);
  const n = buf.readUInt32LE(0);
  const width = buf.readUInt32LE(4);
  const height = buf.readUInt32LE(8);
  const frames: Frame[] = [];
  for (let i = 0; i < n; i++) {
    const off = 12 + 8 * n + i * width * height;
    frames.push({
      streamId: basename(path),
      seq: i,
      ptsNs: buf.readDoubleLE(12 + 8 * i),
      captureTimeMs: 0,
      sourceWidth: 0,
      sourceHeight: 0,
      analysis: {
        width,
        height,
        format: 'GRAY8',
        data: new Uint8Array(buf.subarray(off, off + width * height)),
      },
      model: { width: 0, height: 0, format: 'RGB', data: new Uint8Array(0) },
    });
  }
  return frames;
}

function record(frames: Frame[]): unknown {
  const sel = new KeyframeSelector();
  const keyframes: unknown[] = [];
  const signals: unknown[] = [];
  for (const f of frames) {
    const k = sel.next(f);
    if (k !== null) {
      const { id, reason, motionScore, sceneScore, sincePreviousMs, phash } = k;
      keyframes.push({ id, ptsNs: k.frame.ptsNs, reason, motionScore, sceneScore, sincePreviousMs, phash });
    }
    signals.push(sel.lastSignals);
  }
  return { frames: frames.length, keyframes, signals };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const rounds = Number(opt('--rounds') ?? 15);
  const recordTo = opt('--record');
  const compareWith = opt('--compare');
  const paths = args.length > 0 ? args : defaultClips();
  const clips = await Promise.all(paths.map(async (p) => ({ path: p, frames: await loadFrames(p) })));

  const out: Record<string, unknown> = {};
  for (const c of clips) out[basename(c.path)] = record(c.frames);
  if (recordTo !== undefined) writeFileSync(recordTo, JSON.stringify(out));
  if (compareWith !== undefined) {
    const base = JSON.parse(readFileSync(compareWith, 'utf8')) as Record<string, unknown>;
    for (const c of clips) {
      const name = basename(c.path);
      const same = JSON.stringify(base[name]) === JSON.stringify(out[name]);
      console.log(`${name}: ${same ? 'IDENTICAL' : 'DIFFERENT'} keyframes and signals vs ${compareWith}`);
      if (!same) process.exitCode = 1;
    }
  }

  const total = clips.reduce((s, c) => s + c.frames.length, 0);
  // Wall time and this process's CPU time per round (CPU time is less disturbed by other load).
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (const c of clips) {
      const sel = new KeyframeSelector();
      for (const f of c.frames) sel.next(f);
    }
    const used = process.cpuUsage(c0);
    wall.push(Number(process.hrtime.bigint() - t0) / 1e3 / total);
    cpu.push((used.user + used.system) / total);
  }
  const stats = (xs: number[]): string => {
    const sorted = [...xs].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    return `best ${(sorted[0] as number).toFixed(2)}, median ${median.toFixed(2)} µs/frame`;
  };
  console.log(
    `selection: ${total} frames (${clips.map((c) => `${basename(c.path)} ${c.frames.length}`).join(', ')}), ` +
      `${rounds} rounds: wall ${stats(wall)}; CPU ${stats(cpu)}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
