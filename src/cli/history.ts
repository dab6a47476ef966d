/**
 * `vigil history`: the history consumer alone (JetStream → index), and what `vigil search` and
 * `vigil ask` share: a local index (`--history PATH`: a history.sqlite file or a report directory)
 * or a running analyzer's control API (`--server URL`).
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isErrorCode, VigilError } from '../core/errors.js';
import {
  openHistoryIndex,
  openSqliteIndex,
  parseHistoryConfig,
  reportThumbnail,
  startHistoryConsumer,
  type HistoryIndex,
} from '../history/index.js';
import { connectNats } from '../publish/connection.js';
import { natsClientOptions } from '../app/service.js';
import { configFrom, natsFrom, untilSignal } from './command-options.js';
import { remoteFrom } from './remote.js';

export interface CliCommand {
  summary: string;
  usage: string;
  examples: string[];
  options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

export const historySourceOptions = {
  history: { type: 'string' },
  server: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export class CliUsageError extends VigilError {
  constructor(message: string) {
    super('VIGIL_ERR_USAGE', message);
  }
}

/** Opens `--history PATH` read-only: a .sqlite file, or a report directory holding history.sqlite. */
export async function openLocalHistory(path: string): Promise<HistoryIndex> {
  const p = resolve(path);
  const isDir = existsSync(p) && statSync(p).isDirectory();
  const file = isDir ? join(p, 'history.sqlite') : p;
  if (!existsSync(file)) throw new CliUsageError(`no history index at ${file}`);
  return openSqliteIndex({
    path: file,
    readonly: true,
    ...(isDir ? { thumbnailUrl: reportThumbnail(p) } : {}),
  });
}

export type HistorySource = { local: HistoryIndex } | { server: string; token?: string };

/** `--history` (or VIGIL_HISTORY) → local; otherwise `--server` (or VIGIL_SERVER, or the default). */
export async function historySource(values: Record<string, unknown>): Promise<HistorySource> {
  if (typeof values.history === 'string' && typeof values.server === 'string') {
    throw new CliUsageError('--history and --server exclude each other');
  }
  const local = typeof values.history === 'string' ? values.history : process.env.VIGIL_HISTORY;
  if (typeof values.server !== 'string' && local) return { local: await openLocalHistory(local) };
  // The same server and token rules as attach/detach/ls (the local token file included).
  return remoteFrom(values);
}

/** One control-API call; an error reply becomes a VigilError with its code. */
export async function callServer(
  source: { server: string; token?: string },
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const url = new URL(path, source.server.endsWith('/') ? source.server : `${source.server}/`);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(source.token ? { authorization: `Bearer ${source.token}` } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (cause) {
    throw new VigilError('VIGIL_ERR_UNREACHABLE', `cannot reach the analyzer at ${url.origin}`, { cause });
  }
  const json = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  if (!res.ok) {
    const e = json?.error;
    const code = isErrorCode(e?.code) ? e.code : 'VIGIL_ERR_REMOTE';
    throw new VigilError(code, e?.message ?? `the analyzer answered ${res.status} (${e?.code ?? 'no code'})`);
  }
  return json;
}

export const historyCommand: CliCommand = {
  summary: 'Run the history consumer alone: JetStream events, summaries and keyframes into the search index',
  usage:
    'vigil history [--config FILE] [--nats URL] [--nkey-seed-file FILE] [--tls-ca FILE] [--history FILE] [--durable NAME] [--rebuild] [--json]',
  examples: [
    'vigil history --nats nats://127.0.0.1:4222 --history vigil-data/history.sqlite',
    'VIGIL_HISTORY_POSTGRES_URL=postgres://vigil@db/vigil vigil history   # shared PostgreSQL index',
    'vigil history --rebuild        # start over from the first message JetStream still holds',
  ],
  options: {
    config: { type: 'string', short: 'c' },
    nats: { type: 'string' },
    'nkey-seed-file': { type: 'string' },
    'tls-ca': { type: 'string' },
    history: { type: 'string' },
    durable: { type: 'string' },
    rebuild: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  run: async (values, positionals) => {
    if (positionals.length > 0) throw new CliUsageError('history takes no arguments');
    const config = parseHistoryConfig(
      {
        ...(typeof values.history === 'string' ? { path: values.history } : {}),
        ...(typeof values.durable === 'string' ? { durable: values.durable } : {}),
      },
      process.env,
      'flags',
    );
    const index = await openHistoryIndex(config);
    try {
      const nats = natsFrom(values, configFrom(values));
      const nc = await connectNats({
        ...natsClientOptions(nats, nats.servers ?? ['nats://127.0.0.1:4222']),
        name: 'vigil-history',
      });
      try {
        const consumer = await startHistoryConsumer({
          connection: nc,
          index,
          durable: config.durable,
          keyframeStream: config.keyframeStream,
          rebuild: values.rebuild === true,
          onError: (err) =>
            console.error(`vigil history: ${err instanceof Error ? err.message : String(err)}`),
          onWaiting: (stream) =>
            console.error(
              `vigil history: waiting for JetStream stream ${stream} (an analyzer publishing to this NATS creates it)`,
            ),
        });
        console.error(
          `vigil history: ${index.backend === 'sqlite' ? config.path : 'PostgreSQL'} from JetStream (Ctrl-C to stop)`,
        );
        await untilSignal();
        await consumer.close();
        const s = consumer.stats();
        console.log(
          values.json
            ? JSON.stringify(s)
            : `vigil history: ${s.received} messages, ${s.inserted} stored, ${s.duplicates} duplicates, ${s.skipped} skipped`,
        );
      } finally {
        await nc.drain().catch(() => nc.close());
      }
    } finally {
      await index.close();
    }
    return 0;
  },
};
