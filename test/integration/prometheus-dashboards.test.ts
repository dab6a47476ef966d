/**
 * The whole observability path on the real thing: an analyzer replica process runs two live RTSP
 * streams (local gst-rtsp-server) through the real inference server (YOLOv8n on onnxruntime) and
 * NATS; a real Prometheus (from apt) scrapes both with deploy/prometheus.yml's jobs and
 * deploy/alerts.yml; then every query of every Grafana panel is evaluated through Prometheus' HTTP
 * API and must return data. promtool checks the real /metrics output of both processes.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DesiredStreams } from '../../src/cluster/index.js';
import { startInferenceServer, type InferenceServer } from '../../src/infer/index.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { MODEL_REPO, requireFile, ROOT } from '../helpers/paths.js';
import { freePort, startReplicaProcess, type ReplicaProcess } from '../helpers/replica-process.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';

interface Panel {
  title: string;
  targets: { refId: string; expr: string }[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: { query: string } | string }[] };
}

const DASHBOARDS = resolve(ROOT, 'grafana/dashboards');
const RUN_MS = 20_000;

async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('Prometheus scrapes a real two-stream run; every dashboard panel has data', () => {
  let nats: LocalNatsServer;
  let infer: InferenceServer;
  let rtsp: RtspServer;
  let replica: ReplicaProcess;
  let admin: NatsConnection;
  let prom: ChildProcess | undefined;
  let promUrl = '';
  let promDir = '';
  let analyzerMetrics = '';
  let inferMetrics = '';

  const api = async (path: string, params: Record<string, string>) => {
    const res = await fetch(`${promUrl}${path}?${new URLSearchParams(params).toString()}`);
    const body = (await res.json()) as { status: string; data: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    infer = await startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
      metricsPort: 0,
    });
    rtsp = await startRtspServer({ width: 320, height: 240, fps: 10 });
    admin = await connect({ servers: nats.url });
    const desired = await DesiredStreams.open(admin);
    // Short windows and keyframe intervals so that a 20 s run has summaries and steady inference.
    for (const id of ['lobby', 'dock']) {
      await desired.put({ id, url: rtsp.url, windowMs: 2000, keyframes: { maxIntervalMs: 1000 } });
    }
    replica = await startReplicaProcess({
      VIGIL_NATS_URL: nats.url,
      VIGIL_INFER_ADDRESSES: `127.0.0.1:${infer.port}`,
      VIGIL_REPLICA_ID: 'replica-1',
      VIGIL_LEASE_MS: '3000',
    });

    // Prometheus with the shipped config: same jobs and rules, local targets, 1 s scrapes.
    promDir = mkdtempSync(join(tmpdir(), 'vigil-prom-'));
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
    config.rule_files = config.rule_files.map((f) => resolve(ROOT, 'deploy', f));
    const targets: Record<string, string> = {
      'vigil-analyzer': `127.0.0.1:${replica.metricsPort}`,
      'vigil-infer': `127.0.0.1:${infer.metricsPort}`,
    };
    for (const job of config.scrape_configs) {
      expect(targets[job.job_name], `a local target for job ${job.job_name}`).toBeDefined();
      delete job.dns_sd_configs;
      job.static_configs = [{ targets: [targets[job.job_name]!] }];
    }
    writeFileSync(join(promDir, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(promDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: 'ignore' },
    );
    await until('prometheus ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, 20_000);
    // Let the run produce detections, events and summaries on both streams, scraped every second.
    await until(
      'both streams analysed',
      async () => {
        const r = (await api('/api/v1/query', {
          query: 'sum by (stream) (vigil_stream_inference_total{result="ok"}) > 2',
        })) as { result: unknown[] };
        return r.result.length === 2;
      },
      60_000,
    );
    await new Promise((r) => setTimeout(r, RUN_MS / 2));
    analyzerMetrics = await (await fetch(`http://127.0.0.1:${replica.metricsPort}/metrics`)).text();
    inferMetrics = await (await fetch(`http://127.0.0.1:${infer.metricsPort}/metrics`)).text();
  }, 150_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
    if (promDir) rmSync(promDir, { recursive: true, force: true });
    await replica?.stop();
    await admin?.close();
    await rtsp?.stop();
    await infer?.close();
    await nats?.stop();
  });

  it('promtool check metrics passes on the real /metrics of the analyzer and the inference server', () => {
    for (const [name, text] of [
      ['analyzer', analyzerMetrics],
      ['inference server', inferMetrics],
    ] as const) {
      expect(text.length, name).toBeGreaterThan(100);
      try {
        execFileSync('promtool', ['check', 'metrics'], { input: text, stdio: 'pipe', timeout: 20_000 });
      } catch (err) {
        const e = err as { stdout?: Buffer; stderr?: Buffer };
        throw new Error(`promtool check metrics (${name}):\n${e.stdout?.toString()}${e.stderr?.toString()}`);
      }
    }
    // Labels carry stream ids only: the RTSP URL (and any credentials) never appears.
    expect(analyzerMetrics).not.toContain('rtsp://');
    expect(analyzerMetrics).toMatch(/^vigil_stream_frames_total\{stream="lobby"\} \d+/m);
  });

  it('Prometheus scrapes both jobs and loads every alert rule without errors', async () => {
    const t = (await api('/api/v1/targets', {})) as {
      activeTargets: { labels: { job: string }; health: string }[];
    };
    const health = Object.fromEntries(t.activeTargets.map((x) => [x.labels.job, x.health]));
    expect(health).toEqual({ 'vigil-analyzer': 'up', 'vigil-infer': 'up' });
    const rules = (await api('/api/v1/rules', {})) as {
      groups: { rules: { name: string; health: string; lastError?: string }[] }[];
    };
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.length).toBeGreaterThanOrEqual(5);
    for (const r of all) expect(r.health, `${r.name}: ${r.lastError ?? ''}`).toBe('ok');
    // A healthy run trips none of the availability alerts, not even as pending. (Latency, drops
    // and event-loop lag depend on how loaded this machine is, so they are not asserted here.)
    const alerts = (await api('/api/v1/alerts', {})) as { alerts: { labels: { alertname: string } }[] };
    const availability = [
      'VigilStreamDown',
      'VigilInferenceUnavailable',
      'VigilInferenceServerDown',
      'VigilAnalyzerDown',
      'VigilStreamsUnclaimed',
    ];
    expect(alerts.alerts.map((a) => a.labels.alertname).filter((n) => availability.includes(n))).toEqual([]);
  });

  const files = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'));
  it.each(files)('every panel query of %s returns data', async (file) => {
    const dash = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as Dashboard;
    // Variable values the way Grafana finds them: label_values(metric, label) through the API.
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
    // Each combination that matters: every value of single-value variables, `.*` for the others.
    const singles = Object.keys(values).filter((k) => !/instance|model/.test(k));
    const combos: Record<string, string>[] = singles.length
      ? values[singles[0]!]!.map((v) => ({ [singles[0]!]: v }))
      : [{}];
    const failures: string[] = [];
    for (const combo of combos) {
      for (const panel of dash.panels) {
        for (const target of panel.targets) {
          let expr = target.expr.replaceAll('$__rate_interval', '10s').replaceAll('$__range', '1m');
          for (const name of Object.keys(values)) {
            expr = expr.replaceAll(`$${name}`, combo[name] ?? '.*');
          }
          const r = (await api('/api/v1/query', { query: expr })) as {
            result: { value: [number, string] }[];
          };
          const finite = r.result.filter((s) => Number.isFinite(Number(s.value[1])));
          if (finite.length === 0)
            failures.push(`${panel.title} [${target.refId}] ${JSON.stringify(combo)}: ${expr}`);
        }
      }
    }
    expect(failures, `queries without data in ${dash.title}`).toEqual([]);
  });
});
