/**
 * Events as sentences a person reads ("person #12 entered from the left at 01:09", "scene cut at
 * 00:42"), for the live view and report.html. Times are stream time as a player shows it (mm:ss);
 * never raw nanosecond fields. Plain text: the caller escapes it for HTML.
 */
import type { VigilEvent } from '../core/contracts.js';
import { clock } from '../cli/format.js';

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

const FROM: Record<string, string> = {
  left: 'from the left',
  right: 'from the right',
  top: 'from the top',
  bottom: 'from the bottom',
};
const TO: Record<string, string> = {
  left: 'to the left',
  right: 'to the right',
  top: 'at the top',
  bottom: 'at the bottom',
};

/** "4 s", "1 min 05 s" */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** One sentence for one event. */
export function describeEvent(e: VigilEvent): string {
  const d = e.data ?? {};
  const at = clock(e.ptsNs);
  const who = (): string => {
    const label = str(d['label']) ?? 'object';
    const id = num(d['trackId']);
    return id === null ? label : `${label} #${id}`;
  };
  switch (e.type) {
    case 'object.entered': {
      const edge = FROM[String(d['entryEdge'])];
      const t = clock(num(d['firstSeenPtsNs']) ?? e.ptsNs);
      return edge ? `${who()} entered ${edge} at ${t}` : `${who()} appeared at ${t}`;
    }
    case 'object.left': {
      const edge = TO[String(d['exitEdge'])];
      const t = clock(num(d['lastSeenPtsNs']) ?? e.ptsNs);
      const dwell = num(d['dwellMs']);
      const stayed = dwell === null ? '' : ` after ${duration(dwell)}`;
      return edge ? `${who()} left ${edge} at ${t}${stayed}` : `${who()} was last seen at ${t}${stayed}`;
    }
    case 'scene.cut': {
      const kind = str((d['shot'] as Record<string, unknown> | undefined)?.['kind'] ?? d['kind']);
      return kind && kind !== 'cut' ? `scene change (${kind}) at ${at}` : `scene cut at ${at}`;
    }
    case 'count.changed': {
      const label = str(d['label']) ?? 'object';
      return `${label} count went from ${num(d['from']) ?? '?'} to ${num(d['to']) ?? '?'} at ${at}`;
    }
    case 'motion.started':
      return `motion started at ${at}`;
    case 'motion.stopped':
      return `motion stopped at ${at}`;
    case 'text.appeared':
      return `text "${str(d['text']) ?? ''}" appeared at ${at}`;
    case 'speech.started':
      return `speech started at ${at}`;
    case 'speech.stopped':
      return `speech stopped at ${at}`;
    case 'stream.down':
      return `the stream went down at ${at}`;
    case 'stream.recovered':
      return `the stream recovered at ${at}`;
    default:
      if (e.type.startsWith('alert.')) {
        const rejected = e.type.endsWith('.rejected');
        const name = e.type.slice('alert.'.length, rejected ? -'.rejected'.length : undefined);
        return `alert "${name}"${rejected ? ' (rejected on review)' : ''} at ${at}`;
      }
      return `${e.type} at ${at}`;
  }
}
