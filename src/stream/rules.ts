/**
 * Rules from config: "a <label> in <zone> for at least <minDwellMs>" raises a named alert event
 * (`alert.<name>`, severity from config), at most once per `cooldownMs` of stream time per rule.
 * Works on tracked keyframes (see tracker.ts): dwell is per track id, measured from the first
 * keyframe its anchor point (bottom-centre of the box by default: where a person stands) was seen
 * inside the zone; a track that leaves the zone starts over. A track already covered by an alert is
 * not alerted again until it leaves the zone (hysteresis); with `minCount` > 1 the rule needs that
 * many qualifying tracks at once.
 *
 * Zones are polygons in source pixels or normalised 0..1 coordinates (`units`). State: per rule,
 * the in-zone start time of the tracks in the zone, bounded by the tracker's maxTracks.
 */
import type { Box, Detection, Severity } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, checkStringArray, rejectUnknownKeys } from './options.js';
import type { TrackView, TrackedKeyframe } from './tracker.js';

export interface ZoneConfig {
  /** Polygon vertices [x, y], at least 3, in order (either winding). */
  points: readonly (readonly [number, number])[];
  /** 'normalized' (0..1 of the source frame, the default) or 'px' (source pixels). */
  units?: 'normalized' | 'px';
}

export interface RuleConfig {
  /** Alert name: lowercase letters, digits, '_' or '-' (1-48); the event type is `alert.<name>`. */
  name: string;
  /** Labels the rule applies to (default: any). */
  labels?: readonly string[];
  /** Zone the object must be in (default: anywhere in the frame). */
  zone?: ZoneConfig;
  /** Which point of the box must be inside the zone (default 'bottom-center'). */
  anchor?: 'bottom-center' | 'center';
  /** Continuous time in the zone before the alert, ms of stream time (default 0). */
  minDwellMs?: number;
  /** Qualifying tracks needed at once (default 1). */
  minCount?: number;
  /** Least stream time between two alerts of this rule, ms (default 60000). */
  cooldownMs?: number;
  /** Severity of the alert event (default 'warning'). */
  severity?: Severity;
  /**
   * Ask the captioner's model this question about the alert's keyframe before publishing; the
   * alert carries the verdict and the answer, and one answered "no" goes to `alert.<name>.rejected`.
   */
  verify?: { prompt: string };
}

export interface ResolvedRule {
  name: string;
  type: string;
  labels: ReadonlySet<string> | null;
  zone: { points: [number, number][]; units: 'normalized' | 'px' } | null;
  anchor: 'bottom-center' | 'center';
  minDwellMs: number;
  minCount: number;
  cooldownMs: number;
  severity: Severity;
  verify: { prompt: string } | null;
}

/** What a rule decided on one keyframe; the event detector turns it into a VigilEvent. */
export interface RuleAlert {
  rule: ResolvedRule;
  tracks: TrackView[];
  boxes: Detection[];
  data: Record<string, unknown>;
}

const NAME = /^[a-z0-9_-]{1,48}$/;
const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];
export const MAX_RULES = 64;

export function parseRules(rules: unknown, component = 'rules'): ResolvedRule[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) throw new ConfigError(`${component}: rules must be an array`);
  if (rules.length > MAX_RULES)
    throw new ConfigError(`${component}: at most ${MAX_RULES} rules, got ${rules.length}`);
  const names = new Set<string>();
  return rules.map((raw: unknown, i) => {
    const where = `${component}[${i}]`;
    if (typeof raw !== 'object' || raw === null) throw new ConfigError(`${where}: a rule must be an object`);
    const r = raw as RuleConfig;
    rejectUnknownKeys(where, r, [
      'name',
      'labels',
      'zone',
      'anchor',
      'minDwellMs',
      'minCount',
      'cooldownMs',
      'severity',
      'verify',
    ]);
    if (typeof r.name !== 'string' || !NAME.test(r.name)) {
      throw new ConfigError(
        `${where}: name must be 1-48 lowercase letters, digits, '_' or '-', got ${JSON.stringify(r.name)}`,
      );
    }
    if (names.has(r.name)) throw new ConfigError(`${where}: duplicate rule name '${r.name}'`);
    names.add(r.name);
    const labels = checkStringArray(where, 'labels', r.labels);
    const anchor = r.anchor ?? 'bottom-center';
    if (anchor !== 'bottom-center' && anchor !== 'center') {
      throw new ConfigError(`${where}: anchor must be 'bottom-center' or 'center'`);
    }
    const severity = r.severity ?? 'warning';
    if (!SEVERITIES.includes(severity))
      throw new ConfigError(`${where}: severity must be one of ${SEVERITIES.join(', ')}`);
    return {
      name: r.name,
      type: `alert.${r.name}`,
      labels: labels === undefined ? null : new Set(labels),
      zone: r.zone === undefined ? null : parseZone(`${where}.zone`, r.zone),
      anchor,
      minDwellMs: checkNumber(where, 'minDwellMs', r.minDwellMs ?? 0, { min: 0 }),
      minCount: checkNumber(where, 'minCount', r.minCount ?? 1, { min: 1, integer: true }),
      cooldownMs: checkNumber(where, 'cooldownMs', r.cooldownMs ?? 60_000, { min: 0 }),
      severity,
      verify: parseVerify(`${where}.verify`, r.verify),
    };
  });
}

