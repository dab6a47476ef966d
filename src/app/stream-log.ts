/**
 * Stream trouble on the service's log (stderr under `vigil run`): a stream that fails, goes down
 * or stalls, and comes back. Issue 22 item 14: a stream that failed at runtime logged nothing.
 * One line per change (an outage is logged when it starts and when its error code changes, not at
 * every retry); stream id, state, error code and the error's message, which is already redacted
 * (sources are shown without credentials), so no secret reaches the log.
 */
import type { Manager } from '../analyzer/manager.js';
import type { ManagerUpdate, StreamInfo } from '../analyzer/stream-state.js';

/** The line for a state change of `info`, or null when it is not worth a line. */
export function streamTroubleLine(info: StreamInfo, previous: StreamInfo | undefined): string | null {
  const err = info.error ? `${info.error.message} [${info.error.code}]` : 'no error reported';
  const wasOutage = previous !== undefined && ['down', 'stalled'].includes(previous.state);
  switch (info.state) {
    case 'failed':
      return `vigil: stream ${info.id} failed: ${err}`;
    case 'down':
    case 'stalled': {
      if (wasOutage && previous?.error?.code === info.error?.code) return null;
      const what =
        info.state === 'stalled' && !info.error ? 'stalled: no frames arrive' : `${info.state}: ${err}`;
      return `vigil: stream ${info.id} ${what}; retrying`;
    }
    case 'recovered':
      return `vigil: stream ${info.id} recovered`;
    default:
      return null;
  }
}

/** Logs stream trouble of every stream of `manager`; returns the unsubscribe function. */
export function logStreamTrouble(manager: Manager, log: (line: string) => void): () => void {
  const last = new Map<string, StreamInfo>();
  return manager.onUpdate((u: ManagerUpdate) => {
    if (u.type === 'detached') {
      last.delete(u.info.id);
      return;
    }
    if (u.type !== 'state') return;
    const previous = last.get(u.info.id);
    if (previous?.state === u.info.state && previous.error?.code === u.info.error?.code) return;
    const line = streamTroubleLine(u.info, previous);
    last.set(u.info.id, u.info);
    if (line) log(line);
  });
}
