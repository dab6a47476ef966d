/**
 * Shot records through the real pipeline (issue 19 item 3): `vigil analyze` (the built CLI, the one
 * stream path) on a clip with known shots, a real nats-server, the real inference server, real
 * GStreamer decoding. The clip: 3 s of the pedestrian clip, a hard cut to the dog photo, a 1 s
 * dissolve (5-6 s) to the horses photo, a hard cut (8 s) to the person photo (3 s each, 640x360 at
 * 15 fps; 11 s in all).
 * One message per shot on `vigil.<stream>.shot`, valid against its schema, starting at the first
 * clean frame after each transition, with its representative keyframe and what was seen in it;
 * report.json lists the same shots.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ShotRecord } from '../../src/core/contracts.js';
import { startInferenceServer, type InferenceServer } from '../../src/infer/index.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { validateMessage } from '../../src/publish/schemas.js';
import { MODEL_REPO, requireFile, SAMPLES, VTEST } from '../helpers/paths.js';
import { runCli } from '../helpers/run-cli.js';

interface Report {
  counters: { keyframes: number; shotRecords: number };
  keyframes: { id: string; ptsNs: number; reason: string; detections: number }[];
  shots: ShotRecord[];
}

const FIT =
  'scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,fps=15,setsar=1';

describe('shot records (vigil.<stream>.shot) through the real pipeline', () => {
  let dir: string;
  let clip: string;
  let nats: LocalNatsServer | undefined;
  let infer: InferenceServer | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-shot-records-'));
    clip = join(dir, 'shots.mp4');
    const photo = (name: string) => ['-loop', '1', '-t', '3', '-i', requireFile(resolve(SAMPLES, name))];
    execFileSync('ffmpeg', [
      ...['-v', 'error', '-y', '-t', '3', '-i', requireFile(VTEST)],
      ...photo('dog.jpg'),
      ...photo('horses.jpg'),
      ...photo('person.jpg'),
      '-filter_complex',
      [
        ...[0, 1, 2, 3].map((i) => `[${i}:v]${FIT},trim=duration=3,settb=AVTB,setpts=PTS-STARTPTS[s${i}]`),
        '[s0][s1]concat=n=2:v=1:a=0,settb=AVTB[a]',
        // The dissolve: from 5 s to 6 s (the dog shot's last second under the horses' first).
        '[a][s2]xfade=transition=fade:duration=1:offset=5[b]',
        '[b][s3]concat=n=2:v=1:a=0[out]',
      ].join(';'),
      ...['-map', '[out]', '-an', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p'],
      ...['-r', '15', clip],
    ]);
    nats = await startNatsServer();
    infer = await startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
      logger: { info: () => undefined, warn: () => undefined },
    });
  }, 90_000);

  afterAll(async () => {
    await infer?.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('one record per shot: start after each transition, end where the next starts, its keyframe and what it saw; report.json lists them', async () => {
    const nc: NatsConnection = await connect({ servers: nats!.url });
    const messages: { subject: string; body: { data: ShotRecord } }[] = [];
    nc.subscribe('vigil.shots.shot', {
      callback: (err, msg) => {
        if (!err && messages.length < 1000) messages.push({ subject: msg.subject, body: msg.json() });
      },
    });
    try {
      await nc.flush();
      const out = join(dir, 'report');
      const r = await runCli(
        [
          ...['analyze', clip, '--name', 'shots', '--nats', nats!.url, '--infer', `127.0.0.1:${infer!.port}`],
          ...['--report', out, '--window-ms', '2000', '--quiet'],
        ],
        { timeoutMs: 120_000 },
      ).result;
      expect(r.code, r.stderr).toBe(0);
      await nc.flush();
      for (const m of messages) expect(validateMessage('shot', m.body), JSON.stringify(m.body)).toBeNull();
      const shots = messages.map((m) => m.body.data).sort((a, b) => a.index - b.index);
      const s = (ns: number) => ns / 1e9;
      // Four shots: the walk from 0, the dog from the cut at 3 s, the horses after the dissolve
      // (5-6 s), the person from the cut at 8 s.
      expect(
        shots.map((x) => [x.transition, s(x.startPtsNs).toFixed(1)]),
        JSON.stringify(shots),
      ).toHaveLength(4);
      expect(shots.map((x) => x.index)).toEqual([0, 1, 2, 3]);
      expect(shots[0]!.transition).toBe('first');
      expect(shots[0]!.startPtsNs).toBe(0);
      expect(shots[1]!.transition).toBe('cut');
      expect(Math.abs(s(shots[1]!.startPtsNs) - 3)).toBeLessThanOrEqual(0.2);
      expect(['dissolve', 'wipe', 'fade']).toContain(shots[2]!.transition);
      expect(s(shots[2]!.transitionStartPtsNs)).toBeGreaterThanOrEqual(4.5);
      expect(s(shots[2]!.startPtsNs)).toBeGreaterThanOrEqual(5.5);
      expect(s(shots[2]!.startPtsNs)).toBeLessThanOrEqual(6.5);
      expect(shots[3]!.transition).toBe('cut');
      expect(Math.abs(s(shots[3]!.startPtsNs) - 8)).toBeLessThanOrEqual(0.2);
      // Contiguous: each ends where the next transition starts; the last at the last frame.
      for (let i = 0; i + 1 < shots.length; i++)
        expect(shots[i]!.endPtsNs).toBe(shots[i + 1]!.transitionStartPtsNs);
      expect(s(shots[3]!.endPtsNs)).toBeGreaterThan(10.5);

      const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Report;
      expect(report.shots).toEqual(shots);
      expect(report.counters.shotRecords).toBe(4);
      for (const x of shots) {
        // The representative keyframe: a keyframe of the stream, inside the shot, within 1 s of its start.
        const kf = report.keyframes.find((k) => k.id === x.keyframeId);
        expect(kf, x.keyframeId).toBeDefined();
        expect(kf!.ptsNs).toBe(x.keyframePtsNs);
        expect(x.keyframePtsNs).toBeGreaterThanOrEqual(x.startPtsNs);
        expect(x.keyframePtsNs - x.startPtsNs).toBeLessThanOrEqual(1e9);
        // What was seen in it: its analysis' detections, as counts per label.
        const total = Object.values(x.counts).reduce((a, b) => a + b, 0);
        expect(total, x.keyframeId).toBe(kf!.detections);
      }
      expect(shots[0]!.counts['person'] ?? 0).toBeGreaterThan(0);
      expect(shots[1]!.counts['dog'] ?? 0).toBeGreaterThan(0);
      expect(shots[2]!.counts['horse'] ?? 0).toBeGreaterThan(0);
      expect(shots[3]!.counts['person'] ?? 0).toBeGreaterThan(0);
    } finally {
      await nc.drain().catch(() => nc.close());
    }
  }, 150_000);
});
