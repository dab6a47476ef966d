/**
 * `vigil run --config vigil.yaml`: the analyzer's configuration in YAML, validated up front. Errors
 * name the file, the key path and what was expected; unknown keys are errors; secrets can (and
 * should) come from the environment instead of the file:
 *
 *   VIGIL_NATS_URL        nats.servers (comma-separated)
 *   VIGIL_NATS_USER       nats.user
 *   VIGIL_NATS_PASSWORD   nats.password
 *   VIGIL_NATS_TOKEN      nats.token
 *   VIGIL_NATS_NKEY_SEED  nats.nkeySeed
 *   VIGIL_CONTROL_TOKEN   control.token (bearer token of the HTTP and NATS control API)
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { AnalysisCache, parseEventOptions, parseKeyframeOptions } from '../stream/index.js';
import { validateTrackOptions, type TrackStreamOptions } from '../stream/track-options.js';
import { COCO_LABELS } from '../infer/yolo.js';
import type { StreamDefinition } from '../analyzer/manager.js';
import { isMapping, validate, type Spec } from './validate.js';

export interface VigilConfig {
  nats: {
    /** Absent: start a local nats-server (JetStream in a temp dir), as `vigil demo` does. */
    servers: string[] | null;
    user?: string;
    password?: string;
    token?: string;
    nkeySeed?: string;
    nkeySeedFile?: string;
    tls?: { caFile?: string; certFile?: string; keyFile?: string };
    jetstream: { stream: string; maxAgeMs: number; maxBytes: number };
    evidence: { bucket: string; maxBytes: number; maxAgeMs: number } | false;
    retry: { maxPending: number; ackTimeoutMs: number };
  };
  inference: {
    /** host:port of a KServe v2 gRPC server; absent: start one on `modelRepository`. */
    address: string | null;
    /**
     * Every inference server (host:port) the gRPC client rotates over: `addresses` from the file,
     * else `[address]`; empty when a local server is to be started.
     */
    addresses: string[];
    modelRepository: string;
    model: string;
    /** On-screen text on every analysed keyframe (PaddleOCR det + rec; ~0.5 s per keyframe on CPU). Default false. */
    ocr: boolean;
    /** The recognition model's dictionary; absent: `<modelRepository>/ppocr_rec/1/ppocr_keys_v1.txt`. */
    ocrDictionary?: string;
    /** Voice activity (Silero VAD) on streams with audio, when `silero_vad` is served. Default true. */
    vad: boolean;
    /** gRPC TLS to the inference servers: CA to trust; cert + key for mTLS. */
    tls?: { caFile?: string; certFile?: string; keyFile?: string; serverName?: string };
    /** Frames through system shared memory to servers on this host: 'auto' (loopback, default), 'on', 'off'. */
    sharedMemory: 'auto' | 'on' | 'off';
    /** Small inference calls over one long-lived ModelStreamInfer stream per server (errors repeat as unary calls). Default true. */
    streamInfer: boolean;
  };
  control: {
    host: string;
    port: number;
    token?: string;
    /** Serve the control API over NATS request-reply under vigil.ctl.> as well. */
    nats: boolean;
  };
  web: { enabled: boolean };
  analyzer: {
    maxStreams: number;
    windowMs: number;
    /** Live keyframes older than this (ms since capture) when their turn comes are not analysed (stale). */
    maxKeyframeAgeMs?: number;
    /** Keyframes in flight to the model across all live streams, shared fairly; absent = per-stream bounds only. */
    maxInferInFlight?: number;
  };
  streams: StreamDefinition[];
}

const HOURS = 3600 * 1000;
const MAX_STREAMS = 256;

