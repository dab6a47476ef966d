/**
 * Inference servers for the fault and security tests: the real KServe v2 server (YOLOv8n) in its
 * own process, killable and restartable on the same port; a delaying gRPC proxy in front of it
 * (a slow server: every call waits, then goes to the real one, bytes untouched); and a small PKI
 * made with openssl at test time (CA, server certificate for 127.0.0.1/localhost, client
 * certificate) for TLS and mTLS.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadInferenceProto } from '../../src/infer/proto.js';
import { MODEL_REPO, requireFile, ROOT } from './paths.js';

const run = promisify(execFile);
const CHILD = resolve(import.meta.dirname, 'faults-infer-child.ts');

/** A model repository holding only yolov8n (a link to the set-up one): quick to load. */
export function yoloOnlyRepo(): string {
  requireFile(join(MODEL_REPO, 'yolov8n', 'config.pbtxt'));
  const dir = mkdtempSync(join(tmpdir(), 'vigil-faults-repo-'));
  symlinkSync(join(MODEL_REPO, 'yolov8n'), join(dir, 'yolov8n'));
  return dir;
}

export interface InferTlsFiles {
  cert: string;
  key: string;
  /** With requireClientCert: the CA client certificates must chain to (mTLS). */
  ca?: string;
  requireClientCert?: boolean;
}

export interface InferProcess {
  readonly port: number;
  readonly address: string;
  /** SIGKILL, waits for the exit. */
  kill(): Promise<void>;
  /** A fresh server on the same port (after kill()). */
  restart(): Promise<void>;
  /** Idempotent. */
  stop(): Promise<void>;
}

async function launch(repo: string, port: number, tls?: InferTlsFiles) {
  const args = ['--import', 'tsx', CHILD, '--repo', repo, '--port', String(port)];
  if (tls) {
    args.push('--cert', tls.cert, '--key', tls.key);
    if (tls.ca) args.push('--ca', tls.ca);
    if (tls.requireClientCert) args.push('--require-client-cert');
  }
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const bound = await new Promise<number>((res, rej) => {
    let out = '';
    const timer = setTimeout(
      () => rej(new Error(`inference server did not start in 60 s: ${stderr}`)),
      60_000,
    );
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`inference server exited (${code}) before serving: ${stderr}`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
  }).catch(async (err: unknown) => {
    // Not serving (in time): killed before the error goes up, so no caller is left without a handle.
    await killChild(child);
    throw err;
  });
  child.removeAllListeners('exit');
  return { child, port: bound };
}

function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  return new Promise((res) => {
    child.once('exit', () => res());
    child.kill('SIGKILL');
  });
}

/** Starts the real inference server (in its own process) on a free loopback port. */
export async function spawnInferenceServer(repo: string, tls?: InferTlsFiles): Promise<InferProcess> {
  let { child, port } = await launch(repo, 0, tls);
  let stopped = false;
  return {
    port,
    address: `127.0.0.1:${port}`,
    kill: () => killChild(child),
    async restart() {
      await killChild(child);
      for (let i = 0; ; i++) {
        try {
          ({ child, port } = await launch(repo, port, tls));
          return;
        } catch (err) {
          if (i >= 5) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await killChild(child);
    },
  };
}

export interface DelayProxy {
  readonly port: number;
  readonly address: string;
  /** Calls forwarded so far, and the most that were waiting or in flight at once. */
  stats(): { calls: number; maxConcurrent: number };
  close(): Promise<void>;
}

/**
 * A slow inference server: a gRPC proxy that holds every unary KServe v2 call for `delayMs`, then
 * forwards its bytes unchanged to `target` and relays the answer.
 */
export async function startDelayProxy(target: string, delayMs: number): Promise<DelayProxy> {
  const service = loadInferenceProto().inference.GRPCInferenceService.service;
  const upstream = new grpc.Client(target, grpc.credentials.createInsecure());
  const passthrough = (b: Buffer) => b;
  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  let calls = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  for (const [name, m] of Object.entries(service)) {
    if (m.requestStream || m.responseStream) continue;
    definition[name] = {
      path: m.path,
      requestStream: false,
      responseStream: false,
      requestSerialize: passthrough,
      requestDeserialize: passthrough,
      responseSerialize: passthrough,
      responseDeserialize: passthrough,
    };
    handlers[name] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls++;
      maxConcurrent = Math.max(maxConcurrent, ++concurrent);
      const timer = setTimeout(() => {
        upstream.makeUnaryRequest(
          m.path,
          passthrough,
          passthrough,
          call.request,
          new grpc.Metadata(),
          { deadline: Date.now() + 30_000 },
          (err, res) => {
            concurrent--;
            cb(err, res);
          },
        );
      }, delayMs);
      call.on('cancelled', () => {
        clearTimeout(timer);
        concurrent--;
      });
    };
  }
  const server = new grpc.Server();
  server.addService(definition, handlers);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? rej(err) : res(p),
    ),
  );
  let closing: Promise<void> | undefined;
  return {
    port,
    address: `127.0.0.1:${port}`,
    stats: () => ({ calls, maxConcurrent }),
    close: () =>
      (closing ??= new Promise<void>((res) => {
        server.forceShutdown();
        upstream.close();
        res();
      })),
  };
}

export interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** CA, a server certificate for 127.0.0.1 and localhost, a client certificate (EC P-256, 1 day). */
export async function makePki(): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-faults-pki-'));
  mkdirSync(dir, { recursive: true });
  const ossl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await ossl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=vigil-faults-ca',
  );
  for (const [name, cn, ext] of [
    ['server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', 'vigil-client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    await ossl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    await ossl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    );
  }
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}
