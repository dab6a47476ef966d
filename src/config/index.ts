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
 *   VIGIL_CONTROL_TOKEN_FILE  control.tokenFile (where the generated token is kept)
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { isNode, isScalar, LineCounter, parseDocument, visit } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { NATS_NAME } from '../core/stream-id.js';
import { STREAM_FIELDS, STREAM_SPEC, type StreamDefinition } from './stream-spec.js';
import { isMapping, validate, type Field, type Spec } from './validate.js';
import {
  LANGUAGE_ROLES,
  pickLanguageKeys,
  validateLanguageModel,
  validateLanguageModels,
  type LanguageModelsConfig,
} from './language-models.js';
import { parseHistoryConfig, type HistoryConfig } from './history.js';

export type { StreamDefinition };
export type { HistoryConfig };

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
    /** The local inference server runs each model once at load at its largest batch (memory sized up front). Default true. */
    warmup: boolean;
    /**
     * Language stages (docs/language-models.md): `captioner`, `summarizer`, `asr` from the file;
     * absent: none.
     */
    language?: LanguageModelsConfig;
  };
  control: {
    host: string;
    port: number;
    token?: string;
    /**
     * Where `vigil run` keeps the control token it generates at first start when no token is
     * configured (absolute; 0600). The CLI's remote commands read it from the same place.
     */
    tokenFile: string;
    /**
     * false: serve the control API without any token (loopback-only development; refused on other
     * listeners). Default true: a configured token, or the generated one in `tokenFile`.
     */
    requireToken: boolean;
    /** Serve the control API over NATS request-reply under vigil.ctl.> as well. */
    nats: boolean;
    /** Extra Host header values the HTTP API accepts (names behind a proxy); see control/request-guard.ts. */
    allowedHosts?: string[];
    /** Other origins (scheme://host[:port]) whose pages may call the HTTP API. */
    allowedOrigins?: string[];
  };
  web: { enabled: boolean };
  /** The history index and its JetStream consumer (src/history), run inside `vigil run`. */
  history: HistoryConfig;
  analyzer: {
    maxStreams: number;
    windowMs: number;
    /** Live keyframes older than this (ms since capture) when their turn comes are not analysed (stale). */
    maxKeyframeAgeMs?: number;
    /** Keyframes in flight to the model across all live streams, shared fairly; absent = per-stream bounds only. */
    maxInferInFlight?: number;
    /** Detections per second between keyframes, all live streams together (default 10). */
    detectBudgetPerS?: number;
  };
  streams: StreamDefinition[];
}

const HOURS = 3600 * 1000;
const MAX_STREAMS = 256;

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
            stream: { kind: 'string', pattern: NATS_NAME, hint: 'a stream name' },
            maxAgeMs: { kind: 'int', min: 1000, max: 3650 * 24 * HOURS },
            maxBytes: { kind: 'int', min: 1024 * 1024, max: Number.MAX_SAFE_INTEGER },
          },
        },
        evidence: {
          kind: 'off-or',
          spec: {
            kind: 'object',
            fields: {
              bucket: { kind: 'string', pattern: NATS_NAME, hint: 'a bucket name' },
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
        warmup: { kind: 'bool' },
        // Language stages: each role's own validator (src/config/language-models.ts).
        ...Object.fromEntries(
          LANGUAGE_ROLES.map((role) => [
            role,
            { kind: 'map', check: (v: unknown) => validateLanguageModel(v, role, role) } as Field,
          ]),
        ),
      },
    },
    control: {
      kind: 'object',
      fields: {
        host: { kind: 'string', min: 1 },
        port: { kind: 'int', min: 0, max: 65535 },
        token: { kind: 'string', min: 8, hint: 'a token of at least 8 characters' },
        tokenFile: { kind: 'string', min: 1 },
        requireToken: { kind: 'bool' },
        nats: { kind: 'bool' },
        allowedHosts: { kind: 'array', items: { kind: 'string', min: 1 }, max: 64 },
        allowedOrigins: { kind: 'array', items: { kind: 'string', min: 1 }, max: 64 },
      },
    },
    web: { kind: 'object', fields: { enabled: { kind: 'bool' } } },
    history: {
      kind: 'object',
      fields: {
        enabled: { kind: 'bool' },
        path: { kind: 'string', min: 1 },
        postgres: {
          kind: 'object',
          fields: {
            url: { kind: 'string', pattern: /^postgres(ql)?:\/\//, hint: 'a postgres:// URL' },
            maxConnections: { kind: 'int', min: 1, max: 64 },
            statementTimeoutMs: { kind: 'int', min: 100, max: 600_000 },
          },
        },
        durable: { kind: 'string', pattern: /^[A-Za-z0-9_-]{1,64}$/, hint: '1-64 of A-Z a-z 0-9 _ -' },
        keyframeStream: {
          kind: 'off-or',
          spec: { kind: 'string', pattern: /^[A-Za-z0-9_-]{1,64}$/, hint: 'a stream name or false' },
        },
        batchSize: { kind: 'int', min: 1, max: 4096 },
      },
    },
    analyzer: {
      kind: 'object',
      fields: {
        maxStreams: { kind: 'int', min: 1, max: MAX_STREAMS },
        // Defaults for every stream: the same ranges as the stream definition's own keys.
        windowMs: STREAM_FIELDS.windowMs,
        maxKeyframeAgeMs: STREAM_FIELDS.maxKeyframeAgeMs,
        maxInferInFlight: { kind: 'int', min: 1, max: 4096 },
        detectBudgetPerS: { kind: 'number', min: 0.1, max: 10_000 },
      },
    },
    streams: { kind: 'array', items: STREAM_SPEC, max: MAX_STREAMS },
  },
};

