/**
 * Security end to end.
 *
 * 1. Secrets never leak: a real `vigil run --config` process talks to NATS with a user/password
 *    over TLS, serves its control API behind a bearer token, and analyses an RTSP camera that
 *    needs a password, beside one configured with a wrong password. Every line it logs, every
 *    NATS message on any subject, every control API answer and error (HTTP and NATS, attach of
 *    more password-carrying URLs, malformed ones, duplicates, unknown ids), and every metric of an
 *    instrumented analyzer on the same cameras are searched for each secret (plain, and base64 in
 *    `user:password` form as a Basic header would carry it): none appears anywhere.
 * 2. The control API refuses requests without the token, or with a wrong one: HTTP 401 and the
 *    same over NATS request-reply.
 * 3. gRPC mTLS end to end: a real analyzer run through an inference server that requires client
 *    certificates (certificates from openssl at test time) gets analyses; a client without a
 *    certificate gets none (degraded), and NATS auth + TLS carry the results.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { analyzeWith } from '../../src/analyzer/analyze.js';
import { createManager } from '../../src/analyzer/manager.js';
import { controlRequest } from '../../src/control/nats.js';
import { InferenceClient } from '../../src/infer/client.js';
import { createDetector } from '../../src/infer/detector.js';
import { AnalyzerMetrics, instrumentManagerDeps, observeManager } from '../../src/observability/index.js';
import { connectNats, type NatsClientOptions } from '../../src/publish/connection.js';
import { createPublisher } from '../../src/publish/nats-publisher.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { fastFrameSource, sleep, until, withoutModel } from '../helpers/faults-env.js';
import { makePki, spawnInferenceServer, yoloOnlyRepo, type Pki } from '../helpers/faults-infer.js';
import { ROOT } from '../helpers/paths.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';

const RTSP_USER = 'viewer';
const RTSP_PW = 'RtspPw7d41c9';
const WRONG_PW = 'WrongPw88e2a1';
const API_PW = 'ApiPw5b0f33';
const NATS_PW = 'NatsPw2c7e90';
const CONTROL_TOKEN = 'CtlTok9a1d6e4f';
const SECRETS = [RTSP_PW, WRONG_PW, API_PW, NATS_PW, CONTROL_TOKEN];
/** Each secret as it could leak: plain, and inside a base64 `user:password` (a Basic header). */
const FORMS = [
  ...SECRETS,
  ...[RTSP_PW, WRONG_PW, API_PW].map((pw) => Buffer.from(`${RTSP_USER}:${pw}`).toString('base64')),
  Buffer.from(`vigil:${NATS_PW}`).toString('base64'),
];

let pki: Pki;
let nats: LocalNatsServer;
let rtsp: RtspServer;
let repo: string;
let natsClient: NatsClientOptions;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  pki = await makePki();
  repo = yoloOnlyRepo();
  [nats, rtsp] = await Promise.all([
    startNatsServer({
      auth: { user: 'vigil', pass: NATS_PW },
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey },
    }),
    startRtspServer({ width: 320, height: 240, fps: 10, user: RTSP_USER, password: RTSP_PW }),
  ]);
  natsClient = { servers: nats.url, user: 'vigil', pass: NATS_PW, tls: { caFile: pki.ca } };
}, 60_000);

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  await rtsp?.stop();
  await nats?.stop();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
  if (repo) rmSync(repo, { recursive: true, force: true });
});

const camUrl = (pw: string) => rtsp.url.replace('rtsp://', `rtsp://${RTSP_USER}:${pw}@`);

