/**
 * `vigil` command line. Exit codes scripts can rely on:
 *   0 success · 1 runtime failure · 2 bad usage, bad config or bad source · 130 interrupted early.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { resolve } from 'node:path';
import { VigilError } from '../core/errors.js';
import { runAnalysis, type RunAnalysisOptions } from '../analyzer/session.js';
import { parseSource } from '../ingest/source.js';
import { validateStreamId } from '../publish/subjects.js';
import { startInferenceServer } from '../infer/index.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

interface Command {
  summary: string;
  usage: string;
  examples: string[];
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

const analysisOptions = {
  name: { type: 'string' },
  nats: { type: 'string' },
  infer: { type: 'string' },
  models: { type: 'string' },
  'window-ms': { type: 'string' },
  live: { type: 'boolean' },
  fast: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function intOption(values: Record<string, unknown>, key: string, fallback: number): number {
  const raw = values[key];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--${key} must be a positive integer, got ${String(raw)}`);
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
  return {
    source: spec,
    streamId: name,
    live,
    windowMs: intOption(values, 'window-ms', defaults.windowMs),
    natsUrl: typeof values.nats === 'string' ? values.nats : undefined,
    inferAddress: typeof values.infer === 'string' ? values.infer : undefined,
    modelRepository: resolve(typeof values.models === 'string' ? values.models : 'models/repo'),
    json: values.json === true,
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
    usage: 'vigil demo [--source PATH] [--window-ms N] [--json]',
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
    summary: 'Analyze one source and print summaries and events as they arrive on NATS',
    usage:
      'vigil analyze <file|url> [--name ID] [--nats URL] [--infer HOST:PORT] [--live|--fast] [--window-ms N] [--json]',
    examples: [
      'vigil analyze samples/vtest.avi',
      'vigil analyze rtsp://user:pass@camera.local/stream1 --name door --live',
      'vigil analyze clip.mp4 --nats nats://127.0.0.1:4222 --infer 127.0.0.1:8001 --json',
    ],
    options: analysisOptions,
    run: (values, positionals) => {
      if (positionals.length !== 1)
        throw new UsageError('analyze takes exactly one source (a file path or URL)');
      return runAnalysis(analysisRunOptions(values, positionals[0]!, { live: false, windowMs: 10_000 }));
    },
  },
  'infer-server': {
    summary: 'Run the KServe v2 / Triton-compatible gRPC inference server alone',
    usage: 'vigil infer-server [--models DIR] [--host ADDR] [--port N]',
    examples: ['vigil infer-server', 'vigil infer-server --models models/repo --host 0.0.0.0 --port 8001'],
    options: {
      models: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    run: async (values) => {
      const port = values.port === undefined ? 8001 : Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535`);
      const server = await startInferenceServer({
        modelRepository: resolve(typeof values.models === 'string' ? values.models : 'models/repo'),
        host: typeof values.host === 'string' ? values.host : '127.0.0.1',
        port,
      });
      console.error(
        `vigil infer-server: listening on ${typeof values.host === 'string' ? values.host : '127.0.0.1'}:${server.port}`,
      );
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          done();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close();
      return EXIT.ok;
    },
  },
};

function help(): string {
  const lines = ['Usage: vigil <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(14)} ${c.summary}`);
  lines.push('', "Run 'vigil <command> --help' for a command's options and examples.");
  lines.push('Exit codes: 0 ok, 1 runtime failure, 2 bad usage/config/source, 130 interrupted.');
  return lines.join('\n');
}

function commandHelp(name: string, c: Command): string {
  return [`${c.summary}`, '', `Usage: ${c.usage}`, '', 'Examples:', ...c.examples.map((e) => `  ${e}`)].join(
    '\n',
  );
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
    const usage =
      err.code === 'VIGIL_ERR_USAGE' ||
      err.code === 'VIGIL_ERR_CONFIG' ||
      err.code.startsWith('VIGIL_ERR_SOURCE');
    return usage ? EXIT.usage : EXIT.failure;
  }
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    console.error(`vigil: ${(err as Error).message}`);
    return EXIT.usage;
  }
  console.error(`vigil: unexpected failure: ${err instanceof Error ? err.message : String(err)}`);
  return EXIT.failure;
}
