/**
 * The inference container's command line, for real: `vigil infer-server --host --port
 * --metrics-port --providers` serves gRPC and Prometheus metrics on the ports compose, Kubernetes
 * and prometheus.yml expect (here on free loopback ports), and shuts down on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { InferenceClient } from '../../src/infer/index.js';
import { MODEL_REPO, requireFile, ROOT } from '../helpers/paths.js';

const RUN_CLI =
  "const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(process.argv.slice(1));";

describe('vigil infer-server as the containers run it', () => {
  it('serves gRPC and /metrics on the given ports, accepts --providers, exits 0 on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        RUN_CLI,
        'infer-server',
        '--models',
        requireFile(MODEL_REPO),
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--metrics-port',
        '0',
        '--providers',
        'cuda,cpu',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    try {
      const ports = await new Promise<{ grpc: number; metrics: number }>((done, fail) => {
        const timer = setTimeout(() => fail(new Error('infer-server did not start in 60 s')), 60_000);
        createInterface({ input: child.stderr! }).on('line', (line) => {
          const m = /listening on 127\.0\.0\.1:(\d+), metrics on 127\.0\.0\.1:(\d+)/.exec(line);
          if (m) {
            clearTimeout(timer);
            done({ grpc: Number(m[1]), metrics: Number(m[2]) });
          }
        });
        child.once('exit', (code) => fail(new Error(`infer-server exited with ${code}`)));
      });
      const client = new InferenceClient({ addresses: [`127.0.0.1:${ports.grpc}`] });
      try {
        expect(await client.serverReady()).toBe(true);
      } finally {
        client.close();
      }
      const res = await fetch(`http://127.0.0.1:${ports.metrics}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^# TYPE vigil_infer_requests_total counter/m);
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 90_000);

  it('rejects an unknown execution provider as a usage error (exit 2)', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', RUN_CLI, 'infer-server', '--providers', 'tpu'],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toMatch(/--providers/);
  }, 60_000);
});