/** Every message on every subject, as raw text (headers included). */
async function wiretap(): Promise<{ nc: NatsConnection; texts: string[] }> {
  const nc = await connectNats({ ...natsClient, name: 'vigil-security-wiretap' });
  const texts: string[] = [];
  nc.subscribe('>', {
    callback: (err, msg) => {
      if (err || texts.length > 200_000) return;
      // Control requests carry the caller's token and URLs: they are the input, not a leak (the
      // replies, on _INBOX subjects, are kept).
      if (msg.subject.startsWith('vigil.ctl.')) return;
      const h = msg.headers ? [...msg.headers].map(([k, v]) => `${k}: ${v.join(',')}`).join('\n') : '';
      texts.push(`${msg.subject}\n${h}\n${msg.string()}`);
    },
  });
  cleanups.push(() => nc.close());
  return { nc, texts };
}

function leaks(where: string, texts: string[]): string[] {
  const found: string[] = [];
  for (const t of texts)
    for (const f of FORMS) if (t.includes(f)) found.push(`${where}: ${f} in ${t.slice(0, 300)}`);
  return found;
}

describe('secrets never leak; the control API wants its token', () => {
  it('vigil run with credentials everywhere: no secret in logs, NATS messages, API answers or metrics', async () => {
    const infer = await spawnInferenceServer(repo);
    cleanups.push(() => infer.stop());
    const tap = await wiretap();
    const config = join(pki.dir, 'vigil.yaml');
    writeFileSync(
      config,
      [
        'nats:',
        `  servers: [${nats.url}]`,
        '  user: vigil',
        `  password: ${NATS_PW}`,
        `  tls: { caFile: ${pki.ca} }`,
        'inference:',
        `  address: ${infer.address}`,
        'control:',
        '  host: 127.0.0.1',
        '  port: 0',
        `  token: ${CONTROL_TOKEN}`,
        'web: { enabled: false }',
        'analyzer: { windowMs: 1000 }',
        'streams:',
        '  - id: cam',
        `    url: ${camUrl(RTSP_PW)}`,
        '    keyframes: { minIntervalMs: 500, maxIntervalMs: 1000 }',
        '  - id: badcreds',
        `    url: ${camUrl(WRONG_PW)}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    let logs = '';
    const child: ChildProcess = spawn(
      process.execPath,
      [resolve(ROOT, 'bin/vigil.js'), 'run', '--config', config],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });

    await until('the control API', () => /control API at (http:\/\/\S+)/.test(logs), 60_000);
    const base = /control API at (http:\/\/\S+)/.exec(logs)![1]!;
    const statuses = (id: string) => tap.texts.filter((t) => t.startsWith(`vigil.${id}.status`));
    await until('badcreds down', () => statuses('badcreds').some((t) => t.includes('"down"')), 30_000);
    await until('cam analysed', () => tap.texts.some((t) => t.startsWith('vigil.cam.detections')), 60_000);
    await until('a cam summary', () => tap.texts.some((t) => t.startsWith('vigil.cam.summary.')), 30_000);

    // The control API, with and without the token, over HTTP…
    const answers: string[] = [];
    const http = async (
      method: string,
      path: string,
      body?: unknown,
      token: string | null = CONTROL_TOKEN,
    ) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      answers.push(`${method} ${path} ${res.status} ${JSON.stringify([...res.headers])} ${text}`);
      return { status: res.status, text };
    };
    expect((await http('GET', '/v1/streams', undefined, null)).status).toBe(401);
    expect((await http('GET', '/v1/streams', undefined, 'not-the-token')).status).toBe(401);
    const refused = await http('POST', '/v1/streams', { id: 'sneaky', url: 'test:ball' }, null);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.text)).toMatchObject({ error: { code: 'VIGIL_ERR_UNAUTHORIZED' } });
    expect((await http('GET', '/v1/streams')).status).toBe(200);
    expect((await http('GET', '/v1/streams/cam')).status).toBe(200);
    const bad = await http('GET', '/v1/streams/badcreds');
    expect(JSON.parse(bad.text)).toMatchObject({
      state: expect.stringMatching(/^(down|connecting)$/),
      error: { code: 'VIGIL_ERR_SOURCE_AUTH' },
    });
    expect((await http('POST', '/v1/streams', { id: 'extra', url: camUrl(API_PW) })).status).toBe(201);
    expect((await http('POST', '/v1/streams', { id: 'extra', url: camUrl(API_PW) })).status).toBe(409);
    for (const url of [
      `rtsp://${RTSP_USER}:${API_PW}@bad host/x`,
      `gopher://${RTSP_USER}:${API_PW}@cam/x`,
      `rtsp://${RTSP_USER}:${API_PW}@[::1/x`,
    ]) {
      expect((await http('POST', '/v1/streams', { id: 'broken', url })).status).toBe(400);
    }
    expect((await http('POST', '/v1/streams', `{"id":"x","url":"${camUrl(API_PW)}"`)).status).toBe(400);
    expect((await http('GET', '/v1/streams/nope')).status).toBe(404);
    await until('extra down', () => statuses('extra').some((t) => t.includes('"down"')), 30_000);
    expect((await http('DELETE', '/v1/streams/extra')).status).toBe(200);

    // …and over NATS request-reply.
    const ctl = async (op: string, args?: unknown, token?: string) => {
      const r = await controlRequest(tap.nc, op, args, token ? { token } : {});
      answers.push(`nats ${op} ${r.status} ${JSON.stringify(r.body)}`);
      return r;
    };
    expect((await ctl('list')).status).toBe(401);
    expect((await ctl('list', undefined, 'not-the-token')).status).toBe(401);
    expect((await ctl('attach', { id: 'sneaky', url: 'test:ball' })).status).toBe(401);
    expect((await ctl('list', undefined, CONTROL_TOKEN)).status).toBe(200);
    expect((await ctl('status', { id: 'badcreds' }, CONTROL_TOKEN)).status).toBe(200);
    expect((await ctl('attach', { id: 'extra2', url: camUrl(WRONG_PW) }, CONTROL_TOKEN)).status).toBe(201);
    expect(
      (await ctl('attach', { id: 'b', url: `rtsp://u:${API_PW}@bad host/` }, CONTROL_TOKEN)).status,
    ).toBe(400);
    await until('extra2 down', () => statuses('extra2').some((t) => t.includes('"down"')), 30_000);
    expect((await ctl('detach', { id: 'extra2' }, CONTROL_TOKEN)).status).toBe(200);
    const list = await http('GET', '/v1/streams');
    expect(
      JSON.parse(list.text)
        .streams.map((s: { id: string }) => s.id)
        .sort(),
    ).toEqual(['badcreds', 'cam']);
    // The unauthorised attach attempts did nothing.
    expect(list.text).not.toContain('sneaky');

    child.kill('SIGTERM');
    await exited;
    await tap.nc.flush();

    const wire = tap.texts;
    expect(wire.some((t) => t.startsWith('vigil.cam.keyframe'))).toBe(true);
    expect(wire.some((t) => t.startsWith('vigil.cam.summary.'))).toBe(true);
    expect(wire.some((t) => t.startsWith('vigil.badcreds.event.stream.down'))).toBe(true);
    // The sources are shown, redacted.
    expect(wire.join('\n')).toContain(`rtsp://${RTSP_USER}:***@127.0.0.1:${rtsp.port}/stream`);
    expect(logs).toContain('***');
    expect([
      ...leaks('log', logs.split('\n')),
      ...leaks('nats', wire),
      ...leaks('control API', answers),
    ]).toEqual([]);
  }, 240_000);

  it('metrics and live updates of an instrumented analyzer on the same cameras carry no secret', async () => {
    const metrics = new AnalyzerMetrics();
    const publisher = await createPublisher({ ...natsClient, evidence: false });
    cleanups.push(() => publisher.close());
    metrics.observePublisher(publisher);
    const manager = createManager(
      instrumentManagerDeps(
        { analyze: withoutModel, sink: publisher, frameSource: fastFrameSource() },
        metrics,
      ),
    );
    cleanups.push(() => manager.close());
    observeManager(manager, metrics);
    const updates: string[] = [];
    manager.onUpdate((u) =>
      updates.push(JSON.stringify(u, (_k, v: unknown) => (v instanceof Uint8Array ? null : v))),
    );
    await manager.attach({ id: 'good', url: camUrl(RTSP_PW) });
    await manager.attach({ id: 'wrong', url: camUrl(WRONG_PW) });
    await until(
      'good live, wrong down',
      () =>
        manager.status('good').counters.frames > 5 &&
        manager.status('wrong').error?.code === 'VIGIL_ERR_SOURCE_AUTH',
      30_000,
    );
    await sleep(1_200);
    const text = await metrics.metrics();
    expect(text).toMatch(/vigil_stream_frames_total\{[^}]*stream="good"/);
    expect(JSON.stringify(manager.list())).toContain('***');
    expect([
      ...leaks('metrics', text.split('\n')),
      ...leaks('updates', updates),
      ...leaks('list', [JSON.stringify(manager.list())]),
    ]).toEqual([]);
    await manager.close();
  }, 60_000);
});