function parseVerify(where: string, v: unknown): ResolvedRule['verify'] {
  if (v === undefined) return null;
  if (typeof v !== 'object' || v === null) throw new ConfigError(`${where}: must be { prompt }`);
  rejectUnknownKeys(where, v, ['prompt']);
  const prompt = (v as { prompt?: unknown }).prompt;
  if (typeof prompt !== 'string' || prompt.trim() === '' || prompt.length > 1000)
    throw new ConfigError(`${where}.prompt must be a non-empty string of at most 1000 characters`);
  return { prompt };
}

function parseZone(where: string, z: ZoneConfig): ResolvedRule['zone'] {
  if (typeof z !== 'object' || z === null) throw new ConfigError(`${where}: must be { points, units }`);
  rejectUnknownKeys(where, z, ['points', 'units']);
  const units = z.units ?? 'normalized';
  if (units !== 'normalized' && units !== 'px')
    throw new ConfigError(`${where}: units must be 'normalized' or 'px'`);
  if (!Array.isArray(z.points) || z.points.length < 3 || z.points.length > 256) {
    throw new ConfigError(`${where}: points must be an array of 3 to 256 [x, y] pairs`);
  }
  const points = z.points.map((p, i): [number, number] => {
    if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new ConfigError(`${where}: points[${i}] must be [x, y] numbers`);
    }
    const [x, y] = p as [number, number];
    if (units === 'normalized' && (x < 0 || x > 1 || y < 0 || y > 1)) {
      throw new ConfigError(
        `${where}: points[${i}] must lie in 0..1 with units 'normalized' (use units: 'px' for pixels)`,
      );
    }
    return [x, y];
  });
  return { points, units };
}

/** Even-odd point-in-polygon test. */
export function pointInPolygon(x: number, y: number, poly: readonly (readonly [number, number])[]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i] as readonly [number, number];
    const [xj, yj] = poly[j] as readonly [number, number];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function anchorPoint(box: Box, anchor: ResolvedRule['anchor']): [number, number] {
  return [box.x + box.w / 2, anchor === 'center' ? box.y + box.h / 2 : box.y + box.h];
}

interface RuleState {
  /** track id → PTS its anchor entered the zone. */
  since: Map<number, number>;
  /** Tracks already covered by an alert during their current stay. */
  covered: Set<number>;
  lastAlertPtsNs: number | null;
}

export class RuleEngine {
  private readonly state: Map<string, RuleState>;
  alerts = 0;

  constructor(readonly rules: readonly ResolvedRule[]) {
    this.state = new Map(
      rules.map((r) => [r.name, { since: new Map(), covered: new Set(), lastAlertPtsNs: null }]),
    );
  }

  next(item: TrackedKeyframe): RuleAlert[] {
    if (!item.tracking.analysed) return [];
    const frame = item.keyframe.frame;
    const ptsNs = frame.ptsNs;
    const out: RuleAlert[] = [];
    for (const rule of this.rules) {
      const st = this.state.get(rule.name) as RuleState;
      const present = new Set<number>();
      const qualifying: TrackView[] = [];
      let maxDwell = 0;
      for (const t of item.tracking.tracks) {
        if (rule.labels !== null && !rule.labels.has(t.label)) continue;
        if (!this.inZone(rule, t.box, frame.sourceWidth, frame.sourceHeight)) continue;
        present.add(t.id);
        let since = st.since.get(t.id);
        if (since === undefined) {
          since = ptsNs;
          st.since.set(t.id, since);
        }
        const dwell = (ptsNs - since) / 1e6;
        if (dwell >= rule.minDwellMs) {
          qualifying.push(t);
          maxDwell = Math.max(maxDwell, dwell);
        }
      }
      // Tracks no longer in the zone (or gone) start over.
      for (const id of st.since.keys()) if (!present.has(id)) st.since.delete(id);
      for (const id of st.covered) if (!present.has(id)) st.covered.delete(id);

      if (qualifying.length < rule.minCount) continue;
      if (qualifying.every((t) => st.covered.has(t.id))) continue;
      if (st.lastAlertPtsNs !== null && (ptsNs - st.lastAlertPtsNs) / 1e6 < rule.cooldownMs) continue;
      st.lastAlertPtsNs = ptsNs;
      for (const t of qualifying) st.covered.add(t.id);
      this.alerts++;
      out.push({
        rule,
        tracks: qualifying,
        boxes: qualifying.map((t) => ({
          label: t.label,
          classId: t.classId,
          score: t.score,
          box: { ...t.box },
        })),
        data: {
          rule: rule.name,
          trackIds: qualifying.map((t) => t.id),
          labels: [...new Set(qualifying.map((t) => t.label))].sort(),
          count: qualifying.length,
          dwellMs: maxDwell,
        },
      });
    }
    return out;
  }

  /** Tracks held across rules (for memory stats). */
  size(): number {
    let n = 0;
    for (const s of this.state.values()) n += s.since.size + s.covered.size;
    return n;
  }

  reset(): void {
    for (const s of this.state.values()) {
      s.since.clear();
      s.covered.clear();
      s.lastAlertPtsNs = null;
    }
  }

  private inZone(rule: ResolvedRule, box: Box, sw: number, sh: number): boolean {
    if (rule.zone === null) return true;
    let [x, y] = anchorPoint(box, rule.anchor);
    if (rule.zone.units === 'normalized') {
      if (!(sw > 0 && sh > 0)) return false;
      x /= sw;
      y /= sh;
    }
    return pointInPolygon(x, y, rule.zone.points);
  }
}
