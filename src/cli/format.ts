/** Human-readable one-liners for what arrives on NATS (used by `demo` and `analyze`). */
import type { Summary, VigilEvent } from '../core/contracts.js';

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
