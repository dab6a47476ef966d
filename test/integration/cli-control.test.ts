/**
 * The built CLI end to end: `vigil run --config` as a service (its own local nats-server and
 * inference server), then `attach`, `ls`, `tail`, `detach` against it, with the documented exit
 * codes; a bad config file; `analyze` writing its JSON + Markdown report with evidence images.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.js';
import { MODEL_REPO, requireFile, VTEST } from '../helpers/paths.js';

const TOKEN = 'cli-token-123456';
const STACK_LINE = /^\s+at .+\(.+:\d+:\d+\)$/m;

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

describe('vigil run + attach / ls / tail / detach', () => {
  let dir: string;
  let service: ReturnType<typeof runCli>;
  let controlUrl: string;
  let natsUrl: string;
  const env = { VIGIL_CONTROL_TOKEN: TOKEN };
  const cli = (args: string[], extra: NodeJS.ProcessEnv = env) =>
    runCli(args, { timeoutMs: 30_000, env: extra }).result;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-cli-run-'));
    const config = join(dir, 'vigil.yaml');
    writeFileSync(
      config,
      `inference: { modelRepository: ${JSON.stringify(requireFile(MODEL_REPO))} }\ncontrol: { port: 0 }\nanalyzer: { maxStreams: 4, windowMs: 1000 }\n`,
    );
    let stderr = '';
    let ready!: () => void;
    const up = new Promise<void>((r) => (ready = r));
    service = runCli(['run', '--config', config], { timeoutMs: 120_000, env });
    service.child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const c = /control API and live view at (http:\/\/[^\s]+)/.exec(stderr);
      const n = /started nats-server at (nats:\/\/[^\s]+)/.exec(stderr);
      if (c && n && /running;/.test(stderr)) {
        controlUrl = c[1]!;
        natsUrl = n[1]!;
        ready();
      }
    });
    await up;
  }, 60_000);

  afterAll(async () => {
    if (service && service.child.exitCode === null) service.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('attach, duplicate, ls, tail, detach, unknown stream, wrong token: documented exit codes', async () => {
    const server = ['--server', controlUrl];
    // tail first: it sees the stream come up (status) and its first keyframe.
    const tailRun = runCli(
      ['tail', 'cam', '--type', 'keyframe', '--type', 'status', '--nats', natsUrl, '--max', '3'],
      { timeoutMs: 30_000, env },
    );
    await new Promise<void>((resolve) => tailRun.child.stderr!.once('data', () => resolve()));
    const a = await cli(['attach', 'test:ball', '--name', 'cam', ...server]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/^attached cam \(test:ball\): connecting/);
    const t = await tailRun.result;
    expect(t.code, t.stderr).toBe(0);
    const lines = t.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^cam \[status\] connecting/);
    for (const l of lines) expect(l).toMatch(/^cam \[(keyframe \d\d:\d\d\] cam:|status\] )/);

    const dup = await cli(['attach', 'test:ball', '--name', 'cam', ...server]);
    expect(dup.code).toBe(4);
    expect(dup.stderr).toMatch(/already attached.*\[VIGIL_ERR_STREAM_EXISTS\]/);
    expect(dup.stderr).not.toMatch(STACK_LINE);

    const badName = await cli(['attach', 'test:ball', '--name', 'no spaces', ...server]);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('VIGIL_ERR_INVALID_ARGUMENT');

    const ls = await cli(['ls', ...server]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^NAME\s+STATE\s+FPS\s+LATENCY/);
    expect(ls.stdout).toMatch(/\ncam\s+live\s+\d+\.\d/);
    expect(ls.stdout).toMatch(/1 of at most 4 streams/);
    const lsJson = JSON.parse((await cli(['ls', '--json', ...server])).stdout) as {
      streams: { id: string }[];
    };
    expect(lsJson.streams.map((s) => s.id)).toEqual(['cam']);

    const unauthorized = await cli(['ls', ...server], { VIGIL_CONTROL_TOKEN: 'wrong-token-xyz' });
    expect(unauthorized.code).toBe(5);
    expect(unauthorized.stderr).toContain('VIGIL_ERR_UNAUTHORIZED');

    const ghost = await cli(['detach', 'ghost', ...server]);
    expect(ghost.code).toBe(3);
    expect(ghost.stderr).toMatch(/no stream named "ghost" \[VIGIL_ERR_STREAM_NOT_FOUND\]/);

    const d = await cli(['detach', 'cam', ...server]);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/^detached cam after \d+ frames/);

    const down = await cli(['ls', '--server', 'http://127.0.0.1:9']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach the analyzer at http:\/\/127\.0\.0\.1:9/);
  }, 60_000);

  it('stops on SIGINT with exit 0 and leaves no child process', async () => {
    const kids = childrenOf(service.child.pid!);
    expect(kids.length).toBeGreaterThan(0); // the local nats-server
    service.child.kill('SIGINT');
    const r = await service.result;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/vigil: stopping/);
    for (const pid of kids) expect(() => process.kill(pid, 0)).toThrow();
  }, 30_000);
});

describe('vigil run with a bad config file', () => {
  it('names the key path and what was expected, exit 2, no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-badcfg-'));
    try {
      const file = join(dir, 'vigil.yaml');
      writeFileSync(file, 'control:\n  prot: 8080\nstreams:\n  - id: door\n    url: 42\n');
      const r = await runCli(['run', '--config', file], { timeoutMs: 20_000 }).result;
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/control\.prot: unknown key/);
      expect(r.stderr).toMatch(/streams\[0\]\.url: expected a non-empty string, got number 42/);
      expect(r.stderr).toContain('VIGIL_ERR_CONFIG');
      expect(r.stderr).not.toMatch(STACK_LINE);
      const missing = await runCli(['run', '--config', join(dir, 'nope.yaml')]).result;
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/cannot read config file .*nope\.yaml/);
      expect((await runCli(['run']).result).code).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every subcommand has --help with examples', async () => {
    for (const cmd of ['demo', 'analyze', 'run', 'attach', 'detach', 'ls', 'tail', 'infer-server']) {
      const r = await runCli([cmd, '--help']).result;
      expect(r.code, cmd).toBe(0);
      expect(r.stdout).toMatch(/Usage: vigil/);
      expect(r.stdout).toMatch(/Examples:\n {2}vigil /);
      expect(r.stdout).toMatch(/Exit codes:/);
    }
  });
});

describe('vigil analyze report', () => {
  it('analyzes a short clip fast and writes a JSON + Markdown report with timeline, events and evidence', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-report-'));
    try {
      const clip = join(dir, 'walk.avi');
      // 8 s of the pedestrian clip (stream copy: no re-encoding).
      execFileSync('ffmpeg', ['-v', 'error', '-t', '8', '-i', requireFile(VTEST), '-c', 'copy', clip]);
      const out = join(dir, 'report');
      const r = await runCli(['analyze', clip, '--report', out, '--window-ms', '2000'], {
        timeoutMs: 120_000,
      }).result;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/vigil: progress 100%/);
      expect(r.stderr).toMatch(/report written to .*report\.json and .*report\.md/);
      const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
        streamId: string;
        speed: number;
        timeline: { start: string; text: string }[];
        events: { type: string; evidenceImage: string | null }[];
        summaries: unknown[];
        evidence: { file: string }[];
        counters: { frames: number };
      };
      expect(report.streamId).toBe('walk');
      expect(report.counters.frames).toBeGreaterThan(70);
      expect(report.timeline.length).toBeGreaterThanOrEqual(3);
      expect(report.timeline[0]!.start).toBe('00:00');
      expect(report.timeline.some((t) => /person/.test(t.text))).toBe(true);
      expect(report.events.length).toBeGreaterThan(0);
      expect(report.evidence.length).toBeGreaterThan(0);
      for (const e of report.evidence) {
        const jpg = readFileSync(join(out, e.file));
        expect([jpg[0], jpg[1]]).toEqual([0xff, 0xd8]);
      }
      expect(report.speed).toBeGreaterThan(0);
      const md = readFileSync(join(out, 'report.md'), 'utf8');
      expect(md).toMatch(/^# Vigil analysis: walk/);
      expect(md).toMatch(/## Timeline\n\n\| From \| To \| What happened \|/);
      expect(md).toMatch(/!\[walk:[^\]]+\]\(evidence\/[^)]+\.jpg\)/);
      expect(existsSync(join(out, 'evidence'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 130_000);
});