type Raw = Record<string, Record<string, unknown> | undefined> & { streams?: Record<string, unknown>[] };

/**
 * A config file is a few KiB (256 streams take about 40 KiB); this bounds what is read, and so the
 * memory and the parser's time, whatever the path names.
 */
export const MAX_CONFIG_BYTES = 256 * 1024;
/** YAML aliases resolved at most while reading a config (an alias bomb needs thousands). */
export const MAX_YAML_ALIASES = 100;
/** Nesting levels allowed (a config needs 5; the YAML parser is slow and recursive on deep input). */
export const MAX_YAML_DEPTH = 64;

/**
 * A cheap upper bound on the nesting of YAML text, checked before parsing: flow brackets open
 * at once, or sequence dashes in a row at the start of a line (`- - - x`). Brackets inside strings
 * count too, which only overestimates.
 */
function yamlDepth(text: string): number {
  let max = 0;
  let flow = 0;
  for (const line of text.split('\n')) {
    const dashes = /^(?:\s*-(?=\s|$))*/.exec(line)![0].split('-').length - 1;
    max = Math.max(max, flow + dashes);
    for (const c of line) {
      if (c === '[' || c === '{') max = Math.max(max, ++flow);
      else if ((c === ']' || c === '}') && flow > 0) flow--;
    }
  }
  return max;
}

