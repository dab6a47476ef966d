/**
 * `vigil` command line. Exit codes scripts can rely on:
 *   0 success
 *   1 runtime failure (a dependency failed, the analyzer is unreachable, an internal error)
 *   2 bad usage, bad config file, bad source or a request the analyzer rejected as malformed
 *   3 unknown stream (detach / status of a name that is not attached)
 *   4 conflict: the name is already attached, or the analyzer's stream limit is reached
 *   5 not authorized (control token, NATS credentials)
 *   130 interrupted before a file was fully analysed (Ctrl-C)
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { resolve } from 'node:path';
import { EXIT, exitCodeOf, VigilError } from '../core/errors.js';
import { runAnalysis, type RunAnalysisOptions } from '../app/cli-session.js';
import { natsClientOptions, startService } from '../app/service.js';
import { parseSource } from '../ingest/source.js';
import { validateStreamId } from '../core/stream-id.js';
import { startInferenceServer } from '../infer/index.js';
import { STREAM_FIELDS } from '../config/stream-spec.js';
import { connectNats } from '../publish/connection.js';
import { formatStreams, remote, remoteFrom } from './remote.js';
import { tail, tailSubjects, TAIL_TYPES } from './tail.js';
import {
  configFrom,
  guardSignals,
  LANGUAGE_USAGE,
  languageFlagOptions,
  languageOption,
  natsFrom,
  untilSignal,
} from './command-options.js';
import { askCommand } from './ask.js';
import { historyCommand } from './history.js';
import { searchCommand } from './search.js';

// Exit codes and the code → exit status map live with the error registry.
export { EXIT, exitCodeOf };

interface Command {
  summary: string;
  usage: string;
  examples: string[];
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

/**
 * NATS options every command that talks to NATS shares with `vigil run`: a config file (its `nats:`
 * and `inference:` sections), the VIGIL_NATS_* environment (secrets only from there or the file),
 * and these flags over them.
 */
const natsOptions = {
  config: { type: 'string', short: 'c' },
  nats: { type: 'string' },
  'nkey-seed-file': { type: 'string' },
  'tls-ca': { type: 'string' },
} as const;

const analysisOptions = {
  ...natsOptions,
  name: { type: 'string' },
  infer: { type: 'string' },
  models: { type: 'string' },
  'window-ms': { type: 'string' },
  live: { type: 'boolean' },
  fast: { type: 'boolean' },
  json: { type: 'boolean' },
  /** On-screen text (PaddleOCR) on every analysed keyframe: text.appeared events, text in summaries. */
  ocr: { type: 'boolean' },
  /** No voice activity detection on the source's audio (no speech events). */
  'no-vad': { type: 'boolean' },
  ...languageFlagOptions(),
  help: { type: 'boolean', short: 'h' },
} as const;

const remoteOptions = {
  server: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A decimal integer flag within its range (the stream spec's, for stream options). */
function intOption(
  values: Record<string, unknown>,
  key: string,
  fallback: number,
  range: { min: number; max: number },
): number {
  const raw = values[key];
  if (raw === undefined) return fallback;
  const n = typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= range.min && n <= range.max))
    throw new UsageError(
      `--${key}: expected an integer from ${range.min} to ${range.max}, got ${String(raw)}`,
    );
  return n;
}

class UsageError extends VigilError {
  constructor(message: string) {
    super('VIGIL_ERR_USAGE', message);
  }
}

function analysisRunOptions(
  values: Record<string, string | boolean | undefined>,
  source: string,
  defaults: { live: boolean; windowMs: number },
): RunAnalysisOptions {
  if (values.live && values.fast) throw new UsageError('--live and --fast exclude each other');
  const live = values.fast ? false : values.live ? true : defaults.live;
  const spec = parseSource(source);
  const name = validateStreamId(
    typeof values.name === 'string'
      ? values.name
      : defaultStreamName(spec.kind === 'file' ? spec.location : 'stream'),
  );
  const config = configFrom(values);
  return {
    source,
    streamId: name,
    live,
    windowMs: intOption(values, 'window-ms', defaults.windowMs, STREAM_FIELDS.windowMs),
    config,
    nats: natsFrom(values, config),
    ...(typeof values.infer === 'string' ? { inferAddress: values.infer } : {}),
    ...(typeof values.models === 'string' ? { modelRepository: resolve(values.models) } : {}),
    json: values.json === true,
    ...(values.ocr === true ? { ocr: true } : {}),
    ...(values['no-vad'] === true ? { vad: false } : {}),
    ...languageOption(values, config),
  };
}

