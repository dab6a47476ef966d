/**
 * Bench helper: ffmpeg's own scene detector (decode + `select='gt(scene,T)'`) with the wall and CPU
 * time ffmpeg reports for itself (`-benchmark`: rtime, utime + stime). Those span its decoding and
 * filtering (decoder and filter set-up included) and leave out the process's start-up (loading its
 * libraries, parsing options, opening and probing the input), as Vigil's figure leaves out its
 * process and pipeline construction: like for like. The whole process's wall time is kept too.
 */
import { spawnSync } from 'node:child_process';

export interface FfmpegRun {
  /** Selected frame times, seconds. */
  times: number[];
  /** Wall seconds of decoding and filtering (ffmpeg's rtime; the whole run's if it printed none). */
  seconds: number;
  /** Wall seconds of the whole ffmpeg process, start-up included. */
  processSeconds: number;
  /** User + system CPU seconds ffmpeg reports (-benchmark). */
  cpuSeconds: number;
}

export function ffmpegSceneTimed(path: string, threshold = 0.3): FfmpegRun {
  const t0 = process.hrtime.bigint();
  const res = spawnSync(
    'ffmpeg',
    [
      '-hide_banner',
      '-nostats',
      '-benchmark',
      '-i',
      path,
      '-vf',
      `select='gt(scene,${threshold})',showinfo`,
      '-an',
      '-f',
      'null',
      '-',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const processSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (res.status !== 0) throw new Error(`ffmpeg failed: ${res.stderr.slice(-500)}`);
  const out = `${res.stdout}${res.stderr}`;
  const times = [...out.matchAll(/\[Parsed_showinfo[^\]]*\][^\n]*pts_time:\s*([0-9.]+)/g)].map((m) =>
    Number(m[1]),
  );
  const bench = /bench: utime=([0-9.]+)s stime=([0-9.]+)s rtime=([0-9.]+)s/.exec(out);
  const cpuSeconds = bench === null ? Number.NaN : Number(bench[1]) + Number(bench[2]);
  const seconds = bench === null ? processSeconds : Number(bench[3]);
  return { times, seconds, processSeconds, cpuSeconds };
}
