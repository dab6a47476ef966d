/**
 * The control API over NATS request-reply, under `vigil.ctl.>`:
 *
 *   vigil.ctl.attach   {id, url, …}   → StreamInfo
 *   vigil.ctl.detach   {id}           → StreamInfo (final)
 *   vigil.ctl.list     (empty)        → {streams, maxStreams}
 *   vigil.ctl.status   {id}           → StreamInfo
 *   vigil.ctl.health / vigil.ctl.ready
 *   vigil.ctl.search   {label, text, from, to, …} → {hits, next, query}   (src/control/history.ts)
 *   vigil.ctl.ask      {question}     → {answer, evidence, searched}
 *
 * The reply body is the same JSON as over HTTP; its `Vigil-Status` header carries the HTTP-style
 * status. With a token, requests need an `Authorization: Bearer <token>` header. Replicas share the
 * queue group `vigil-ctl`.
 */
import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { CONTROL_PREFIX, CONTROL_SUBSCRIPTION, controlSubject } from '../core/subjects.js';
import {
  authorized,
  ControlError,
  errorReply,
  handleControl,
  type ControlContext,
  type ControlReply,
} from './api.js';
import { handleHistory } from './history.js';

export interface NatsControlOptions extends ControlContext {
  connection: NatsConnection;
  token?: string;
  queue?: string;
}

export interface NatsControlService {
  /** Stops serving (unsubscribes; the connection stays open); idempotent. */
  close(): Promise<void>;
}

function reply(msg: Msg, r: ControlReply): void {
  const h = headers();
  h.set('Vigil-Status', String(r.status));
  h.set('Content-Type', 'application/json');
  msg.respond(JSON.stringify(r.body), { headers: h });
}

export function serveControlOverNats(o: NatsControlOptions): NatsControlService {
  const handle = async (msg: Msg): Promise<ControlReply> => {
    if (!authorized(o.token, msg.headers?.get('Authorization'))) {
      return errorReply(new ControlError('VIGIL_ERR_UNAUTHORIZED', 'missing or wrong bearer token'));
    }
    const op = msg.subject.slice(CONTROL_PREFIX.length + 1);
    let args: unknown;
    if (msg.data.length > 0) {
      try {
        args = JSON.parse(msg.string()) as unknown;
      } catch {
        return errorReply(new ControlError('VIGIL_ERR_BAD_REQUEST', 'request body is not valid JSON'));
      }
    } else if (op === 'attach') {
      return errorReply(new ControlError('VIGIL_ERR_BAD_REQUEST', 'request body is empty: send JSON'));
    }
    if (op === 'search' || op === 'ask') return handleHistory(o.history, op, args, o.askModel);
    return handleControl(o, op, args);
  };
  const sub: Subscription = o.connection.subscribe(CONTROL_SUBSCRIPTION, {
    queue: o.queue ?? 'vigil-ctl',
    callback: (err, msg) => {
      if (err || !msg.reply) return;
      handle(msg).then(
        (r) => reply(msg, r),
        (e: unknown) => reply(msg, errorReply(e)),
      );
    },
  });
  let closing: Promise<void> | undefined;
  return {
    close: () => {
      closing ??= (async () => {
        sub.unsubscribe();
        await sub.closed.catch(() => undefined);
      })();
      return closing;
    },
  };
}

/** Client side (CLI, tests): one request; returns the status and the JSON body. */
export async function controlRequest(
  nc: NatsConnection,
  op: string,
  args?: unknown,
  options: { token?: string; timeoutMs?: number } = {},
): Promise<ControlReply> {
  const h = headers();
  if (options.token) h.set('Authorization', `Bearer ${options.token}`);
  const m = await nc.request(controlSubject(op), args === undefined ? '' : JSON.stringify(args), {
    timeout: options.timeoutMs ?? 5_000,
    headers: h,
  });
  return { status: Number(m.headers?.get('Vigil-Status') ?? 200), body: m.json<unknown>() };
}