/** The YAML text as plain data; every parser failure (alias bomb included) is a ConfigError. */
function parseYaml(text: string, origin: string): unknown {
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError(
      `${origin}: ${text.length} characters, over the ${MAX_CONFIG_BYTES} allowed in a config`,
    );
  }
  if (yamlDepth(text) > MAX_YAML_DEPTH) {
    throw new ConfigError(`${origin}: invalid YAML: nested more than ${MAX_YAML_DEPTH} levels deep`);
  }
  const lines = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    // Duplicate keys are checked below in one pass (the parser's own check is quadratic).
    doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false, lineCounter: lines });
  } catch (cause) {
    throw new ConfigError(`${origin}: invalid YAML: ${(cause as Error).message}`, { cause });
  }
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const where = e.linePos?.[0] ? `:${e.linePos[0].line}:${e.linePos[0].col}` : '';
    throw new ConfigError(`${origin}${where}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  // An empty file (or one of comments only) is almost always a mistake: a failed mount, a
  // truncated write, the wrong path. Starting silently on the defaults would hide it.
  if (doc.contents === null) {
    throw new ConfigError(
      `${origin}: the config is empty; write the settings, or "{}" to run on the defaults (local nats-server and inference server, no streams)`,
    );
  }
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const { key } of map.items) {
        // Keys become object keys, so `1` and `"1"` are the same key.
        const k = isScalar(key) ? String(key.value) : key;
        if (!seen.has(k)) {
          seen.add(k);
          continue;
        }
        const at = isNode(key) && key.range ? lines.linePos(key.range[0]) : undefined;
        throw new ConfigError(
          `${origin}${at ? `:${at.line}:${at.col}` : ''}: invalid YAML: duplicate key ${JSON.stringify(String(k))}`,
        );
      }
    },
  });
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) as unknown;
  } catch (cause) {
    // yaml throws a ReferenceError on an alias bomb ("Excessive alias count …") and on bad aliases.
    throw new ConfigError(`${origin}: invalid YAML: ${(cause as Error).message}`, { cause });
  }
}

/** Parses and validates YAML text; `origin` (the file name) prefixes every error. */
export function parseConfig(
  text: string,
  origin = 'config',
  env: NodeJS.ProcessEnv = {},
  baseDir = '.',
): VigilConfig {
  const raw = parseYaml(text, origin);
  const errors = validate(raw, fileSpec);
  if (!isMapping(raw)) throw new ConfigError(`${origin}: ${errors[0] ?? 'expected a mapping'}`);
  const r = raw as Raw;
  // Each stream was checked against the stream spec (src/config/stream-spec.ts); ids are unique.
  const ids = new Set<string>();
  (Array.isArray(r.streams) ? r.streams : []).forEach((s, i) => {
    if (!isMapping(s) || typeof s.id !== 'string') return;
    if (ids.has(s.id)) errors.push(`streams[${i}].id: duplicate stream id "${s.id}"`);
    ids.add(s.id);
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
      warmup: (inference.warmup as boolean | undefined) ?? true,
    },
    control: {
      host: (control.host as string | undefined) ?? '127.0.0.1',
      port: (control.port as number | undefined) ?? 8080,
      tokenFile: env.VIGIL_CONTROL_TOKEN_FILE
        ? resolve(env.VIGIL_CONTROL_TOKEN_FILE)
        : (path(control.tokenFile) ?? defaultControlTokenFile(env)),
      requireToken: (control.requireToken as boolean | undefined) ?? true,
      nats: (control.nats as boolean | undefined) ?? true,
      ...(control.allowedHosts !== undefined ? { allowedHosts: control.allowedHosts as string[] } : {}),
      ...(control.allowedOrigins !== undefined ? { allowedOrigins: control.allowedOrigins as string[] } : {}),
    },
    web: { enabled: (web.enabled as boolean | undefined) ?? true },
    history: historyFrom(r.history, env, path, origin),
    analyzer: {
      maxStreams: (analyzer.maxStreams as number | undefined) ?? 16,
      windowMs: (analyzer.windowMs as number | undefined) ?? 10_000,
      ...(analyzer.maxKeyframeAgeMs !== undefined
        ? { maxKeyframeAgeMs: analyzer.maxKeyframeAgeMs as number }
        : {}),
      ...(analyzer.maxInferInFlight !== undefined
        ? { maxInferInFlight: analyzer.maxInferInFlight as number }
        : {}),
      ...(analyzer.detectBudgetPerS !== undefined
        ? { detectBudgetPerS: analyzer.detectBudgetPerS as number }
        : {}),
    },
    streams: (r.streams ?? []) as unknown as StreamDefinition[],
  };
  const secret = (envKey: string, fileValue: unknown) => env[envKey] ?? (fileValue as string | undefined);
  const user = secret('VIGIL_NATS_USER', nats.user);
  const password = secret('VIGIL_NATS_PASSWORD', nats.password);
  const token = secret('VIGIL_NATS_TOKEN', nats.token);
  const nkeySeed = env.VIGIL_NATS_NKEY_SEED;
  // An empty VIGIL_CONTROL_TOKEN is no token (it must never open the API); a short one is refused.
  const controlToken = env.VIGIL_CONTROL_TOKEN || (control.token as string | undefined);
  if (env.VIGIL_CONTROL_TOKEN && env.VIGIL_CONTROL_TOKEN.length < 8) {
    throw new ConfigError(`VIGIL_CONTROL_TOKEN: a token of at least 8 characters (control.token)`);
  }
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
  const language = validateLanguageModels(pickLanguageKeys(inference).language, 'inference');
  if (Object.keys(language).length > 0) config.inference.language = language;
  if (inference.tls !== undefined) {
    const t = inference.tls as Record<string, string | undefined>;
    if ((t.certFile === undefined) !== (t.keyFile === undefined)) {
      throw new ConfigError(`${origin}: inference.tls.certFile and inference.tls.keyFile go together (mTLS)`);
    }
    config.inference.tls = tlsFiles(t);
    if (t.serverName) config.inference.tls.serverName = t.serverName;
  }
  if (controlToken !== undefined) config.control.token = controlToken;
  if (!config.control.requireToken) {
    // An open control API only for this machine's own users, never on a shared NATS.
    if (controlToken !== undefined) {
      throw new ConfigError(
        `${origin}: control.requireToken: false contradicts the configured control token (control.token or VIGIL_CONTROL_TOKEN)`,
      );
    }
    if (!isLoopbackAddress(config.control.host)) {
      throw new ConfigError(
        `${origin}: control.requireToken: false is only allowed on a loopback control.host (127.0.0.1, ::1, localhost), not ${JSON.stringify(config.control.host)}`,
      );
    }
    if (config.control.nats && config.nats.servers !== null) {
      throw new ConfigError(
        `${origin}: control.requireToken: false with control.nats on an external NATS would open vigil.ctl.> to every NATS client: set control.nats: false or configure a token`,
      );
    }
  }
  if ((user === undefined) !== (password === undefined)) {
    throw new ConfigError(
      `${origin}: nats.user and nats.password go together (one is set, the other is not)`,
    );
  }
  return config;
}

/**
 * The default `control.tokenFile`: `$XDG_STATE_HOME/vigil/control-token`, or
 * `~/.local/state/vigil/control-token` (the same for `vigil run` and the CLI on this machine,
 * whatever the working directory).
 */
export function defaultControlTokenFile(env: NodeJS.ProcessEnv = process.env): string {
  const state =
    env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/')
      ? env.XDG_STATE_HOME
      : join(env.HOME || homedir(), '.local', 'state');
  return join(state, 'vigil', 'control-token');
}

/** 127.0.0.0/8, ::1 and localhost names. */
export function isLoopbackAddress(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * The `history` section (already checked against the spec): `path` resolves against the config's
 * directory; the PostgreSQL URL may come from VIGIL_HISTORY_POSTGRES_URL (it carries a password).
 */
function historyFrom(
  raw: Record<string, unknown> | undefined,
  env: NodeJS.ProcessEnv,
  path: (p: unknown) => string | undefined,
  origin: string,
): HistoryConfig {
  try {
    const c = parseHistoryConfig(raw ?? {}, env, 'history');
    return { ...c, path: raw?.path !== undefined ? path(raw.path)! : resolve(c.path) };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${origin}: ${err.message}`);
    throw err;
  }
}

