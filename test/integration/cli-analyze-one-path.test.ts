/**
 * `vigil analyze` runs its stream through the same manager as `vigil run` (issue 17 §2), on the real
 * stack: the built CLI, a real nats-server with user/password authentication, the real inference
 * server, the real RTSP test server (gst-rtsp-server), real GStreamer decoding.
 *
 * Regressions, issue 22:
 * - item 1: `vigil analyze rtsp://…` never got a frame (VIGIL_ERR_SOURCE_NO_FRAMES after 15 s)
 *   while `vigil run` played the same URL;
 * - item 7: `analyze --nats` could not use an authenticated NATS (credentials in the URL, or in
 *   VIGIL_NATS_USER / VIGIL_NATS_PASSWORD, gave VIGIL_ERR_NATS_AUTH); every command takes run's
 *   NATS options.
 * And: analyze publishes the service's subjects, keyframe messages included, and report.json lists
 * every keyframe with its time and reason.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInferenceServer, type InferenceServer } from '../../src/infer/index.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { validateMessage } from '../../src/publish/schemas.js';
import { MODEL_REPO, requireFile, VTEST } from '../helpers/paths.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';
import { runCli } from '../helpers/run-cli.js';

const USER = 'vigil';
const PASSWORD = 's3cret-pw';

interface Received {
  subject: string;
  body: { type: string; data: Record<string, unknown> };
}

/** An authenticated subscriber that keeps what arrives on `subject`. */
async function subscriber(url: string, subject: string) {
  const nc: NatsConnection = await connect({ servers: url, user: USER, pass: PASSWORD });
  const messages: Received[] = [];
  nc.subscribe(subject, {
    callback: (err, msg) => {
      if (!err && messages.length < 20_000) messages.push({ subject: msg.subject, body: msg.json() });
    },
  });
  return { messages, flush: () => nc.flush(), close: () => nc.drain().catch(() => nc.close()) };
}

interface Report {
  counters: { frames: number; keyframes: number };
  keyframes: { id: string; time: string; ptsNs: number; reason: string }[];
}

