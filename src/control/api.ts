/**
 * The control operations, independent of transport: HTTP (src/control/http.ts) and NATS
 * request-reply (src/control/nats.ts) both map onto `handleControl`. Replies carry an HTTP-style
 * status and a JSON body; errors are always `{ "error": { "code", "message" } }` with a stable code.
 */
import { timingSafeEqual } from 'node:crypto';
import { httpStatusOf, VigilError } from '../core/errors.js';
import type { Manager } from '../analyzer/manager.js';
import type { AskModel, HistoryIndex } from '../history/index.js';

export type ControlOp = 'attach' | 'detach' | 'list' | 'status' | 'health' | 'ready';
export const CONTROL_OPS: readonly ControlOp[] = ['attach', 'detach', 'list', 'status', 'health', 'ready'];

export interface ControlReply {
  status: number;
  body: unknown;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

export interface ControlContext {
  manager: Manager;
  /** Readiness of the dependencies (NATS connected, inference reachable); default: ready. */
  ready?: () => Readiness | Promise<Readiness>;
  /** The history index behind search and ask (src/control/history.ts); absent: 503. */
  history?: HistoryIndex;
  /** The language model that answers `ask` from retrieved records (`inference.summarizer`); absent: the parser. */
  askModel?: AskModel;
}

/** Error codes of the control API (besides the stream and source codes passed through). */
export type ControlErrorCode =
  | 'VIGIL_ERR_BAD_REQUEST'
  | 'VIGIL_ERR_UNAUTHORIZED'
  | 'VIGIL_ERR_UNKNOWN_OP'
  | 'VIGIL_ERR_METHOD'
  | 'VIGIL_ERR_TOO_LARGE'
  | 'VIGIL_ERR_FORBIDDEN'
  | 'VIGIL_ERR_MEDIA_TYPE';

export class ControlError extends VigilError {
  constructor(code: ControlErrorCode, message: string) {
    super(code, message);
  }
}

/** The HTTP status of a reply carrying `code` (from the registry in src/core/errors.ts). */
export const statusOf = httpStatusOf;

export function errorReply(err: unknown): ControlReply {
  if (err instanceof VigilError) {
    return { status: httpStatusOf(err.code), body: { error: { code: err.code, message: err.message } } };
  }
  return {
    status: 500,
    body: { error: { code: 'VIGIL_ERR_INTERNAL', message: 'internal error (see the analyzer log)' } },
  };
}

/** Constant-time bearer check; `undefined` expected token = no auth. */
export function authorized(expected: string | undefined, header: string | undefined | null): boolean {
  if (expected === undefined) return true;
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function idFrom(args: unknown): string {
  const id = (args as { id?: unknown } | null)?.id;
  if (typeof id !== 'string' || id === '') {
    throw new ControlError('VIGIL_ERR_BAD_REQUEST', 'request needs "id": the stream name');
  }
  return id;
}

/** Runs one control operation; never throws (errors become error replies). */
export async function handleControl(ctx: ControlContext, op: string, args: unknown): Promise<ControlReply> {
  try {
    switch (op) {
      case 'attach':
        return { status: 201, body: await ctx.manager.attach(args as never) };
      case 'detach':
        return { status: 200, body: await ctx.manager.detach(idFrom(args)) };
      case 'list':
        return { status: 200, body: { streams: ctx.manager.list(), maxStreams: ctx.manager.maxStreams } };
      case 'status':
        return { status: 200, body: ctx.manager.status(idFrom(args)) };
      case 'health':
        return { status: 200, body: { ok: true } };
      case 'ready': {
        const r = ctx.manager.closed
          ? { ready: false, checks: { manager: false } }
          : ((await ctx.ready?.()) ?? { ready: true, checks: {} });
        return { status: r.ready ? 200 : 503, body: r };
      }
      default:
        throw new ControlError(
          'VIGIL_ERR_UNKNOWN_OP',
          `unknown operation ${JSON.stringify(op)} (known: ${CONTROL_OPS.join(', ')})`,
        );
    }
  } catch (err) {
    return errorReply(err);
  }
}
