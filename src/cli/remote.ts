/** `vigil attach / detach / ls`: a small client of a running analyzer's HTTP control API. */
import { isErrorCode, VigilError } from '../core/errors.js';
import type { StreamDefinition, StreamInfo } from '../analyzer/manager.js';

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
  const err = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (!res.ok || err) {
    const message = typeof err?.message === 'string' ? err.message : `HTTP ${res.status}`;
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
