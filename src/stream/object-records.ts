/**
 * Object records from tracking steps (see tracker.ts): one record when a track is confirmed, an
 * update at most every `updateMs` of stream time while it lives, and a final one when it leaves.
 * Zones visited come from the rules' zones (bottom-centre of the box inside the polygon).
 * State: per live confirmed track its zone set and last update time, bounded by the tracker's
 * maxTracks and the number of zones; forgotten when the track leaves.
 */
import type { ObjectRecord } from '../core/contracts.js';
import { checkNumber, idPrefix } from './options.js';
import { pointInPolygon, type ResolvedRule } from './rules.js';
import type { TrackStep, TrackView } from './tracker.js';

export interface ObjectRecordOptions {
  /** Least stream time between two updates of one object, ms (default 2000). */
  updateMs?: number;
  runId?: string;
  /** Zones by name (the rules' zones). */
  zones?: readonly Pick<ResolvedRule, 'name' | 'zone'>[];
}

interface Live {
  revision: number;
  lastUpdateNs: number;
  zones: Set<string>;
}

export class ObjectRecords {
  private readonly updateMs: number;
  private readonly live = new Map<number, Live>();
  private readonly zones: { name: string; zone: NonNullable<ResolvedRule['zone']> }[];

  constructor(
    private readonly streamId: string,
    private readonly options: ObjectRecordOptions = {},
  ) {
    this.updateMs = checkNumber('objectRecords', 'updateMs', options.updateMs ?? 2000, { min: 0 });
    this.zones = (options.zones ?? []).flatMap((r) =>
      r.zone === null ? [] : [{ name: r.name, zone: r.zone }],
    );
  }

  /** The records this step gives: new objects, due updates, finals. */
  step(step: TrackStep, frame: { width: number; height: number }, ptsNs: number): ObjectRecord[] {
    const out: ObjectRecord[] = [];
    for (const t of step.tracks) {
      let s = this.live.get(t.id);
      const fresh = s === undefined;
      if (s === undefined) {
        s = { revision: 0, lastUpdateNs: ptsNs, zones: new Set() };
        this.live.set(t.id, s);
      }
      if (!t.occluded) this.visit(t, s, frame);
      if (fresh || (ptsNs - s.lastUpdateNs) / 1e6 >= this.updateMs) {
        s.lastUpdateNs = ptsNs;
        out.push(this.record(t, s, false));
      }
    }
    for (const t of step.left) {
      const s = this.live.get(t.id) ?? { revision: 0, lastUpdateNs: ptsNs, zones: new Set<string>() };
      this.live.delete(t.id);
      out.push({ ...this.record(t, s, true, t.reason), maxLostMs: t.maxLostMs });
    }
    return out;
  }

  get size(): number {
    return this.live.size;
  }

  reset(): void {
    this.live.clear();
  }

  private visit(t: TrackView, s: Live, frame: { width: number; height: number }): void {
    for (const z of this.zones) {
      if (s.zones.has(z.name)) continue;
      let x = t.box.x + t.box.w / 2;
      let y = t.box.y + t.box.h;
      if (z.zone.units === 'normalized') {
        if (frame.width <= 0 || frame.height <= 0) continue;
        x /= frame.width;
        y /= frame.height;
      }
      if (pointInPolygon(x, y, z.zone.points)) s.zones.add(z.name);
    }
  }

  private record(t: TrackView, s: Live, final: boolean, reason?: ObjectRecord['reason']): ObjectRecord {
    return {
      id: `${idPrefix(this.streamId, this.options.runId)}:object:${t.id}`,
      streamId: this.streamId,
      trackId: t.id,
      label: t.label,
      revision: s.revision++,
      final,
      ...(reason !== undefined ? { reason } : {}),
      startPtsNs: t.firstPtsNs,
      endPtsNs: t.lastPtsNs,
      startTimeMs: t.firstTimeMs,
      endTimeMs: t.lastTimeMs,
      dwellMs: t.dwellMs,
      hits: t.hits,
      peakScore: t.peakScore,
      medianScore: t.medianScore,
      best: t.best,
      entryEdge: t.entryEdge,
      exitEdge: final ? t.exitEdge : null,
      zones: [...s.zones].sort(),
      path: t.path,
    };
  }
}
