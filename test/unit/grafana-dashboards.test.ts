/**
 * Grafana cannot run here, so the dashboards' import-readiness is checked structurally: what
 * Grafana needs to import them (uid, title, schemaVersion, panels with grid positions and
 * targets), the datasource chosen through the ${DS_PROMETHEUS} variable on every panel and target,
 * template variables defined before use, and nothing tied to one installation (instances, hosts).
 * Their queries are evaluated against a real Prometheus in prometheus-dashboards.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../helpers/paths.js';

const DIR = resolve(ROOT, 'grafana/dashboards');
const DS = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
const BUILTINS = new Set(['__rate_interval', '__range', '__interval', '__interval_ms', '__range_s']);

interface Target {
  refId: string;
  expr: string;
  datasource: unknown;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: unknown;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Target[];
}
interface Variable {
  name: string;
  type: string;
  query?: unknown;
  datasource?: unknown;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
  [key: string]: unknown;
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
const load = (f: string) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Dashboard;

describe('grafana dashboards import cleanly', () => {
  it('ships the fleet overview, per-stream and inference-server dashboards with unique uids', () => {
    const all = files.map(load);
    expect(all.map((d) => d.uid).sort()).toEqual(['vigil-fleet', 'vigil-inference', 'vigil-stream']);
    expect(new Set(all.map((d) => d.title)).size).toBe(all.length);
  });

  it.each(files)('%s: schema, datasource by uid variable, targets with expressions', (file) => {
    const d = load(file);
    expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(d.title).toMatch(/^Vigil \/ /);
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    // No `id` (Grafana assigns it on import) and no `__inputs` pinning a datasource name.
    expect(d).not.toHaveProperty('id');
    const vars = d.templating.list;
    const ds = vars.find((v) => v.name === 'DS_PROMETHEUS');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const v of vars.filter((x) => x.type === 'query')) expect(v.datasource).toEqual(DS);
    const defined = new Set(vars.map((v) => v.name));

    expect(d.panels.length).toBeGreaterThanOrEqual(8);
    expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
    for (const p of d.panels) {
      expect(p.title.length).toBeGreaterThan(0);
      expect(['timeseries', 'stat', 'gauge', 'table', 'bargauge']).toContain(p.type);
      expect(p.datasource).toEqual(DS);
      const g = p.gridPos;
      expect(g.w > 0 && g.h > 0 && g.x >= 0 && g.x + g.w <= 24 && g.y >= 0).toBe(true);
      expect(p.targets.length).toBeGreaterThan(0);
      expect(new Set(p.targets.map((t) => t.refId)).size).toBe(p.targets.length);
      for (const t of p.targets) {
        expect(t.datasource).toEqual(DS);
        expect(t.expr.trim().length).toBeGreaterThan(0);
        for (const m of t.expr.matchAll(/\$\{?(\w+)/g)) {
          expect(defined.has(m[1]!) || BUILTINS.has(m[1]!), `${p.title}: $${m[1]} is defined`).toBe(true);
        }
      }
    }
    // Nothing tied to one installation: no instance, host, port or job pinned in a query.
    const text = JSON.stringify(d);
    expect(text).not.toMatch(/instance\s*=\s*\\?"[^$]/);
    expect(text).not.toMatch(/job\s*=~?\s*\\?"/);
    expect(text).not.toMatch(/localhost|127\.0\.0\.1|:\d{4,5}\b/);
  });

  it('the per-stream dashboard selects one stream through $stream', () => {
    const d = load('stream.json');
    const v = d.templating.list.find((x) => x.name === 'stream');
    expect(v).toMatchObject({ type: 'query', multi: false });
    for (const p of d.panels) for (const t of p.targets) expect(t.expr).toContain('stream="$stream"');
  });

  it('provisioning: the datasource has a uid and takes its URL from the environment; dashboards load from the mounted folder', () => {
    const ds = parse(
      readFileSync(resolve(ROOT, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
    ) as {
      apiVersion: number;
      datasources: { uid: string; type: string; url: string }[];
    };
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', uid: 'vigil-prometheus' });
    expect(ds.datasources[0]!.url).toBe('${PROMETHEUS_URL}');
    const dash = parse(readFileSync(resolve(ROOT, 'grafana/provisioning/dashboards/vigil.yml'), 'utf8')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(dash.providers[0]).toMatchObject({
      type: 'file',
      options: { path: '/var/lib/grafana/dashboards/vigil' },
    });
  });
});
