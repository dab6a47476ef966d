/** `vigil search`: structured filters and full text over the history, on a local index or a server. */
import { formatStreamTime } from '../history/ask.js';
import { parseSearchQuery, type SearchResult } from '../history/index.js';
import {
  callServer,
  CliUsageError,
  historySource,
  historySourceOptions,
  type CliCommand,
} from './history.js';

/** One line per hit: stream, stream-time range, type, labels, text, keyframes. */
export function formatSearch(r: SearchResult): string {
  if (r.hits.length === 0) return 'no matches';
  const lines = r.hits.map((h) => {
    const range =
      h.startMs === h.endMs
        ? formatStreamTime(h.startMs)
        : `${formatStreamTime(h.startMs)}–${formatStreamTime(h.endMs)}`;
    const labels = h.labels.length > 0 ? ` [${h.labels.join(', ')}]` : '';
    const text = h.text ? `  ${h.text.slice(0, 120)}` : '';
    const kf =
      h.keyframes.length > 0
        ? `  keyframes ${h.keyframes
            .map((k) => k.id)
            .slice(0, 3)
            .join(' ')}`
        : '';
    return `${h.stream} ${range} ${h.type}${labels}${text}${kf}`;
  });
  if (r.next !== null) lines.push(`… more: --offset ${r.next}`);
  return lines.join('\n');
}

export const searchCommand: CliCommand = {
  summary: 'Search the stream history: label, text, time range, zone, count, dwell, type',
  usage:
    'vigil search [--history PATH | --server URL] [--stream S] [--label L] [--text T] [--from T] [--to T] [--clock stream|wall] [--zone Z] [--min-count N] [--min-dwell-ms N] [--type T] [--order newest|oldest|best|longest] [--limit N] [--offset N] [--json]',
  examples: [
    'vigil search --history vigil-report-vtest --label person --from 0:10 --to 0:20',
    'vigil search --server http://analyzer:8080 --text "exit 12" --json',
    'vigil search --history vigil-data/history.sqlite --type alert --zone gate --from 2026-12-05T10:00:00Z',
  ],
  options: {
    ...historySourceOptions,
    stream: { type: 'string', multiple: true },
    label: { type: 'string', multiple: true },
    zone: { type: 'string', multiple: true },
    type: { type: 'string', multiple: true },
    text: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    clock: { type: 'string' },
    'min-count': { type: 'string' },
    'min-dwell-ms': { type: 'string' },
    order: { type: 'string' },
    limit: { type: 'string' },
    offset: { type: 'string' },
  },
  run: async (values, positionals) => {
    if (positionals.length > 0) throw new CliUsageError('search takes no arguments: use --text for words');
    const v = values as Record<string, unknown>;
    const args: Record<string, unknown> = {};
    const map: Record<string, string> = {
      stream: 'streams',
      label: 'labels',
      zone: 'zones',
      type: 'types',
      text: 'text',
      from: 'from',
      to: 'to',
      clock: 'clock',
      'min-count': 'minCount',
      'min-dwell-ms': 'minDwellMs',
      order: 'order',
      limit: 'limit',
      offset: 'offset',
    };
    for (const [flag, field] of Object.entries(map)) if (v[flag] !== undefined) args[field] = v[flag];
    // Validated here too, so a bad flag fails before any connection.
    const query = parseSearchQuery(args);
    const source = await historySource(v);
    let result: SearchResult;
    if ('local' in source) {
      try {
        result = await source.local.search(query);
      } finally {
        await source.local.close();
      }
    } else {
      const params = new URLSearchParams();
      for (const [k, val] of Object.entries(args)) {
        for (const x of Array.isArray(val) ? val : [val]) params.append(k, String(x));
      }
      result = (await callServer(source, 'GET', `v1/search?${params.toString()}`)) as SearchResult;
    }
    console.log(values.json ? JSON.stringify(result) : formatSearch(result));
    return 0;
  },
};
