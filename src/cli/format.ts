/** Human-readable one-liners for what arrives on NATS (used by `demo` and `analyze`). */
import type { Caption, Summary, Transcript, VigilEvent } from '../core/contracts.js';

export function clock(ptsNs: number): string {
  const total = Math.max(0, Math.floor(ptsNs / 1e9));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function formatSummary(s: Summary): string {
  const prev = s.previousId ? ` (builds on ${s.previousId})` : ' (first in chain)';
  return `[summary ${s.level} #${s.index} ${clock(s.startPtsNs)}–${clock(s.endPtsNs)}] ${s.text}${prev}`;
}

export function formatEvent(e: VigilEvent): string {
  const data = Object.entries(e.data)
    .filter(([, v]) => typeof v !== 'object' || v === null)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  const boxes = e.evidence.boxes.length;
  const kf = e.evidence.keyframeId ? ` keyframe ${e.evidence.keyframeId}` : '';
  return `[event ${e.type} ${clock(e.ptsNs)}] ${data}${kf}${boxes ? `, ${boxes} box${boxes === 1 ? '' : 'es'}` : ''}`;
}

/** A keyframe's caption by the vision-language model; the text is the model's, on one line. */
export function formatCaption(c: Pick<Caption, 'ptsNs' | 'keyframeId' | 'model' | 'text'>): string {
  return `[caption ${clock(c.ptsNs)}] ${oneLine(c.text)} (${c.model}, keyframe ${c.keyframeId})`;
}

/** Speech to text: the segment's stream times, language when known, the text on one line. */
export function formatTranscript(
  t: Pick<Transcript, 'startPtsNs' | 'endPtsNs' | 'model' | 'text' | 'language'>,
): string {
  const span = `${seconds(t.startPtsNs)}–${seconds(t.endPtsNs)}`;
  return `[transcript ${span}${t.language ? ` ${t.language}` : ''}] ${oneLine(t.text)} (${t.model})`;
}

/** Stream time with tenths of a second (speech is short). */
function seconds(ptsNs: number): string {
  return `${(Math.max(0, ptsNs) / 1e9).toFixed(1)}s`;
}

/** A model's text on one terminal line: control characters and line breaks become spaces. */
function oneLine(text: string): string {
  return (
    String(text)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
      .trim()
  );
}
