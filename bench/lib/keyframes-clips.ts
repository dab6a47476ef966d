/**
 * Bench helper: builds labelled clips by joining real clips at known times. Sources come out of
 * Debian packages (`apt-get download` + `dpkg-deb -x`, nothing installed) into a cache directory;
 * each segment is transcoded by ffmpeg to a common size and frame rate, so the join points are the
 * only cuts and their times are exact (the ground truth).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const CACHE_DIR = process.env['VIGIL_BENCH_CACHE'] ?? join(tmpdir(), 'vigil-bench-keyframes');
export const WIDTH = 640;
export const HEIGHT = 360;
export const FPS = 15;

interface SourceFile {
  pkg: string | null;
  /** Path inside the extracted package, or an absolute path. */
  path: string;
}

export const SOURCES: Record<string, SourceFile> = {
  vtest: { pkg: null, path: resolve('samples/vtest.avi') }, // opencv-doc, via scripts/fetch-samples.sh
  cockatoo: {
    pkg: 'python3-imageio',
    path: 'usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4',
  },
  motion: { pkg: 'node-opencv', path: 'usr/share/doc/node-opencv/examples/files/motion.mov' },
  // 10 s of Big Buck Bunny shipped with the gstreamer-superficial npm package (npm ci installs it).
  bunny: { pkg: null, path: resolve('node_modules/gstreamer-superficial/examples/loop/samplevideo.mp4') },
};

export interface Segment {
  source: keyof typeof SOURCES;
  startS: number;
  durationS: number;
}

export interface LabelledClip {
  name: string;
  path: string;
  /** Cut times, seconds (join points). */
  cuts: number[];
  durationS: number;
}

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

export function sourcePath(name: keyof typeof SOURCES): string {
  const s = SOURCES[name];
  if (s === undefined) throw new Error(`unknown source ${String(name)}`);
  if (s.pkg === null) {
    if (!existsSync(s.path)) throw new Error(`${s.path} missing: run bash scripts/fetch-samples.sh`);
    return s.path;
  }
  const dir = join(CACHE_DIR, 'pkg', s.pkg);
  const file = join(dir, 'x', s.path);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  if (!readdirSync(dir).some((f) => f.endsWith('.deb'))) run('apt-get', ['download', s.pkg], dir);
  const deb = readdirSync(dir).find((f) => f.endsWith('.deb'));
  if (deb === undefined) throw new Error(`apt-get download ${s.pkg} gave no .deb`);
  run('dpkg-deb', ['-x', join(dir, deb), join(dir, 'x')]);
  if (!existsSync(file)) throw new Error(`${s.path} not found in ${s.pkg}`);
  return file;
}

/** Transcodes each segment to WIDTHxHEIGHT@FPS (letterboxed) and joins them; cached by name. */
export function buildClip(name: string, segments: Segment[]): LabelledClip {
  const dir = join(CACHE_DIR, 'clips-v2', name); // v2: exact output seeking
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${name}.mp4`);
  const cuts: number[] = [];
  let t = 0;
  const list: string[] = [];
  segments.forEach((seg, i) => {
    if (i > 0) cuts.push(t);
    t += seg.durationS;
    const part = join(dir, `part${i}.mp4`);
    list.push(`file '${part}'`);
    if (existsSync(part)) return;
    const vf = `scale=${WIDTH}:${HEIGHT}:force_original_aspect_ratio=decrease,pad=${WIDTH}:${HEIGHT}:(ow-iw)/2:(oh-ih)/2,fps=${FPS},setsar=1`;
    run('ffmpeg', [
      '-v',
      'error',
      '-y',
      // Output seeking (-ss after -i): decodes from the start and drops frames, always exact. Input
      // seeking mis-decoded cockatoo.mp4 (open GOP): 1 s of corrupt green frames, then a false "cut".
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
      '20',
      '-pix_fmt',
      'yuv420p',
      part,
    ]);
  });
  if (!existsSync(out)) {
    const listFile = join(dir, 'list.txt');
    writeFileSync(listFile, `${list.join('\n')}\n`);
    run('ffmpeg', ['-v', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', listFile, '-c', 'copy', out]);
  }
  return { name, path: out, cuts, durationS: t };
}
