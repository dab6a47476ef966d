/**
 * Two `analyze --report DIR` runs of the same file into one history (DIR/history.sqlite): every
 * record and keyframe id of the second run is new (ids carry the run id), so nothing of it is
 * dropped as a duplicate of the first, and each run's records name only its own keyframes. Real
 * GStreamer (a clip built by gst-launch), a real nats-server and the real inference server.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { runAnalysis } from '../../src/app/cli-session.js';
import { MODEL_REPO, requireFile } from '../helpers/paths.js';

describe('two analyze runs of one file into one history', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-two-runs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps both runs: no id of the second collides with the first', async () => {
    const clip = join(dir, 'ball.mp4');
    execFileSync(
      'gst-launch-1.0',
      [
        '-q',
        ...'videotestsrc pattern=ball num-buffers=40 ! video/x-raw,width=320,height=240,framerate=10/1 ! videoconvert ! x264enc speed-preset=ultrafast key-int-max=10 ! mp4mux ! filesink'.split(
          ' ',
        ),
        `location=${clip}`,
      ],
      { timeout: 30_000 },
    );
    const report = join(dir, 'report');
    const run = () =>
      runAnalysis({
        source: clip,
        streamId: 'ball',
        live: false,
        windowMs: 1_000,
        json: true,
        print: () => undefined,
        log: () => undefined,
        reportDir: report,
        printMessages: false,
        progress: false,
        vad: false,
        nats: { servers: null },
        modelRepository: requireFile(MODEL_REPO),
        stopSignal: new Promise<void>(() => undefined),
      });
    const ids = () => {
      const db = new Database(join(report, 'history.sqlite'), { readonly: true });
      try {
        return db.prepare('SELECT id, keyframes FROM records').all() as { id: string; keyframes: string }[];
      } finally {
        db.close();
      }
    };
    expect(await run()).toBe(0);
    const first = ids();
    expect(first.length).toBeGreaterThan(0);
    expect(await run()).toBe(0);
    const both = ids();
    const second = both.filter((r) => !first.some((f) => f.id === r.id));
    // The second run added as many records again (same file, same analysis), none a duplicate.
    expect(second.length).toBe(first.length);
    const kf = (rows: { keyframes: string }[]) =>
      new Set(rows.flatMap((r) => JSON.parse(r.keyframes) as string[]));
    const a = kf(first);
    const b = kf(second);
    expect(a.size).toBeGreaterThan(0);
    expect([...b].filter((id) => a.has(id))).toEqual([]);
  }, 120_000);
});
