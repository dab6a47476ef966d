/**
 * HTTP control API (and the host of the live web view):
 *
 *   GET    /healthz               200 {ok:true} while the process serves
 *   GET    /readyz                200 / 503 {ready, checks}
 *   GET    /v1/streams            200 {streams:[StreamInfo…], maxStreams}
 *   POST   /v1/streams            201 StreamInfo       body: StreamDefinition {id, url, …}
 *   GET    /v1/streams/{id}       200 StreamInfo
 *   DELETE /v1/streams/{id}       200 StreamInfo (final)
 *   GET    /v1/search?…           200 {hits, next, query}      (src/control/history.ts)
 *   POST   /v1/ask                200 {answer, evidence, …}    body: {question}
 *
 * Every request passes the cross-site guard first (request-guard.ts: Host, Origin, JSON writes;
 * 403 / 415). With a token, /v1/* needs `Authorization: Bearer <token>` (401 otherwise); health and readiness
 * stay open for probes. Errors: `{error:{code,message}}` with the status from `statusOf`.
 * Bodies are capped at 64 KiB.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  authorized,
  ControlError,
  errorReply,
  handleControl,
  type ControlContext,
  type ControlReply,
} from './api.js';
import { handleHistory, searchArgsFromUrl } from './history.js';
import { guardRequest, normalizeGuardOptions, type RequestGuardOptions } from './request-guard.js';

const MAX_BODY_BYTES = 64 * 1024;

/** Extra routes mounted on the same server (the web view). */
export interface HttpMount {
  /** Returns true when it handled the request. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean;
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): boolean;
  close?(): Promise<void>;
}

export interface ControlServerOptions extends ControlContext {
  host: string;
  /** 0 picks a free port. */
  port: number;
  token?: string;
  mounts?: HttpMount[];
  /** Extra `Host` values accepted (`control.allowedHosts`); see request-guard.ts. */
  allowedHosts?: readonly string[];
  /** Extra origins allowed to call the API (`control.allowedOrigins`). */
  allowedOrigins?: readonly string[];
}

export interface ControlServer {
  readonly port: number;
  readonly url: string;
  readonly server: Server;
  /** Stops listening and closes open connections; idempotent. */
  close(): Promise<void>;
}

function send(res: ServerResponse, reply: ControlReply): void {
  const body = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    // An oversized body is left unread: close the connection rather than parse the rest as a request.
    ...(reply.status === 413 ? { connection: 'close' } : {}),
  });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new ControlError('VIGIL_ERR_TOO_LARGE', `body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new ControlError('VIGIL_ERR_BAD_REQUEST', 'request body is empty: send JSON');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ControlError('VIGIL_ERR_BAD_REQUEST', 'request body is not valid JSON');
  }
}

const methodNotAllowed = (allowed: string) =>
  errorReply(new ControlError('VIGIL_ERR_METHOD', `method not allowed here (allowed: ${allowed})`));

async function route(o: ControlServerOptions, req: IncomingMessage, url: URL): Promise<ControlReply> {
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  if (path === '/healthz') return handleControl(o, 'health', undefined);
  if (path === '/readyz') return handleControl(o, 'ready', undefined);
  if (path === '/v1/search' || path === '/v1/ask') {
    if (!authorized(o.token, req.headers.authorization)) {
      return errorReply(new ControlError('VIGIL_ERR_UNAUTHORIZED', 'missing or wrong bearer token'));
    }
    if (path === '/v1/search') {
      return method === 'GET'
        ? handleHistory(o.history, 'search', searchArgsFromUrl(url))
        : methodNotAllowed('GET');
    }
    if (method !== 'POST') return methodNotAllowed('POST');
    try {
      return await handleHistory(o.history, 'ask', await readJson(req), o.askModel);
    } catch (err) {
      return errorReply(err);
    }
  }
  if (path === '/v1/streams' || path.startsWith('/v1/streams/')) {
    if (!authorized(o.token, req.headers.authorization)) {
      return errorReply(new ControlError('VIGIL_ERR_UNAUTHORIZED', 'missing or wrong bearer token'));
    }
    if (path === '/v1/streams') {
      if (method === 'GET') return handleControl(o, 'list', undefined);
      if (method === 'POST') {
        try {
          return await handleControl(o, 'attach', await readJson(req));
        } catch (err) {
          return errorReply(err);
        }
      }
      return methodNotAllowed('GET, POST');
    }
    let id: string;
    try {
      id = decodeURIComponent(path.slice('/v1/streams/'.length));
    } catch {
      return errorReply(new ControlError('VIGIL_ERR_BAD_REQUEST', 'bad stream name in the path'));
    }
    if (method === 'GET') return handleControl(o, 'status', { id });
    if (method === 'DELETE') return handleControl(o, 'detach', { id });
    return methodNotAllowed('GET, DELETE');
  }
  return errorReply(new ControlError('VIGIL_ERR_UNKNOWN_OP', `no such endpoint: ${method} ${path}`));
}

export async function startControlServer(o: ControlServerOptions): Promise<ControlServer> {
  const guard: RequestGuardOptions = normalizeGuardOptions({
    listenHost: o.host,
    ...(o.allowedHosts ? { allowedHosts: o.allowedHosts } : {}),
    ...(o.allowedOrigins ? { allowedOrigins: o.allowedOrigins } : {}),
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // Before any route or mount: a cross-site request never reaches a handler.
    const refused = guardRequest(guard, req.method ?? 'GET', req.headers);
    if (refused) return send(res, errorReply(refused));
    for (const m of o.mounts ?? []) if (m.handle(req, res, url)) return;
    route(o, req, url).then(
      (reply) => send(res, reply),
      (err: unknown) => send(res, errorReply(err)),
    );
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // Cross-site WebSocket hijacking: the socket's page must be this server's own.
    const refused = guardRequest(guard, 'GET', req.headers);
    if (refused) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    for (const m of o.mounts ?? []) if (m.upgrade?.(req, socket, head, url)) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host}:${port}`,
    server,
    close: () => {
      closing ??= (async () => {
        for (const m of o.mounts ?? []) await m.close?.().catch(() => undefined);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