describe('gRPC mTLS end to end, results over NATS with auth and TLS', () => {
  it('an analyzer with a client certificate gets analyses; one without gets none (degraded)', async () => {
    const infer = await spawnInferenceServer(repo, {
      cert: pki.serverCert,
      key: pki.serverKey,
      ca: pki.ca,
      requireClientCert: true,
    });
    cleanups.push(() => infer.stop());
    const tap = await wiretap();
    const publisher = await createPublisher({ ...natsClient, evidence: false });
    cleanups.push(() => publisher.close());
    const run = (tls: ConstructorParameters<typeof InferenceClient>[0]['tls']) => {
      const client = new InferenceClient({
        addresses: [`localhost:${infer.port}`],
        deadlineMs: 10_000,
        retries: 0,
        breaker: { failureThreshold: 2, resetTimeoutMs: 500 },
        tls,
      });
      cleanups.push(() => client.close());
      const manager = createManager({
        analyze: analyzeWith(createDetector({ client }), 'yolov8n', { health: client }),
        sink: publisher,
        frameSource: fastFrameSource(),
        windowMs: 1_000,
      });
      cleanups.push(() => manager.close());
      return manager;
    };
    const pem = (f: string) => readFileSync(f);
    const secure = run({
      rootCerts: pem(pki.ca),
      certChain: pem(pki.clientCert),
      privateKey: pem(pki.clientKey),
    });
    const nocert = run({ rootCerts: pem(pki.ca) });
    const kf = { minIntervalMs: 500, maxIntervalMs: 1_000 };
    await secure.attach({ id: 'secure', url: 'test:ball?width=320&height=240&fps=10', keyframes: kf });
    await nocert.attach({ id: 'nocert', url: 'test:ball?width=320&height=240&fps=10', keyframes: kf });
    type Det = { data: { available: boolean } };
    const dets = (id: string) =>
      tap.texts
        .filter((t) => t.startsWith(`vigil.${id}.detections`))
        .map((t) => (JSON.parse(t.slice(t.indexOf('{'))) as Det).data);
    await until('analyses through mTLS', () => dets('secure').filter((d) => d.available).length >= 2, 60_000);
    await until('degraded analyses without a client certificate', () => dets('nocert').length >= 3, 30_000);
    expect(dets('nocert').every((d) => !d.available)).toBe(true);
    expect(secure.status('secure').counters.analysed).toBeGreaterThanOrEqual(2);
    expect(nocert.status('nocert').counters.analysed).toBe(0);
    expect(nocert.status('nocert').state).toBe('live');
    // Nothing reaches NATS without the credentials.
    await expect(
      connectNats({ servers: nats.url, tls: { caFile: pki.ca } }, { reconnect: false }),
    ).rejects.toMatchObject({ code: 'VIGIL_ERR_NATS_AUTH' });
    await secure.close();
    await nocert.close();
  }, 120_000);
});
