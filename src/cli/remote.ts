/** `vigil attach / detach / ls`: a small client of a running analyzer's HTTP control API. */
import { isErrorCode, VigilError } from '../core/errors.js';
import type { StreamDefinition, StreamInfo } from '../analyzer/manager.js';
import { defaultControlTokenFile, isLoopbackAddress } from '../config/index.js';
import { readControlTokenFile } from '../control/token-file.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/** Where `vigil run` on this machine keeps its generated token: VIGIL_CONTROL_TOKEN_FILE or the default. */
export function localTokenFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIGIL_CONTROL_TOKEN_FILE || defaultControlTokenFile(env);
}

/**
 * The token a remote command sends: --token, else VIGIL_CONTROL_TOKEN, else (only for an analyzer
 * on this machine: a loopback URL) the token file `vigil run` generated, so the CLI works out of
 * the box. The local token is never sent to another host.
 */
export function remoteToken(
  server: string,
  flag: unknown,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (typeof flag === 'string') return flag;
  if (env.VIGIL_CONTROL_TOKEN) return env.VIGIL_CONTROL_TOKEN;
  let host: string;
  try {
    host = new URL(server).hostname;
  } catch {
    return undefined;
  }
  return isLoopbackAddress(host) ? readControlTokenFile(localTokenFile(env)) : undefined;
}

/** --server, else VIGIL_SERVER, else http://127.0.0.1:8080; the token as `remoteToken` finds it. */
export function remoteFrom(
  values: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): RemoteOptions {
  const server = typeof values.server === 'string' ? values.server : (env.VIGIL_SERVER ?? DEFAULT_SERVER);
  const token = remoteToken(server, values.token, env);
  return { server, ...(token ? { token } : {}) };
}

export interface RemoteOptions {
  /** Base URL of the analyzer (default http://127.0.0.1:8080). */
  server: string;
  token?: string;
  timeoutMs?: number;
}

async function call<T>(o: RemoteOptions, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(path, o.server.endsWith('/') ? o.server : `${o.server}/`), {
      method,
      headers: {
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
    });
  } catch (cause) {
    throw new VigilError(
      'VIGIL_ERR_UNREACHABLE',
      `cannot reach the analyzer at ${o.server} (is 'vigil run' running? --server URL)`,
      { cause },
    );
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch (cause) {
    throw new VigilError('VIGIL_ERR_UNREACHABLE', `${o.server} did not answer like a Vigil analyzer`, {
      cause,
    });
  }
  // Only a non-2xx status is a failure: a 2xx body may carry a stream's own last `error` (a
  // detached stream that was down), which is data, not the call failing (issue 22 item 8).
  if (!res.ok) {
    const err = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    let message = typeof err?.message === 'string' ? err.message : `HTTP ${res.status}`;
    if (err?.code === 'VIGIL_ERR_UNAUTHORIZED' && !o.token) {
      message += `: no token was sent (pass --token or set VIGIL_CONTROL_TOKEN; 'vigil run' on this machine keeps it in ${localTokenFile()})`;
    }
    // A code this CLI does not know (a newer analyzer) is kept in the message.
    if (isErrorCode(err?.code)) throw new VigilError(err.code, message);
    throw new VigilError(
      'VIGIL_ERR_REMOTE',
      typeof err?.code === 'string' ? `${message} [${err.code}]` : message,
    );
  }
  return json as T;
}

export const remote = {
  attach: (o: RemoteOptions, def: StreamDefinition) => call<StreamInfo>(o, 'POST', 'v1/streams', def),
  detach: (o: RemoteOptions, id: string) =>
    call<StreamInfo>(o, 'DELETE', `v1/streams/${encodeURIComponent(id)}`),
  list: (o: RemoteOptions) => call<{ streams: StreamInfo[]; maxStreams: number }>(o, 'GET', 'v1/streams'),
  status: (o: RemoteOptions, id: string) =>
    call<StreamInfo>(o, 'GET', `v1/streams/${encodeURIComponent(id)}`),
};

/** `vigil ls` table. */
export function formatStreams(streams: StreamInfo[], maxStreams: number): string {
  const rows = [['NAME', 'STATE', 'FPS', 'LATENCY', 'FRAMES', 'KEYFRAMES', 'EVENTS', 'SOURCE']];
  for (const s of streams) {
    rows.push([
      s.id,
      s.error ? `${s.state} (${s.error.code})` : s.state,
      s.fps.toFixed(1),
      s.latencyMs === null ? '-' : `${Math.round(s.latencyMs)} ms`,
      String(s.counters.frames),
      String(s.counters.keyframes),
      String(s.counters.events),
      s.source,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
  lines.push(`${streams.length} of at most ${maxStreams} streams`);
  return lines.join('\n');
}