/** Reads a config file: a regular file of at most MAX_CONFIG_BYTES of UTF-8 text, else a ConfigError. */
export function readConfigFile(file: string): string {
  const fail = (why: string, cause?: unknown): never => {
    throw new ConfigError(`cannot read config file ${file}: ${why}`, cause === undefined ? {} : { cause });
  };
  const check = (st: Stats) => {
    if (!st.isFile()) fail(`not a regular file (${fileKind(st)})`);
    if (st.size > MAX_CONFIG_BYTES) fail(`${st.size} bytes, over the limit of ${MAX_CONFIG_BYTES}`);
  };
  let fd: number | undefined;
  try {
    // Check before opening (opening a FIFO would block), then again on the open file (it may
    // have been swapped); O_NONBLOCK keeps even that open from waiting.
    check(statSync(file));
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    check(fstatSync(fd));
    // Read at most one byte past the limit, so a file that grows meanwhile is still refused.
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > MAX_CONFIG_BYTES) fail(`over the limit of ${MAX_CONFIG_BYTES} bytes`);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, n));
    } catch (cause) {
      return fail('not UTF-8 text', cause);
    }
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    return fail((cause as NodeJS.ErrnoException).code ?? 'error', cause);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

/** Reads and validates a config file (relative paths in it resolve against its directory). */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): VigilConfig {
  return parseConfig(readConfigFile(file), file, env, dirname(resolve(file)));
}