function defaultStreamName(path: string): string {
  const base = path.split('/').pop() ?? 'stream';
  const token = base
    .replace(/\.[^.]*$/, '')
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, 64);
  return token || 'stream';
}

const commands: Record<string, Command> = {
  demo: {
    summary: 'Run the embedded default: local NATS, local inference server, the sample clip as a live stream',
    usage: `vigil demo [--source PATH] [--window-ms N] [--config FILE] [--nats URL] [--ocr] [--no-vad] ${LANGUAGE_USAGE} [--json]`,
    examples: ['vigil demo', 'vigil demo --window-ms 5000', 'vigil demo --source samples/vtest.avi --fast'],
    options: { ...analysisOptions, source: { type: 'string' } },
    run: (values) => {
      const source = typeof values.source === 'string' ? values.source : 'samples/vtest.avi';
      return runAnalysis(
        analysisRunOptions({ name: 'demo', ...values }, source, { live: true, windowMs: 10_000 }),
      );
    },
  },
  analyze: {
    summary:
      'Analyze one file as fast as the machine allows: progress bar, summaries and events, a JSON + Markdown report',
    usage: `vigil analyze <file|url> [--report DIR] [--name ID] [--config FILE] [--nats URL] [--nkey-seed-file FILE] [--tls-ca FILE] [--infer HOST:PORT] [--live|--fast] [--window-ms N] [--ocr] [--no-vad] ${LANGUAGE_USAGE} [--json] [--quiet]`,
    examples: [
      'vigil analyze samples/vtest.avi                      # report in ./vigil-report-vtest/',
      'vigil analyze clip.mp4 --report out/ --window-ms 5000 --quiet',
      'vigil analyze scoreboard.mp4 --ocr                   # on-screen text: text.appeared events',
      'vigil analyze rtsp://user:pass@camera.local/stream1 --name door --live',
      'vigil analyze clip.mp4 --nats nats://127.0.0.1:4222 --infer 127.0.0.1:8001 --json',
      'VIGIL_NATS_USER=vigil VIGIL_NATS_PASSWORD=... vigil analyze clip.mp4 --nats nats://10.0.0.5:4222',
    ],
    options: { ...analysisOptions, report: { type: 'string' }, quiet: { type: 'boolean', short: 'q' } },
    run: (values, positionals) => {
      if (positionals.length !== 1)
        throw new UsageError('analyze takes exactly one source (a file path or URL)');
      const o = analysisRunOptions(values, positionals[0]!, { live: false, windowMs: 10_000 });
      return runAnalysis({
        ...o,
        progress: values.quiet !== true,
        printMessages: values.quiet !== true,
        reportDir: resolve(typeof values.report === 'string' ? values.report : `vigil-report-${o.streamId}`),
      });
    },
  },
  run: {
    summary: 'Run the analyzer as a service: streams from the config, control API, live web view, NATS',
    usage: `vigil run --config vigil.yaml [--nats URL] [--nkey-seed-file FILE] [--tls-ca FILE] ${LANGUAGE_USAGE}`,
    examples: [
      'vigil run --config vigil.yaml',
      'vigil run --config vigil.yaml --captioner http://127.0.0.1:8000/v1 --captioner-model Qwen/Qwen2.5-VL-7B-Instruct',
      'VIGIL_CONTROL_TOKEN=s3cret VIGIL_NATS_PASSWORD=... vigil run --config /etc/vigil/vigil.yaml',
    ],
    options: { ...natsOptions, ...languageFlagOptions(), help: { type: 'boolean', short: 'h' } },
    run: async (values) => {
      if (typeof values.config !== 'string') throw new UsageError('run needs --config FILE');
      const config = configFrom(values);
      config.nats = { ...config.nats, ...natsFrom(values, config) };
      // The flags over the file's inference.captioner / summarizer / asr (streams' own stay theirs).
      // Listening before the start: a signal meanwhile stops the service as soon as it is up.
      const stop = untilSignal();
      const service = await startService(config, undefined, languageOption(values, config));
      console.error(`vigil: running; live view at ${service.controlUrl}/ (Ctrl-C to stop)`);
      await stop;
      console.error('vigil: stopping');
      await service.close();
      return EXIT.ok;
    },
  },
  attach: {
    summary: 'Attach a stream to a running analyzer (vigil run) through its control API',
    usage:
      'vigil attach <url> [--name ID] [--live|--fast] [--window-ms N] [--server URL] [--token TOKEN] [--json]',
    examples: [
      'vigil attach rtsp://user:pass@camera.local/stream1 --name door',
      'vigil attach samples/vtest.avi --name walkway --window-ms 5000',
      'vigil attach test:ball --name test --server http://analyzer:8080 --token "$VIGIL_CONTROL_TOKEN"',
    ],
    options: {
      ...remoteOptions,
      name: { type: 'string' },
      'window-ms': { type: 'string' },
      live: { type: 'boolean' },
      fast: { type: 'boolean' },
    },
    run: async (values, positionals) => {
      if (positionals.length !== 1) throw new UsageError('attach takes exactly one source URL or path');
      if (values.live && values.fast) throw new UsageError('--live and --fast exclude each other');
      const url = positionals[0]!;
      // Local paths are resolved here: the analyzer may run in another directory.
      const source = /^[a-z][a-z0-9+.-]*:/i.test(url) && !url.startsWith('/') ? url : resolve(url);
      const id = typeof values.name === 'string' ? values.name : defaultStreamName(source);
      const def = {
        id,
        url: source,
        ...(values.live || values.fast ? { live: values.live === true } : {}),
        ...(values['window-ms'] !== undefined
          ? { windowMs: intOption(values, 'window-ms', 10_000, STREAM_FIELDS.windowMs) }
          : {}),
      };
      const info = await remote.attach(remoteFrom(values), def);
      console.log(values.json ? JSON.stringify(info) : `attached ${info.id} (${info.source}): ${info.state}`);
      return EXIT.ok;
    },
  },
  detach: {
    summary: 'Detach a stream from a running analyzer',
    usage: 'vigil detach <name> [--server URL] [--token TOKEN] [--json]',
    examples: ['vigil detach door', 'vigil detach door --server http://analyzer:8080'],
    options: remoteOptions,
    run: async (values, positionals) => {
      if (positionals.length !== 1) throw new UsageError('detach takes exactly one stream name');
      const info = await remote.detach(remoteFrom(values), positionals[0]!);
      console.log(
        values.json
          ? JSON.stringify(info)
          : `detached ${info.id} after ${info.counters.frames} frames, ${info.counters.events} events`,
      );
      return EXIT.ok;
    },
  },
  ls: {
    summary: 'List the streams of a running analyzer with state, fps and latency',
    usage: 'vigil ls [--server URL] [--token TOKEN] [--json]',
    examples: ['vigil ls', 'vigil ls --json | jq ".streams[].id"'],
    options: remoteOptions,
    run: async (values, positionals) => {
      if (positionals.length > 0) throw new UsageError('ls takes no arguments');
      const r = await remote.list(remoteFrom(values));
      console.log(values.json ? JSON.stringify(r) : formatStreams(r.streams, r.maxStreams));
      return EXIT.ok;
    },
  },
  tail: {
    summary: 'Pretty-print live messages from NATS, filtered by stream and type',
    usage: `vigil tail [stream] [--type ${TAIL_TYPES.join('|')}]... [--config FILE] [--nats URL] [--nkey-seed-file FILE] [--tls-ca FILE] [--json] [--max N]`,
    examples: [
      'vigil tail                          # events, summaries and status of every stream',
      "vigil tail door --type event        # only door's events",
      'vigil tail --type detections --type keyframe --nats nats://10.0.0.5:4222',
      'VIGIL_NATS_TOKEN=... vigil tail --json | jq .data.text',
    ],
    options: {
      ...natsOptions,
      type: { type: 'string', multiple: true, short: 't' },
      json: { type: 'boolean' },
      max: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    run: async (values, positionals) => {
      if (positionals.length > 1) throw new UsageError('tail takes at most one stream name');
      const types = (values.type as unknown as string[] | undefined) ?? [];
      const subjects = tailSubjects(positionals[0], types);
      const max =
        values.max === undefined
          ? undefined
          : intOption(values, 'max', 1, { min: 1, max: Number.MAX_SAFE_INTEGER });
      const nats = natsFrom(values, configFrom(values));
      const stop = untilSignal();
      const nc = await connectNats({
        ...natsClientOptions(nats, nats.servers ?? ['nats://127.0.0.1:4222']),
        name: 'vigil-tail',
      });
      const t = tail(nc, subjects, (l) => console.log(l), {
        json: values.json === true,
        ...(max ? { max } : {}),
      });
      console.error(`vigil tail: ${subjects.join(' ')} (Ctrl-C to stop)`);
      await Promise.race([t.done, stop]);
      await t.close();
      await nc.drain().catch(() => nc.close());
      return EXIT.ok;
    },
  },
  search: searchCommand,
  ask: askCommand,
  history: historyCommand,
  'infer-server': {
    summary: 'Run the KServe v2 / Triton-compatible gRPC inference server alone',
    usage:
      'vigil infer-server [--models DIR] [--host ADDR] [--port N] [--metrics-port N] [--providers cuda,cpu] [--no-warmup]',
    examples: [
      'vigil infer-server',
      'vigil infer-server --models models/repo --host 0.0.0.0 --port 8001 --metrics-port 8002',
    ],
    options: {
      models: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'metrics-port': { type: 'string' },
      providers: { type: 'string' },
      'no-warmup': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    run: async (values) => {
      const portOf = (key: string, fallback: number | undefined) => {
        const raw = values[key];
        if (raw === undefined) return fallback;
        const n = Number(raw);
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${key} must be 0-65535`);
        return n;
      };
      const port = portOf('port', 8001)!;
      const metricsPort = portOf('metrics-port', undefined);
      const providers =
        typeof values.providers === 'string' ? values.providers.split(',').map((p) => p.trim()) : undefined;
      if (providers && !providers.every((p) => p === 'cpu' || p === 'cuda'))
        throw new UsageError('--providers takes a comma-separated list of cpu and cuda');
      const host = typeof values.host === 'string' ? values.host : '127.0.0.1';
      const stop = untilSignal();
      const server = await startInferenceServer({
        modelRepository: resolve(typeof values.models === 'string' ? values.models : 'models/repo'),
        host,
        port,
        ...(metricsPort !== undefined ? { metricsPort } : {}),
        ...(providers ? { executionProviders: providers as ('cpu' | 'cuda')[] } : {}),
        ...(values['no-warmup'] === true ? { warmup: false } : {}),
      });
      console.error(
        `vigil infer-server: listening on ${host}:${server.port}` +
          (server.metricsPort !== undefined ? `, metrics on ${host}:${server.metricsPort}` : ''),
      );
      await stop;
      await server.close();
      return EXIT.ok;
    },
  },
};

function help(): string {
  const lines = ['Usage: vigil <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(14)} ${c.summary}`);
  lines.push('', "Run 'vigil <command> --help' for a command's options and examples.");
  lines.push(
    'Exit codes: 0 ok, 1 runtime failure, 2 bad usage/config/source/request, 3 unknown stream,',
    '            4 name taken or stream limit reached, 5 not authorized, 130 interrupted.',
  );
  return lines.join('\n');
}

function commandHelp(name: string, c: Command): string {
  return [
    `${c.summary}`,
    '',
    `Usage: ${c.usage}`,
    '',
    'Examples:',
    ...c.examples.map((e) => `  ${e}`),
    '',
    `Exit codes: 0 ok, 1 failure, 2 bad usage/config/source/request, 3 unknown stream, 4 conflict, 5 not authorized, 130 interrupted.`,
    `Run 'vigil --help' for all commands (this is '${name}').`,
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = commands[name];
  if (!command) {
    console.error(`vigil: unknown command "${name}"\n\n${help()}`);
    return EXIT.usage;
  }
  // Removed only with the process: a signal while it winds down after the command still ends it.
  guardSignals();
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: command.options,
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      console.log(commandHelp(name, command));
      return EXIT.ok;
    }
    return await command.run(values as Record<string, string | boolean | undefined>, positionals);
  } catch (err) {
    return reportError(err);
  }
}

export function reportError(err: unknown): number {
  if (process.env.VIGIL_DEBUG) console.error(err);
  if (err instanceof VigilError) {
    console.error(`vigil: ${err.message} [${err.code}]`);
    return exitCodeOf(err.code);
  }
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    console.error(`vigil: ${(err as Error).message}`);
    return EXIT.usage;
  }
  console.error(`vigil: unexpected failure: ${err instanceof Error ? err.message : String(err)}`);
  return EXIT.failure;
}
