/** Progress bar for `vigil analyze` on stderr, and the media duration it needs (ffprobe, argv only). */
import { execFile } from 'node:child_process';

/** Duration of a media file in seconds, or null when it cannot be told (no ffprobe, a stream). */
export function probeDurationSeconds(path: string, timeoutMs = 10_000): Promise<number | null> {
  return new Promise((resolve) => {
    execFile(
      'ffprobe',
      [
        '-v',
        'error',
        '-show_entries',
        'format=duration',
        '-of',
        'default=noprint_wrappers=1:nokey=1',
        '--',
        path,
      ],
      { timeout: timeoutMs },
      (err, stdout) => {
        const n = Number(String(stdout).trim());
        resolve(!err && Number.isFinite(n) && n > 0 ? n : null);
      },
    );
  });
}

export class ProgressBar {
  private lastDraw = 0;
  private lastPercentLine = -1;
  private drawn = false;

  constructor(
    private readonly totalSeconds: number | null,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly width = 30,
  ) {}

  /** Redraws at most every 100 ms on a terminal; elsewhere one line per 10 %. */
  update(doneSeconds: number, extra: string, force = false): void {
    const now = Date.now();
    const fraction = this.totalSeconds ? Math.min(1, doneSeconds / this.totalSeconds) : null;
    if (this.out.isTTY) {
      if (!force && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      const bar =
        fraction === null
          ? `${doneSeconds.toFixed(0)} s`
          : `[${'#'.repeat(Math.round(fraction * this.width)).padEnd(this.width, '.')}] ${(fraction * 100).toFixed(0).padStart(3)}%`;
      this.out.write(`\r\x1b[2Kvigil: ${bar} ${extra}`);
      this.drawn = true;
      return;
    }
    const step = fraction === null ? Math.floor(doneSeconds / 10) : Math.floor(fraction * 10);
    if (step !== this.lastPercentLine || force) {
      this.lastPercentLine = step;
      const where = fraction === null ? `${doneSeconds.toFixed(0)} s` : `${(fraction * 100).toFixed(0)}%`;
      this.out.write(`vigil: progress ${where} ${extra}\n`);
    }
  }

  /** Ends the line on a terminal so the next message starts clean. */
  done(): void {
    if (this.drawn && this.out.isTTY) this.out.write('\n');
  }
}
