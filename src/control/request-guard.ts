/**
 * Cross-site request guard for the HTTP control API and the web view. A page the user visits
 * must not be able to drive the analyzer through the user's browser:
 *
 * - `Host` must name this server (DNS rebinding): on a loopback listener only loopback names,
 *   plus `control.allowedHosts`; on other listeners any name unless `allowedHosts` is set.
 * - `Origin`, when a browser sends one, must be this server's own origin (same host and port as
 *   `Host`) or one of `control.allowedOrigins`; the opaque origin `null` is refused.
 * - Writes must be `application/json`: a cross-origin "simple" request (text/plain, forms) cannot
 *   carry that type without a CORS preflight, which this server never grants.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ConfigError } from '../core/errors.js';
import { ControlError } from './api.js';

export interface RequestGuardOptions {
  /** The address the server listens on (`control.host`). */
  listenHost: string;
  /** Extra `Host` values accepted, as `name` or `name:port` (e.g. a DNS name behind a proxy). */
  allowedHosts?: readonly string[];
  /** Extra origins allowed to call the API, as `scheme://host[:port]`. */
  allowedOrigins?: readonly string[];
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);

function isLoopbackName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Splits a `Host` value into its name (brackets kept off) and port; undefined when malformed. */
function parseHost(value: string): { name: string; port: string } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s/]+)(?::(\d{1,5}))?$/.exec(value.trim());
  if (!m) return undefined;
  return { name: m[1]!.toLowerCase().replace(/^\[|\]$/g, ''), port: m[2] ?? '' };
}

function normalizeOrigin(value: string): string | undefined {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return u.origin.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Validates the allow-lists up front (config errors name the key). */
export function normalizeGuardOptions(o: RequestGuardOptions): RequestGuardOptions {
  for (const origin of o.allowedOrigins ?? []) {
    if (normalizeOrigin(origin) === undefined) {
      throw new ConfigError(
        `control.allowedOrigins: ${JSON.stringify(origin)} is not an origin (scheme://host[:port])`,
      );
    }
  }
  for (const host of o.allowedHosts ?? []) {
    if (parseHost(host) === undefined) {
      throw new ConfigError(`control.allowedHosts: ${JSON.stringify(host)} is not a host name or host:port`);
    }
  }
  return o;
}

/** The reason a request is refused, or undefined when it may proceed. */
export function guardRequest(
  o: RequestGuardOptions,
  method: string,
  headers: IncomingHttpHeaders,
): ControlError | undefined {
  const hostHeader = headers.host;
  const host = hostHeader ? parseHost(hostHeader) : undefined;
  if (!hostHeader || !host)
    return new ControlError('VIGIL_ERR_FORBIDDEN', 'request has no valid Host header');
  const listedHost = (o.allowedHosts ?? []).some((h) => {
    const a = parseHost(h);
    return a !== undefined && a.name === host.name && (a.port === '' || a.port === host.port);
  });
  if (!listedHost) {
    const loopbackListener = isLoopbackName(o.listenHost);
    if (loopbackListener ? !isLoopbackName(host.name) : (o.allowedHosts ?? []).length > 0) {
      return new ControlError(
        'VIGIL_ERR_FORBIDDEN',
        `Host ${JSON.stringify(hostHeader)} is not this server's (add it to control.allowedHosts)`,
      );
    }
  }
  const originHeader = headers.origin;
  if (originHeader !== undefined) {
    const origin = normalizeOrigin(originHeader);
    const own = origin !== undefined && new URL(origin).host === new URL(`http://${hostHeader}`).host;
    const listed =
      origin !== undefined && (o.allowedOrigins ?? []).some((a) => normalizeOrigin(a) === origin);
    if (!own && !listed) {
      return new ControlError(
        'VIGIL_ERR_FORBIDDEN',
        `cross-origin request from ${JSON.stringify(originHeader.slice(0, 200))} refused (add it to control.allowedOrigins)`,
      );
    }
  }
  if (WRITE_METHODS.has(method)) {
    const type = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      return new ControlError(
        'VIGIL_ERR_MEDIA_TYPE',
        `writes need Content-Type: application/json (got ${JSON.stringify(type || 'none')})`,
      );
    }
  }
  return undefined;
}
