/**
 * NATS client options shared by the publisher, the control plane's NATS service and `vigil tail`:
 * user/password, token, nkey seed and TLS. Secrets are never put in error messages.
 */
import { readFileSync } from 'node:fs';
import {
  connect,
  nkeyAuthenticator,
  type ConnectionOptions,
  type NatsConnection,
} from '@nats-io/transport-node';
import { VigilError } from '../core/errors.js';

export interface NatsTlsOptions {
  /** CA bundle that signed the server's certificate (PEM file). */
  caFile?: string;
  /** Client certificate and key for mutual TLS (PEM files). */
  certFile?: string;
  keyFile?: string;
}

export interface NatsClientOptions {
  servers: string | string[];
  user?: string;
  pass?: string;
  token?: string;
  /** NKey seed (`SU…`), e.g. from VIGIL_NATS_NKEY_SEED; or `nkeySeedFile`. */
  nkeySeed?: string;
  nkeySeedFile?: string;
  /** TLS: an object (even empty) requires TLS. */
  tls?: NatsTlsOptions;
  name?: string;
}

export class NatsError extends VigilError {
  constructor(
    code: 'VIGIL_ERR_NATS_UNREACHABLE' | 'VIGIL_ERR_NATS_AUTH' | 'VIGIL_ERR_NATS_TLS',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** The servers without any credentials in them (for messages). */
export function displayServers(servers: string | string[]): string {
  const list = Array.isArray(servers) ? servers : [servers];
  return list.map((s) => s.replace(/\/\/[^@/]*@/, '//***@')).join(',');
}

/**
 * Credentials written into server URLs (`nats://user:pass@host:4222`, or `nats://token@host`) split
 * out of them: the client does not read them there, and the URLs must not carry them into logs.
 * The first URL with credentials gives them; URLs without any are kept as they are.
 */
export function splitUrlCredentials(servers: string | string[]): {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
} {
  const list = (Array.isArray(servers) ? servers : [servers])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim());
  let found: { user?: string; pass?: string; token?: string } | undefined;
  const clean = list.map((server) => {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@(.*)$/i.exec(server);
    if (!m) return server;
    const [, scheme, userinfo, rest] = m as unknown as [string, string, string, string];
    if (!found && userinfo !== '') {
      const colon = userinfo.indexOf(':');
      const decode = (v: string) => {
        try {
          return decodeURIComponent(v);
        } catch {
          return v;
        }
      };
      found =
        colon < 0
          ? { token: decode(userinfo) }
          : { user: decode(userinfo.slice(0, colon)), pass: decode(userinfo.slice(colon + 1)) };
    }
    return `${scheme}${rest}`;
  });
  return { servers: clean, ...found };
}

export function natsConnectionOptions(o: NatsClientOptions): ConnectionOptions {
  // Options given explicitly win over credentials in the URLs.
  const fromUrls = splitUrlCredentials(o.servers);
  const opts: ConnectionOptions = { servers: fromUrls.servers, name: o.name ?? 'vigil' };
  const explicit = o.user !== undefined || o.pass !== undefined || o.token !== undefined;
  const user = explicit ? o.user : fromUrls.user;
  const pass = explicit ? o.pass : fromUrls.pass;
  const token = explicit ? o.token : fromUrls.token;
  if (user !== undefined) opts.user = user;
  if (pass !== undefined) opts.pass = pass;
  if (token !== undefined) opts.token = token;
  const seed = o.nkeySeed ?? (o.nkeySeedFile ? readFileSync(o.nkeySeedFile, 'utf8').trim() : undefined);
  if (seed !== undefined) opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  if (o.tls) {
    const tls: NonNullable<ConnectionOptions['tls']> = {};
    if (o.tls.caFile) tls.caFile = o.tls.caFile;
    if (o.tls.certFile) tls.certFile = o.tls.certFile;
    if (o.tls.keyFile) tls.keyFile = o.tls.keyFile;
    opts.tls = tls;
  }
  return opts;
}

/**
 * Connects (with endless reconnects by default). A bad password, token or nkey is
 * VIGIL_ERR_NATS_AUTH; a certificate problem VIGIL_ERR_NATS_TLS; anything else
 * VIGIL_ERR_NATS_UNREACHABLE.
 */
export async function connectNats(
  o: NatsClientOptions,
  extra: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  const where = displayServers(o.servers);
  try {
    return await connect({ maxReconnectAttempts: -1, ...natsConnectionOptions(o), ...extra });
  } catch (cause) {
    const text = `${(cause as Error)?.message ?? ''} ${String((cause as { cause?: unknown })?.cause ?? '')}`;
    if (/authoriz|authenticat|permission/i.test(text)) {
      throw new NatsError('VIGIL_ERR_NATS_AUTH', `NATS at ${where} refused the credentials`, { cause });
    }
    if (/tls|certificate|ssl|self.signed/i.test(text)) {
      throw new NatsError('VIGIL_ERR_NATS_TLS', `TLS with NATS at ${where} failed: ${firstLine(text)}`, {
        cause,
      });
    }
    throw new NatsError('VIGIL_ERR_NATS_UNREACHABLE', `cannot connect to NATS at ${where}`, { cause });
  }
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0]!.slice(0, 200);
}
