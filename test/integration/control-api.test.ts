/**
 * The analyzer as a service (`startService`, as `vigil run` uses it) on the real stack: local
 * nats-server, the real inference server, GStreamer test sources. The HTTP control API and the same
 * operations over NATS request-reply: attach/detach at run time, bearer token, malformed requests,
 * unknown streams, duplicate names, the bound, all with stable codes, while the other stream keeps
 * serving. Every message the run publishes validates against its JSON Schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { parseConfig } from '../../src/config/index.js';
import { startService, type Service } from '../../src/app/service.js';
import { connectNats } from '../../src/publish/connection.js';
import { controlRequest } from '../../src/control/nats.js';
import { kindOfSubject, validateMessage } from '../../src/publish/schemas.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { collect } from '../helpers/collector.js';
import { MODEL_REPO, requireFile } from '../helpers/paths.js';

const TOKEN = 'control-token-1234';

/** The fields the tests read from control replies (a StreamInfo, a list, or an error). */
interface Reply {
  error: { code: string; message: string };
  streams: { id: string }[];
  maxStreams: number;
  state: string;
  counters: { frames: number };
}

describe('control API (HTTP and NATS request-reply)', () => {
  let service: Service;
  let nc: NatsConnection;
  let collector: Awaited<ReturnType<typeof collect>>;
  const logs: string[] = [];

  const http = async (method: string, path: string, body?: unknown, token: string | null = TOKEN) => {
    const res = await fetch(`${service.controlUrl}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Reply };
  };

  beforeAll(async () => {
    const config = parseConfig(
      `
inference: { modelRepository: ${JSON.stringify(requireFile(MODEL_REPO))} }
control: { port: 0 }
analyzer: { maxStreams: 2, windowMs: 1000 }
streams:
  - { id: steady, url: "test:ball", keyframes: { maxIntervalMs: 500 } }
`,
      'test.yaml',
      { VIGIL_CONTROL_TOKEN: TOKEN },
    );
    service = await startService(config, (l) => logs.push(l));
    collector = await collect(service.natsUrl, 'vigil.>');
    nc = await connectNats({ servers: service.natsUrl });
  }, 30_000);

  afterAll(async () => {
    await nc?.close();
    await collector?.close();
    await service?.close();
  });

  it('serves Prometheus metrics for its streams on /metrics, valid for promtool', async () => {
    let text = '';
    // The steady stream needs a moment to deliver frames and analyses.
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${service.controlUrl}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(res.status).toBe(200);
      text = await res.text();
      if (/vigil_stream_inference_total\{[^}]*stream="steady"[^}]*\} [1-9]/.test(text)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(text).toMatch(/vigil_stream_frames_total\{[^}]*stream="steady"[^}]*\} [1-9]/);
    expect(text).toMatch(/vigil_stream_inference_total\{[^}]*stream="steady"[^}]*\} [1-9]/);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  });

  it('health and readiness need no token', async () => {
    expect(await http('GET', '/healthz', undefined, null)).toEqual({ status: 200, body: { ok: true } });
    const ready = await http('GET', '/readyz', undefined, null);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ ready: true, checks: { nats: true, inference: true } });
  });

  it('the stream API needs the bearer token', async () => {
    for (const token of [null, 'wrong-token-0000']) {
      const r = await http('GET', '/v1/streams', undefined, token);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('VIGIL_ERR_UNAUTHORIZED');
    }
    const nr = await controlRequest(nc, 'list');
    expect(nr.status).toBe(401);
  });

  it('attaches over HTTP at run time, lists, reports per-stream status, detaches', async () => {
    const a = await http('POST', '/v1/streams', { id: 'extra', url: 'test:ball', windowMs: 1000 });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ id: 'extra', source: 'test:ball', state: 'connecting' });
    const list = await http('GET', '/v1/streams');
    expect(list.body.streams.map((s) => s.id)).toEqual(['steady', 'extra']);
    expect(list.body.maxStreams).toBe(2);
    const deadline = Date.now() + 10_000;
    let s = await http('GET', '/v1/streams/extra');
    while (s.body.counters.frames === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      s = await http('GET', '/v1/streams/extra');
    }
    expect(s.status).toBe(200);
    expect(s.body.state).toBe('live');
    const d = await http('DELETE', '/v1/streams/extra');
    expect(d.status).toBe(200);
    expect(d.body.state).toBe('stopped');
    expect((await http('GET', '/v1/streams/extra')).status).toBe(404);
  }, 20_000);

  it('bad requests get clear errors with stable codes, and the other stream keeps serving', async () => {
    const before = service.manager.status('steady').counters.frames;
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/v1/streams', '{not json', 400, 'VIGIL_ERR_BAD_REQUEST'],
      ['POST', '/v1/streams', '', 400, 'VIGIL_ERR_BAD_REQUEST'],
      ['POST', '/v1/streams', [1, 2], 400, 'VIGIL_ERR_INVALID_ARGUMENT'],
      ['POST', '/v1/streams', { id: 'x' }, 400, 'VIGIL_ERR_INVALID_ARGUMENT'],
      ['POST', '/v1/streams', { id: 'a b', url: 'test:ball' }, 400, 'VIGIL_ERR_INVALID_ARGUMENT'],
      ['POST', '/v1/streams', { id: 'x', url: 'test:ball', bogus: 1 }, 400, 'VIGIL_ERR_INVALID_ARGUMENT'],
      ['POST', '/v1/streams', { id: 'x', url: 'gopher://h/a' }, 400, 'VIGIL_ERR_SOURCE_SCHEME'],
      ['POST', '/v1/streams', { id: 'x', url: '/no/such/file.mp4' }, 400, 'VIGIL_ERR_SOURCE_NOT_FOUND'],
      ['POST', '/v1/streams', { id: 'steady', url: 'test:ball' }, 409, 'VIGIL_ERR_STREAM_EXISTS'],
      ['GET', '/v1/streams/ghost', undefined, 404, 'VIGIL_ERR_STREAM_NOT_FOUND'],
      ['DELETE', '/v1/streams/ghost', undefined, 404, 'VIGIL_ERR_STREAM_NOT_FOUND'],
      ['PUT', '/v1/streams', { id: 'x' }, 405, 'VIGIL_ERR_METHOD'],
      ['GET', '/v2/whatever', undefined, 404, 'VIGIL_ERR_UNKNOWN_OP'],
      ['POST', '/v1/streams', 'x'.repeat(70_000), 413, 'VIGIL_ERR_TOO_LARGE'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await http(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(r.body.error.code, `${method} ${path}`).toBe(code);
      expect(r.body.error.message.length).toBeGreaterThan(5);
    }
    // The bound: one slot left, then VIGIL_ERR_STREAM_LIMIT.
    expect((await http('POST', '/v1/streams', { id: 'second', url: 'test:ball' })).status).toBe(201);
    const over = await http('POST', '/v1/streams', { id: 'third', url: 'test:ball' });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('VIGIL_ERR_STREAM_LIMIT');
    await http('DELETE', '/v1/streams/second');
    await new Promise((r) => setTimeout(r, 300));
    const steady = service.manager.status('steady');
    expect(steady.state).toBe('live');
    expect(steady.counters.frames).toBeGreaterThan(before);
  }, 20_000);

  it('a bad tracking value for a running stream is refused naming the key; the stream keeps its settings', async () => {
    const before = service.manager.status('steady');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ detect: { fps: 0 } }, /detect\.fps/],
      [{ detect: { fps: -5 } }, /detect\.fps/],
      [{ detect: { fps: 1000 } }, /detect\.fps/],
      [{ objects: ['unicorn'] }, /objects\.unicorn/],
      [{ objects: { person: { threshold: 1.5 } } }, /objects\.person: threshold/],
      [{ track: { minScore: -0.1 } }, /track: minScore/],
    ];
    for (const [change, re] of cases) {
      for (const id of ['steady', 'fresh']) {
        const r = await http('POST', '/v1/streams', { id, url: 'test:ball', ...change });
        expect(r.status, JSON.stringify(change)).toBe(400);
        expect(r.body.error.code).toBe('VIGIL_ERR_INVALID_ARGUMENT');
        expect(r.body.error.message).toMatch(re);
      }
    }
    expect(service.manager.list().map((s) => s.id)).toEqual(['steady']);
    await new Promise((r) => setTimeout(r, 300));
    const after = service.manager.status('steady');
    expect(after.state).toBe('live');
    expect(after.runId).toBe(before.runId);
    expect(after.counters.frames).toBeGreaterThan(before.counters.frames);
  }, 20_000);

  it('the same operations over NATS request-reply under vigil.ctl.>', async () => {
    const opts = { token: TOKEN };
    const a = await controlRequest(nc, 'attach', { id: 'via-nats', url: 'test:ball' }, opts);
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ id: 'via-nats', state: 'connecting' });
    const list = await controlRequest(nc, 'list', undefined, opts);
    expect((list.body as { streams: { id: string }[] }).streams.map((s) => s.id)).toContain('via-nats');
    expect((await controlRequest(nc, 'status', { id: 'via-nats' }, opts)).body).toMatchObject({
      id: 'via-nats',
    });
    expect((await controlRequest(nc, 'health', undefined, opts)).body).toEqual({ ok: true });
    expect((await controlRequest(nc, 'ready', undefined, opts)).status).toBe(200);
    const dup = await controlRequest(nc, 'attach', { id: 'via-nats', url: 'test:ball' }, opts);
    expect(dup).toMatchObject({ status: 409, body: { error: { code: 'VIGIL_ERR_STREAM_EXISTS' } } });
    const badJson = await nc.request('vigil.ctl.attach', '{oops', {
      timeout: 5000,
      headers: (await import('@nats-io/transport-node')).headers(),
    });
    expect(badJson.json<{ error: { code: string } }>().error.code).toBe('VIGIL_ERR_UNAUTHORIZED');
    const unknown = await controlRequest(nc, 'explode', {}, opts);
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'VIGIL_ERR_UNKNOWN_OP' } } });
    const noId = await controlRequest(nc, 'detach', {}, opts);
    expect(noId).toMatchObject({ status: 400, body: { error: { code: 'VIGIL_ERR_BAD_REQUEST' } } });
    const d = await controlRequest(nc, 'detach', { id: 'via-nats' }, opts);
    expect(d).toMatchObject({ status: 200, body: { id: 'via-nats', state: 'stopped' } });
    expect(service.manager.status('steady').state).toBe('live');
  }, 20_000);

  it('everything published during the run validates against its JSON Schema, with Nats-Msg-Id', async () => {
    const deadline = Date.now() + 15_000;
    while (service.manager.status('steady').counters.summaries === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await service.publisher.flush(10_000);
    await collector.flush();
    const kinds = new Set<string>();
    for (const m of collector.messages) {
      const kind = kindOfSubject(m.subject);
      if (!kind || m.subject.startsWith('vigil.ctl.')) continue; // control requests
      kinds.add(kind);
      expect(
        validateMessage(kind, m.body),
        `${m.subject}: ${JSON.stringify(m.body).slice(0, 300)}`,
      ).toBeNull();
      expect(m.headers['Nats-Msg-Id']).toBe((m.body as { id: string }).id);
    }
    expect(kinds).toContain('status');
    expect(kinds).toContain('keyframe');
    expect(kinds).toContain('detections');
    expect(kinds).toContain('summary');
    const states = collector.messages
      .filter((m) => m.subject === 'vigil.extra.status')
      .map((m) => (m.body as { data: { state: string } }).data.state);
    expect(states).toEqual(expect.arrayContaining(['connecting', 'live', 'stopped']));
    expect(logs.join('\n')).not.toContain(TOKEN);
  }, 30_000);
});