const streamSpec: Spec = {
  kind: 'object',
  fields: {
    id: {
      kind: 'string',
      pattern: /^[A-Za-z0-9_-]{1,64}$/,
      hint: "a NATS-safe name (1-64 letters, digits, '_' or '-')",
      required: true,
    },
    url: { kind: 'string', min: 1, required: true },
    live: { kind: 'bool' },
    windowMs: { kind: 'int', min: 100, max: 24 * HOURS },
    keyframes: { kind: 'map' },
    events: { kind: 'map' },
    inferConcurrency: { kind: 'int', min: 1, max: 64 },
    inferQueue: { kind: 'int', min: 0, max: 10_000 },
    maxKeyframeAgeMs: { kind: 'int', min: 0, max: 3_600_000 },
    cache: { kind: 'off-or', spec: { kind: 'map' } },
    audio: { kind: 'object', fields: { vad: { kind: 'bool' } } },
    detect: { kind: 'map' },
    objects: { kind: 'map', orList: true },
    track: { kind: 'map' },
  },
};

/** TLS files (CA to trust; certificate + key to present), shared by NATS and the inference client. */
const TLS_FILE_FIELDS = {
  caFile: { kind: 'string', min: 1 },
  certFile: { kind: 'string', min: 1 },
  keyFile: { kind: 'string', min: 1 },
} as const;

const fileSpec: Spec = {
  kind: 'object',
  fields: {
    nats: {
      kind: 'object',
      fields: {
        servers: { kind: 'strings', max: 32 },
        user: { kind: 'string', min: 1 },
        password: { kind: 'string', min: 1 },
        token: { kind: 'string', min: 1 },
        nkeySeedFile: { kind: 'string', min: 1 },
        tls: { kind: 'object', fields: TLS_FILE_FIELDS },
        jetstream: {
          kind: 'object',
          fields: {
            stream: { kind: 'string', pattern: /^[A-Za-z0-9_-]{1,64}$/, hint: 'a stream name' },
            maxAgeMs: { kind: 'int', min: 1000, max: 3650 * 24 * HOURS },
            maxBytes: { kind: 'int', min: 1024 * 1024, max: Number.MAX_SAFE_INTEGER },
          },
        },
        evidence: {
          kind: 'off-or',
          spec: {
            kind: 'object',
            fields: {
              bucket: { kind: 'string', pattern: /^[A-Za-z0-9_-]{1,64}$/, hint: 'a bucket name' },
              maxBytes: { kind: 'int', min: 1024 * 1024, max: Number.MAX_SAFE_INTEGER },
              maxAgeMs: { kind: 'int', min: 1000, max: 3650 * 24 * HOURS },
            },
          },
        },
        retry: {
          kind: 'object',
          fields: {
            maxPending: { kind: 'int', min: 1, max: 1_000_000 },
            ackTimeoutMs: { kind: 'int', min: 50, max: 600_000 },
          },
        },
      },
    },
    inference: {
      kind: 'object',
      fields: {
        address: { kind: 'string', pattern: /^[^\s/]+:\d{1,5}$/, hint: 'host:port' },
        addresses: {
          kind: 'array',
          items: { kind: 'string', pattern: /^[^\s/]+:\d{1,5}$/, hint: 'host:port' },
          max: 64,
        },
        modelRepository: { kind: 'string', min: 1 },
        model: { kind: 'string', min: 1 },
        ocr: { kind: 'bool' },
        ocrDictionary: { kind: 'string', min: 1 },
        vad: { kind: 'bool' },
        tls: { kind: 'object', fields: { ...TLS_FILE_FIELDS, serverName: { kind: 'string', min: 1 } } },
        sharedMemory: { kind: 'enum', values: ['auto', 'on', 'off'] },
        streamInfer: { kind: 'bool' },
      },
    },
    control: {
      kind: 'object',
      fields: {
        host: { kind: 'string', min: 1 },
        port: { kind: 'int', min: 0, max: 65535 },
        token: { kind: 'string', min: 8, hint: 'a token of at least 8 characters' },
        nats: { kind: 'bool' },
      },
    },
    web: { kind: 'object', fields: { enabled: { kind: 'bool' } } },
    analyzer: {
      kind: 'object',
      fields: {
        maxStreams: { kind: 'int', min: 1, max: MAX_STREAMS },
        windowMs: { kind: 'int', min: 100, max: 24 * HOURS },
        maxKeyframeAgeMs: { kind: 'int', min: 0, max: 3_600_000 },
        maxInferInFlight: { kind: 'int', min: 1, max: 4096 },
      },
    },
    streams: { kind: 'array', items: streamSpec, max: MAX_STREAMS },
  },
};

