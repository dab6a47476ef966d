/**
 * Regression (#22 item 12): a real Prometheus scrapes real `vigil run` processes (the built
 * bin/vigil.js) on loopback and random ports, with deploy/prometheus.yml's jobs and the shipped
 * alert rules (a test copy whose only change is `for: 0s`, so the run stays short; every expression
 * is the shipped one).
 *
 *   run A: `vigil run` with its own local inference server (no inference.address), three streams:
 *          `cam` from the RTSP test server, `ball` from a live test source, `clip` a 3 s file that
 *          plays to its end. Its /metrics must carry the inference server's vigil_infer_* series.
 *   run B: `vigil run` against an external inference server X (scraped as job vigil-infer), through
 *          a proxy that can delay X's replies.
 *
 * First every panel query of every Grafana dashboard must return data and no availability alert
 * may fire (the completed `clip` is not down). Then each condition is induced for real and its
 * alert must fire: the RTSP server is killed (VigilStreamDown, VigilStreamFpsBelowTarget), run A is
 * starved of CPU by SIGSTOP/SIGCONT cycles (VigilEventLoopLag), X's replies are delayed 2.5 s
 * (VigilLatencyAboveTarget, VigilFramesDropped: keyframes past their deadline), NATS is stopped
 * (VigilPublishStalled), X is closed (VigilInferenceServerDown, VigilInferenceUnavailable) and run B
 * is killed (VigilAnalyzerDown). VigilStreamsUnclaimed reads the cluster's metrics, which only
 * replicas have (`vigil run` is no cluster member); promtool's unit tests cover it
 * (deploy/alerts.test.yml).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startInferenceServer, type InferenceServer } from '../../src/infer/index.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { startDelayProxy, type DelayProxy } from '../helpers/delay-proxy.js';
import { MODEL_REPO, requireFile, ROOT } from '../helpers/paths.js';
import { freePort } from '../helpers/replica-process.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';

const DASHBOARDS = resolve(ROOT, 'grafana/dashboards');
const TOKEN = 'prometheus-test-token';
/** Alerts only replicas of a cluster can raise (their metrics exist only there). */
const CLUSTER_ONLY = ['VigilStreamsUnclaimed'];

interface Panel {
  title: string;
  targets: { refId: string; expr: string }[];
}
interface Dashboard {
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: { query: string } | string }[] };
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface VigilRun {
  child: ChildProcess;
  /** host:port of its control server (/metrics). */
  target: string;
  stderr(): string;
  /** SIGCONT, SIGTERM, SIGKILL after 8 s; idempotent. */
  stop(): Promise<void>;
}

/** `vigil run --config FILE` from dist/ (run `npm run build` first); resolves once it serves. */
async function startVigilRun(dir: string, name: string, config: unknown): Promise<VigilRun> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  const child = spawn(process.execPath, [resolve(ROOT, 'bin/vigil.js'), 'run', '--config', file], {
    cwd: ROOT,
    env: { ...process.env, VIGIL_CONTROL_TOKEN: TOKEN },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = (() => {
    let stopping: Promise<void> | undefined;
    return () => {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGCONT');
        const killer = setTimeout(() => child.kill('SIGKILL'), 8000);
        child.kill('SIGTERM');
        await exited;
        clearTimeout(killer);
      })();
      return stopping;
    };
  })();
  const lines = createInterface({ input: child.stderr! });
  const target = await new Promise<string>((done, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`vigil run ${name} did not serve in 60 s: ${err}`)),
      60_000,
    );
    void exited.then(() => {
      clearTimeout(timer);
      fail(new Error(`vigil run ${name} exited early: ${err}`));
    });
    lines.on('line', (line) => {
      err = (err + line + '\n').slice(-8000);
      const m = /control API.* at http:\/\/(127\.0\.0\.1:\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        done(m[1]!);
      }
    });
  }).catch(async (e: unknown) => {
    await stop();
    throw e;
  });
  return { child, target, stderr: () => err, stop };
}

