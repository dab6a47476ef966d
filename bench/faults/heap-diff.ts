/**
 * Compares two V8 heap snapshots (e.g. bench/faults/churn.ts `--heap-snapshot` at cycle 10 and the
 * last cycle): objects by constructor (node type + name), count and self size in each, sorted by
 * the growth in bytes. Finds per-cycle leaks: what grows by about one per cycle.
 *
 *   npx tsx bench/faults/heap-diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot [--top 40]
 *   npx tsx bench/faults/heap-diff.ts AFTER.heapsnapshot --retainers NAME [--top 5]
 *   npx tsx bench/faults/heap-diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot --paths [--depth 6]
 *
 * `--paths`: the objects in AFTER that were not in BEFORE (snapshot ids are stable within one
 * process), grouped by their retaining path (first strong retainer, `--depth` steps up): where
 * the new objects hang.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: (string[] | string)[];
      edge_fields: string[];
      edge_types: (string[] | string)[];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Group {
  count: number;
  bytes: number;
}

/** Where each field sits in a snapshot's flat node and edge arrays, and the type names. */
function layoutOf(s: Snapshot) {
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  return {
    types: s.snapshot.meta.node_types[0] as string[],
    edgeTypes: s.snapshot.meta.edge_types[0] as string[],
    nw: nf.length,
    ew: ef.length,
    iType: nf.indexOf('type'),
    iName: nf.indexOf('name'),
    iId: nf.indexOf('id'),
    iSize: nf.indexOf('self_size'),
    iEdges: nf.indexOf('edge_count'),
    eType: ef.indexOf('type'),
    eName: ef.indexOf('name_or_index'),
    eTo: ef.indexOf('to_node'),
  };
}

function load(file: string): Snapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
}

/** Objects grouped by "type:name" (strings, code and the like by their type only). */
export function groups(s: Snapshot): Map<string, Group> {
  const { types, nw, iType, iName, iSize } = layoutOf(s);
  const out = new Map<string, Group>();
  for (let i = 0; i < s.nodes.length; i += nw) {
    const type = types[s.nodes[i + iType]!]!;
    const named = type === 'object' || type === 'closure' || type === 'native';
    const key = named ? `${type}:${s.strings[s.nodes[i + iName]!]}` : type;
    const g = out.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += s.nodes[i + iSize]!;
    out.set(key, g);
  }
  return out;
}

/** For objects named `name`: what holds them (type:name of the holder and the edge), counted. */
export function retainers(s: Snapshot, name: string): Map<string, number> {
  const { types, edgeTypes, nw, ew, iType, iName, iEdges, eType, eName, eTo } = layoutOf(s);
  const out = new Map<string, number>();
  let edge = 0;
  for (let i = 0; i < s.nodes.length; i += nw) {
    const n = s.nodes[i + iEdges]!;
    const holder = `${types[s.nodes[i + iType]!]}:${s.strings[s.nodes[i + iName]!]}`;
    for (let e = 0; e < n; e++, edge += ew) {
      const to = s.edges[edge + eTo]!;
      if (s.strings[s.nodes[to + iName]!] !== name) continue;
      const et = edgeTypes[s.edges[edge + eType]!]!;
      if (et === 'weak') continue;
      const label = et === 'element' || et === 'hidden' ? `[${et}]` : s.strings[s.edges[edge + eName]!];
      const key = `${holder} .${label}`;
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  }
  return out;
}

/**
 * Objects of `after` absent from `before` (by snapshot id), grouped by a retaining path: from each
 * object, up to `depth` steps through its first strong retainer. Count and self bytes per path.
 */
export function newByPath(before: Snapshot, after: Snapshot, depth: number): Map<string, Group> {
  const { types, edgeTypes, nw, ew, iType, iName, iId, iSize, iEdges, eType, eName, eTo } = layoutOf(after);
  const old = new Set<number>();
  const { nw: bw, iId: bId } = layoutOf(before);
  for (let i = 0; i < before.nodes.length; i += bw) old.add(before.nodes[i + bId]!);
  // First strong retainer of each node: node offset and edge label.
  const count = after.nodes.length / nw;
  const parent = new Int32Array(count).fill(-1);
  const parentEdge: string[] = new Array<string>(count);
  let edge = 0;
  for (let i = 0; i < after.nodes.length; i += nw) {
    const n = after.nodes[i + iEdges]!;
    for (let e = 0; e < n; e++, edge += ew) {
      const et = edgeTypes[after.edges[edge + eType]!]!;
      if (et === 'weak' || et === 'shortcut') continue;
      const to = after.edges[edge + eTo]! / nw;
      if (parent[to] !== -1) continue;
      parent[to] = i / nw;
      parentEdge[to] =
        et === 'element' || et === 'hidden'
          ? `[${after.edges[edge + eName]}]`
          : after.strings[after.edges[edge + eName]!]!;
    }
  }
  const label = (k: number): string => {
    const type = types[after.nodes[k * nw + iType]!]!;
    const name = after.strings[after.nodes[k * nw + iName]!]!;
    return `${type}:${name.slice(0, 40)}`;
  };
  const out = new Map<string, Group>();
  for (let k = 0; k < count; k++) {
    if (old.has(after.nodes[k * nw + iId]!)) continue;
    const parts = [label(k)];
    let at = k;
    for (let d = 0; d < depth && parent[at] !== -1; d++) {
      parts.push(`.${parentEdge[at]} <- ${label(parent[at]!)}`);
      at = parent[at]!;
    }
    const key = parts.join(' ');
    const g = out.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += after.nodes[k * nw + iSize]!;
    out.set(key, g);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '40' },
      retainers: { type: 'string' },
      paths: { type: 'boolean', default: false },
      depth: { type: 'string', default: '6' },
    },
  });
  const top = Number(values.top);
  if (values.paths) {
    const r = newByPath(load(positionals[0]!), load(positionals[1]!), Number(values.depth));
    for (const [k, g] of [...r].sort((a, b) => b[1].count - a[1].count).slice(0, top))
      console.log(`${g.count}\t${g.bytes}\t${k}`);
  } else if (values.retainers) {
    const r = retainers(load(positionals[0]!), values.retainers);
    for (const [k, n] of [...r].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${n}\t${k}`);
  } else {
    const a = groups(load(positionals[0]!));
    const b = groups(load(positionals[1]!));
    const rows = [...new Set([...a.keys(), ...b.keys()])].map((k) => {
      const x = a.get(k) ?? { count: 0, bytes: 0 };
      const y = b.get(k) ?? { count: 0, bytes: 0 };
      return { k, dc: y.count - x.count, db: y.bytes - x.bytes, c: y.count };
    });
    rows.sort((p, q) => q.db - p.db);
    console.log('| +bytes | +count | count after | type:name |\n|---:|---:|---:|---|');
    for (const r of rows.slice(0, top)) console.log(`| ${r.db} | ${r.dc} | ${r.c} | ${r.k} |`);
  }
}