describe('vigil analyze: one path with vigil run', () => {
  let dir: string;
  let clip: string;
  let nats: LocalNatsServer | undefined;
  let infer: InferenceServer | undefined;
  let rtsp: RtspServer | undefined;
  let inferAddress: string;
  /** The same server with the credentials written in the URL. */
  let credentialUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-analyze-one-path-'));
    clip = join(dir, 'walk.avi');
    // 6 s of the pedestrian clip (stream copy: no re-encoding).
    execFileSync('ffmpeg', ['-v', 'error', '-t', '6', '-i', requireFile(VTEST), '-c', 'copy', clip]);
    nats = await startNatsServer({ auth: { user: USER, pass: PASSWORD } });
    credentialUrl = nats.url.replace('nats://', `nats://${USER}:${PASSWORD}@`);
    infer = await startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
      logger: { info: () => undefined, warn: () => undefined },
    });
    inferAddress = `127.0.0.1:${infer.port}`;
    rtsp = await startRtspServer();
  }, 90_000);

  afterAll(async () => {
    await rtsp?.stop();
    await infer?.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('issue 22 item 1: vigil analyze rtsp://… gets frames (it failed with VIGIL_ERR_SOURCE_NO_FRAMES)', async () => {
    let firstSummary!: () => void;
    const summarized = new Promise<void>((resolve) => (firstSummary = resolve));
    const run = runCli(
      [
        ...['analyze', rtsp!.url, '--name', 'cam', '--infer', inferAddress, '--window-ms', '1000'],
        ...['--report', join(dir, 'rtsp-report')],
      ],
      {
        timeoutMs: 90_000,
        onStdout: (chunk) => {
          if (chunk.includes('[summary window')) firstSummary();
        },
      },
    );
    // As a user runs it: its own local nats-server. Frames flow within seconds (the first frame
    // timeout is 15 s): a summary proves analysed frames.
    const outcome = await Promise.race([summarized.then(() => 'summary'), run.result.then(() => 'exited')]);
    if (outcome === 'exited') expect.fail(`analyze exited before a summary: ${(await run.result).stderr}`);
    run.child.kill('SIGINT');
    const r = await run.result;
    expect(r.timedOut).toBe(false);
    expect(r.stderr).not.toContain('VIGIL_ERR_SOURCE_NO_FRAMES');
    // A fast-mode analysis cut short by Ctrl-C: interrupted (130), with the counts of what it did.
    expect(r.code, r.stderr).toBe(130);
    const done = /interrupted after [\d.]+ s: (\d+) frames, (\d+) keyframes/.exec(r.stderr);
    expect(done, r.stderr).not.toBeNull();
    expect(Number(done![1])).toBeGreaterThan(0);
    expect(Number(done![2])).toBeGreaterThan(0);
  }, 120_000);

  it('issue 22 item 7: analyze --nats with credentials in the URL publishes to an authenticated NATS; the service subjects, keyframes included, and every keyframe in report.json', async () => {
    const received = await subscriber(nats!.url, 'vigil.walk.>');
    try {
      const out = join(dir, 'report');
      const r = await runCli(
        [
          'analyze',
          clip,
          '--nats',
          credentialUrl,
          '--infer',
          inferAddress,
          '--report',
          out,
          '--window-ms',
          '2000',
        ],
        { timeoutMs: 120_000 },
      ).result;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain(PASSWORD);
      expect(r.stdout).not.toContain(PASSWORD);
      await received.flush();
      const subjects = new Set(received.messages.map((m) => m.subject));
      for (const s of [
        'vigil.walk.keyframe',
        'vigil.walk.detections',
        'vigil.walk.status',
        'vigil.walk.summary.window',
      ])
        expect(subjects, s).toContain(s);
      for (const m of received.messages) {
        const kind = m.subject.split('.')[2] as 'keyframe' | 'detections' | 'status' | 'summary' | 'event';
        expect(validateMessage(kind, m.body), m.subject).toBeNull();
      }
      const published = received.messages
        .filter((m) => m.subject === 'vigil.walk.keyframe')
        .map((m) => m.body.data as { keyframeId: string; reason: string; ptsNs: number });

      const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Report;
      expect(report.counters.keyframes).toBeGreaterThan(1);
      // Every keyframe the stream took, in order, with its time and reason; the same as published.
      expect(report.keyframes).toHaveLength(report.counters.keyframes);
      expect(report.keyframes.map((k) => k.id)).toEqual(published.map((k) => k.keyframeId));
      report.keyframes.forEach((k, i) => {
        expect(k.time).toMatch(/^\d\d:\d\d$/);
        expect(['first', 'motion', 'scene-cut', 'max-interval']).toContain(k.reason);
        expect(k.reason).toBe(published[i]!.reason);
        if (i > 0) expect(k.ptsNs).toBeGreaterThan(report.keyframes[i - 1]!.ptsNs);
      });
      expect(report.keyframes[0]!.reason).toBe('first');
      expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(
        /## Keyframes\n\n\| Time \| Keyframe \| Reason/,
      );
    } finally {
      await received.close();
    }
  }, 130_000);

  it('issue 22 item 7: VIGIL_NATS_USER / VIGIL_NATS_PASSWORD work for analyze and tail alike; a wrong password is VIGIL_ERR_NATS_AUTH (exit 5)', async () => {
    const env = { VIGIL_NATS_USER: USER, VIGIL_NATS_PASSWORD: PASSWORD };
    const tail = runCli(['tail', 'walk2', '--type', 'summary', '--nats', nats!.url, '--max', '1'], {
      timeoutMs: 120_000,
      env,
    });
    await new Promise<void>((resolve) => tail.child.stderr!.once('data', () => resolve()));
    const r = await runCli(
      [
        ...['analyze', clip, '--name', 'walk2', '--nats', nats!.url, '--infer', inferAddress, '--quiet'],
        ...['--report', join(dir, 'walk2-report')],
      ],
      { timeoutMs: 120_000, env },
    ).result;
    expect(r.code, r.stderr).toBe(0);
    const t = await tail.result;
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^walk2 \[summary/);

    const wrong = await runCli(
      [
        ...['analyze', clip, '--nats', nats!.url, '--infer', inferAddress, '--quiet'],
        ...['--report', join(dir, 'wrong-report')],
      ],
      {
        timeoutMs: 60_000,
        env: { ...env, VIGIL_NATS_PASSWORD: 'wrong-pw' },
      },
    ).result;
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toContain('VIGIL_ERR_NATS_AUTH');
    expect(wrong.stderr).not.toContain('wrong-pw');
  }, 200_000);
});