type Raw = Record<string, Record<string, unknown> | undefined> & { streams?: Record<string, unknown>[] };

/** Parses and validates YAML text; `origin` (the file name) prefixes every error. */
export function parseConfig(
  text: string,
  origin = 'config',
  env: NodeJS.ProcessEnv = {},
  baseDir = '.',
): VigilConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const where = e.linePos?.[0] ? `:${e.linePos[0].line}:${e.linePos[0].col}` : '';
    throw new ConfigError(`${origin}${where}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const raw = (doc.toJS() ?? {}) as unknown;
  const errors = validate(raw, fileSpec);
  if (!isMapping(raw)) throw new ConfigError(`${origin}: ${errors[0] ?? 'expected a mapping'}`);
  const r = raw as Raw;
  // Per-stream options go through the stream stage's own parsers (which know every key).
  const ids = new Set<string>();
  (Array.isArray(r.streams) ? r.streams : []).forEach((s, i) => {
    if (!isMapping(s)) return;
    if (typeof s.id === 'string') {
      if (ids.has(s.id)) errors.push(`streams[${i}].id: duplicate stream id "${s.id}"`);
      ids.add(s.id);
    }
    try {
      validateTrackOptions(s as TrackStreamOptions, { knownLabels: COCO_LABELS });
    } catch (err) {
      errors.push(`streams[${i}].${(err as Error).message}`);
    }
    for (const [key, parse] of [
      ['keyframes', parseKeyframeOptions],
      ['events', parseEventOptions],
      ['cache', (v: never) => new AnalysisCache(v)],
    ] as const) {
      if (!isMapping(s[key])) continue;
      try {
        parse(s[key] as never);
      } catch (err) {
        errors.push(`streams[${i}].${key}: ${(err as Error).message}`);
      }
    }
  });
  if (errors.length > 0) {
    throw new ConfigError(
      `${origin}: ${errors.length === 1 ? errors[0] : `${errors.length} problems:\n  ${errors.join('\n  ')}`}`,
    );
  }
  const nats = r.nats ?? {};
  const js = (nats.jetstream ?? {}) as Record<string, number | string | undefined>;
  const ev = nats.evidence as Record<string, number | string | undefined> | false | undefined;
  const retry = (nats.retry ?? {}) as Record<string, number | undefined>;
  const inference = r.inference ?? {};
  const control = r.control ?? {};
  const web = r.web ?? {};
  const analyzer = r.analyzer ?? {};
  const path = (p: unknown) => (typeof p === 'string' ? resolve(baseDir, p) : undefined);
  const servers = env.VIGIL_NATS_URL
    ? env.VIGIL_NATS_URL.split(',').map((s) => s.trim())
    : nats.servers === undefined
      ? null
      : typeof nats.servers === 'string'
        ? [nats.servers]
        : (nats.servers as string[]);
  const config: VigilConfig = {
    nats: {
      servers,
      jetstream: {
        stream: (js.stream as string | undefined) ?? 'VIGIL',
        maxAgeMs: (js.maxAgeMs as number | undefined) ?? 7 * 24 * HOURS,
        maxBytes: (js.maxBytes as number | undefined) ?? 1024 ** 3,
      },
      evidence:
        ev === false
          ? false
          : {
              bucket: (ev?.bucket as string | undefined) ?? 'vigil-evidence',
              maxBytes: (ev?.maxBytes as number | undefined) ?? 256 * 1024 * 1024,
              maxAgeMs: (ev?.maxAgeMs as number | undefined) ?? 24 * HOURS,
            },
      retry: { maxPending: retry.maxPending ?? 10_000, ackTimeoutMs: retry.ackTimeoutMs ?? 2_000 },
    },
    inference: {
      address:
        (inference.address as string | undefined) ??
        (inference.addresses as string[] | undefined)?.[0] ??
        null,
      addresses:
        (inference.addresses as string[] | undefined) ??
        (typeof inference.address === 'string' ? [inference.address] : []),
      modelRepository: path(inference.modelRepository) ?? resolve('models/repo'),
      model: (inference.model as string | undefined) ?? 'yolov8n',
      ocr: (inference.ocr as boolean | undefined) ?? false,
      vad: (inference.vad as boolean | undefined) ?? true,
      sharedMemory: (inference.sharedMemory as 'auto' | 'on' | 'off' | undefined) ?? 'auto',
      streamInfer: (inference.streamInfer as boolean | undefined) ?? true,
    },
    control: {
      host: (control.host as string | undefined) ?? '127.0.0.1',
      port: (control.port as number | undefined) ?? 8080,
      nats: (control.nats as boolean | undefined) ?? true,
    },
    web: { enabled: (web.enabled as boolean | undefined) ?? true },
    analyzer: {
      maxStreams: (analyzer.maxStreams as number | undefined) ?? 16,
      windowMs: (analyzer.windowMs as number | undefined) ?? 10_000,
      ...(analyzer.maxKeyframeAgeMs !== undefined
        ? { maxKeyframeAgeMs: analyzer.maxKeyframeAgeMs as number }
        : {}),
      ...(analyzer.maxInferInFlight !== undefined
        ? { maxInferInFlight: analyzer.maxInferInFlight as number }
        : {}),
    },
    streams: (r.streams ?? []) as unknown as StreamDefinition[],
  };
  const secret = (envKey: string, fileValue: unknown) => env[envKey] ?? (fileValue as string | undefined);
  const user = secret('VIGIL_NATS_USER', nats.user);
  const password = secret('VIGIL_NATS_PASSWORD', nats.password);
  const token = secret('VIGIL_NATS_TOKEN', nats.token);
  const nkeySeed = env.VIGIL_NATS_NKEY_SEED;
  const controlToken = secret('VIGIL_CONTROL_TOKEN', control.token);
  if (user !== undefined) config.nats.user = user;
  if (password !== undefined) config.nats.password = password;
  if (token !== undefined) config.nats.token = token;
  if (nkeySeed !== undefined) config.nats.nkeySeed = nkeySeed;
  else if (nats.nkeySeedFile !== undefined) config.nats.nkeySeedFile = path(nats.nkeySeedFile)!;
  /** The TLS file paths, resolved against the config file's directory. */
  const tlsFiles = (t: Record<string, string | undefined>) => {
    const files: { caFile?: string; certFile?: string; keyFile?: string } = {};
    if (t.caFile) files.caFile = path(t.caFile)!;
    if (t.certFile) files.certFile = path(t.certFile)!;
    if (t.keyFile) files.keyFile = path(t.keyFile)!;
    return files;
  };
  if (nats.tls !== undefined) config.nats.tls = tlsFiles(nats.tls as Record<string, string | undefined>);
  if (inference.ocrDictionary !== undefined) config.inference.ocrDictionary = path(inference.ocrDictionary)!;
  if (inference.tls !== undefined) {
    const t = inference.tls as Record<string, string | undefined>;
    if ((t.certFile === undefined) !== (t.keyFile === undefined)) {
      throw new ConfigError(`${origin}: inference.tls.certFile and inference.tls.keyFile go together (mTLS)`);
    }
    config.inference.tls = tlsFiles(t);
    if (t.serverName) config.inference.tls.serverName = t.serverName;
  }
  if (controlToken !== undefined) config.control.token = controlToken;
  if ((user === undefined) !== (password === undefined)) {
    throw new ConfigError(
      `${origin}: nats.user and nats.password go together (one is set, the other is not)`,
    );
  }
  return config;
}

/** Reads and validates a config file (relative paths in it resolve against its directory). */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): VigilConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      `cannot read config file ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        cause,
      },
    );
  }
  return parseConfig(text, file, env, dirname(resolve(file)));
}