describe('regression (#22 item 12): Prometheus scrapes `vigil run`; every panel has data, every alert fires when induced', () => {
  const started: { close(): Promise<unknown> }[] = [];
  let dir = '';
  let nats: LocalNatsServer;
  let rtsp: RtspServer;
  let infer: InferenceServer;
  let proxy: DelayProxy;
  let runA: VigilRun;
  let runB: VigilRun;
  let prom: ChildProcess | undefined;
  let promUrl = '';
  let starver: NodeJS.Timeout | undefined;

  const api = async (path: string, params: Record<string, string>) => {
    const res = await fetch(`${promUrl}${path}?${new URLSearchParams(params).toString()}`);
    const body = (await res.json()) as { status: string; data: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  };
  const query = async (q: string) =>
    (
      (await api('/api/v1/query', { query: q })) as {
        result: { metric: Record<string, string>; value: [number, string] }[];
      }
    ).result;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-prom-run-'));
    nats = await startNatsServer();
    started.push({ close: () => nats.stop() });
    rtsp = await startRtspServer({ width: 320, height: 240, fps: 10 });
    started.push({ close: () => rtsp.stop() });
    infer = await startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
      metricsPort: 0,
    });
    started.push({ close: () => infer.close() });
    proxy = await startDelayProxy(infer.port);
    started.push(proxy);
    // A 3 s clip that plays to its end (completed, never "down").
    const clip = join(dir, 'clip.mkv');
    execFileSync('gst-launch-1.0', [
      '-q',
      ...'videotestsrc num-buffers=30 pattern=ball ! video/x-raw,width=160,height=120,framerate=10/1 ! videoconvert ! x264enc speed-preset=ultrafast ! matroskamux !'.split(
        ' ',
      ),
      'filesink',
      `location=${clip}`,
    ]);
    const common = {
      nats: { servers: [nats.url] },
      control: { host: '127.0.0.1', port: 0 },
      web: { enabled: false },
      analyzer: { windowMs: 1000 },
    };
    const kf = { minIntervalMs: 200, maxIntervalMs: 1000 };
    runA = await startVigilRun(dir, 'a', {
      ...common,
      inference: { modelRepository: MODEL_REPO },
      streams: [
        { id: 'cam', url: rtsp.url, keyframes: kf },
        { id: 'ball', url: 'test:ball?width=160&height=120&fps=10', keyframes: kf },
        { id: 'clip', url: clip, live: false, keyframes: kf },
      ],
    });
    started.push({ close: () => runA.stop() });
    runB = await startVigilRun(dir, 'b', {
      ...common,
      inference: { address: `127.0.0.1:${proxy.port}` },
      streams: [
        {
          id: 'gate',
          url: 'test:ball?width=160&height=120&fps=5',
          keyframes: kf,
          inferQueue: 1,
          maxKeyframeAgeMs: 1000,
        },
      ],
    });
    started.push({ close: () => runB.stop() });

    // Prometheus with the shipped config and rules; only `for:` is 0 s and the targets are local.
    const promDir = join(dir, 'prom');
    const config = parse(readFileSync(resolve(ROOT, 'deploy/prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      scrape_configs: {
        job_name: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: unknown;
      }[];
    };
    config.global.scrape_interval = '1s';
    config.global.evaluation_interval = '1s';
    const rules = readFileSync(resolve(ROOT, 'deploy/alerts.yml'), 'utf8').replace(
      /^(\s+)for: \S+$/gm,
      '$1for: 0s',
    );
    writeFileSync(join(dir, 'alerts.yml'), rules);
    config.rule_files = [join(dir, 'alerts.yml')];
    const targets: Record<string, string[]> = {
      'vigil-analyzer': [runA.target, runB.target],
      'vigil-infer': [`127.0.0.1:${infer.metricsPort}`],
    };
    for (const job of config.scrape_configs) {
      expect(targets[job.job_name], `a local target for job ${job.job_name}`).toBeDefined();
      delete job.dns_sd_configs;
      job.static_configs = [{ targets: targets[job.job_name]! }];
    }
    writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: 'ignore' },
    );
    const p = prom;
    started.push({
      close: async () => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await exited;
      },
    });
    await until('prometheus ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, 20_000);
    let seen = '';
    await until(
      'every stream analysed, the clip completed, gate analysed',
      async () => {
        const ok = await query('sum by (stream) (vigil_stream_inference_total{result="ok"}) > 1');
        const done = await query('vigil_stream_completed{stream="clip"} == 1');
        const summaries = await query('sum by (stream) (vigil_stream_summaries_total) > 0');
        seen = `ok ${ok.map((x) => x.metric.stream).join(',')}; completed ${done.length}; summaries ${summaries.map((x) => x.metric.stream).join(',')}`;
        return ok.length === 4 && done.length === 1 && summaries.length >= 3;
      },
      120_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)} (${seen}); A: ${runA.stderr()}; B: ${runB.stderr()}`);
    });
    // A few more scrapes so that rates over the dashboards' ranges have two points everywhere.
    await new Promise((r) => setTimeout(r, 3000));
  }, 180_000);

  afterAll(async () => {
    if (starver) clearInterval(starver);
    for (const s of started.reverse()) await s.close().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("`vigil run` serves the local inference server's metrics on its own /metrics, each name once", async () => {
    const res = await fetch(`http://${runA.target}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/^vigil_infer_requests_total\{model="yolov8n",version="1"\} [1-9]/m);
    expect(text).toMatch(/^vigil_stream_frames_total\{stream="cam"\} \d+/m);
    const types = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    expect(types.length).toBeGreaterThan(40);
    expect(new Set(types).size).toBe(types.length);
    execFileSync('promtool', ['check', 'metrics'], { input: text, stdio: 'pipe', timeout: 20_000 });
  });

  it('every panel query of every dashboard returns data; no availability alert fires (the completed clip is not down)', async () => {
    const failures: string[] = [];
    for (const file of readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))) {
      const dash = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as Dashboard;
      const values: Record<string, string[]> = {};
      for (const v of dash.templating.list) {
        if (v.type !== 'query') continue;
        const q = typeof v.query === 'string' ? v.query : v.query!.query;
        const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(q);
        expect(m, `${v.name}: ${q}`).not.toBeNull();
        const series = (await api('/api/v1/series', { 'match[]': m![1]! })) as Record<string, string>[];
        values[v.name] = [...new Set(series.map((s) => s[m![2]!]!).filter(Boolean))].sort();
        expect(values[v.name]!.length, `variable ${v.name} has values`).toBeGreaterThan(0);
      }
      // Single-value variables (stream) take each of their values; instance and model take `.*`.
      const singles = Object.keys(values).filter((k) => !/instance|model/.test(k));
      const combos: Record<string, string>[] = singles.length
        ? values[singles[0]!]!.map((v) => ({ [singles[0]!]: v }))
        : [{}];
      for (const combo of combos) {
        // A completed file delivers no frames any more: its rate panels are rightly empty-or-zero,
        // so the stream dashboard is checked for the live streams.
        if (combo.stream === 'clip') continue;
        for (const panel of dash.panels) {
          for (const target of panel.targets) {
            let expr = target.expr.replaceAll('$__rate_interval', '10s').replaceAll('$__range', '1m');
            for (const name of Object.keys(values)) expr = expr.replaceAll(`$${name}`, combo[name] ?? '.*');
            // Cluster panels read replicas' metrics: `vigil run` is no cluster member.
            if (/vigil_cluster_/.test(expr)) continue;
            const r = await query(expr);
            if (!r.some((s) => Number.isFinite(Number(s.value[1]))))
              failures.push(
                `${dash.title} / ${panel.title} [${target.refId}] ${JSON.stringify(combo)}: ${expr}`,
              );
          }
        }
      }
    }
    expect(failures).toEqual([]);
    const firing = await query(
      'ALERTS{alertname=~"VigilStreamDown|VigilInferenceUnavailable|VigilInferenceServerDown|VigilAnalyzerDown"}',
    );
    expect(firing.map((s) => `${s.metric.alertname} ${s.metric.stream ?? ''}`)).toEqual([]);
  });

  it('every alert rule fires when its condition is induced', async () => {
    const fired = async (alert: string, labels: Record<string, string>) => {
      const sel = Object.entries({ alertname: alert, alertstate: 'firing', ...labels })
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      return (await query(`max_over_time(ALERTS{${sel}}[10m])`)).length > 0;
    };
    const a = { instance: runA.target };
    const b = { instance: runB.target };
    // The camera's server dies; run A is starved of CPU (runs 100 ms in every 500 ms); X's replies
    // to run B take 2.5 s; NATS goes away.
    await rtsp.kill();
    let stopped = false;
    starver = setInterval(() => {
      stopped = !stopped;
      runA.child.kill(stopped ? 'SIGSTOP' : 'SIGCONT');
    }, 250);
    proxy.setDelay(2500);
    await nats.stop();
    const want: [string, Record<string, string>][] = [
      ['VigilStreamDown', { ...a, stream: 'cam' }],
      ['VigilStreamFpsBelowTarget', { ...a, stream: 'cam' }],
      ['VigilEventLoopLag', a],
      ['VigilLatencyAboveTarget', { ...b, stream: 'gate' }],
      ['VigilFramesDropped', { ...b, stream: 'gate' }],
      ['VigilPublishStalled', b],
    ];
    const missing = async () => {
      const out: string[] = [];
      for (const [name, labels] of want)
        if (!(await fired(name, labels))) out.push(`${name} ${JSON.stringify(labels)}`);
      return out;
    };
    await until('the first alerts', async () => (await missing()).length === 0, 60_000).catch(async () => {
      throw new Error(`not fired: ${(await missing()).join('; ')}`);
    });
    clearInterval(starver);
    starver = undefined;
    runA.child.kill('SIGCONT');
    // The inference server goes away: unreachable for Prometheus, analyses degraded; then run B dies.
    await infer.close();
    want.push(['VigilInferenceServerDown', { job: 'vigil-infer' }], ['VigilInferenceUnavailable', b]);
    await until('inference alerts', async () => (await missing()).length === 0, 45_000).catch(async () => {
      throw new Error(`not fired: ${(await missing()).join('; ')}`);
    });
    runB.child.kill('SIGKILL');
    want.push(['VigilAnalyzerDown', b]);
    await until('analyzer down', async () => (await missing()).length === 0, 20_000).catch(async () => {
      throw new Error(`not fired: ${(await missing()).join('; ')}`);
    });
    // The completed clip never counted as down, through all of it.
    expect(await fired('VigilStreamDown', { ...a, stream: 'clip' })).toBe(false);
    // Every shipped rule was shown to fire, except those only a cluster replica can raise.
    const shipped = (
      parse(readFileSync(resolve(ROOT, 'deploy/alerts.yml'), 'utf8')) as {
        groups: { rules: { alert: string }[] }[];
      }
    ).groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(shipped.filter((n) => !CLUSTER_ONLY.includes(n)).sort()).toEqual(
      [...new Set(want.map((w) => w[0]))].sort(),
    );
  }, 150_000);
});
