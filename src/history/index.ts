/**
 * Stream history: the index (SQLite by default, PostgreSQL when `history.postgres` is set), the
 * JetStream consumer that fills it, search and ask. The public surface of src/history.
 */
import { join } from 'node:path';
import type { Summary, VigilEvent } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { envelope } from '../publish/cloudevents.js';
import { subjects } from '../core/subjects.js';
import { openPostgresIndex } from './postgres.js';
import { recordFromMessage, type IndexItem } from './records.js';
import { openSqliteIndex } from './sqlite.js';
import type { HistoryIndex, ThumbnailUrl } from './store.js';

export { answerQuestion, parseQuestion, type Answer, type ParsedQuestion } from './ask.js';
export { startHistoryConsumer, type HistoryConsumer, type HistoryConsumerOptions } from './consumer.js';
export {
  HistoryError,
  parseSearchQuery,
  type SearchQuery,
  type SearchResult,
  type SearchHit,
} from './query.js';
export { itemFromMessage, recordFromMessage, type HistoryRecord, type IndexItem } from './records.js';
export { openSqliteIndex } from './sqlite.js';
export { openPostgresIndex } from './postgres.js';
export { defaultThumbnailUrl, type HistoryIndex, type ThumbnailUrl } from './store.js';

export interface HistoryConfig {
  /** Run the history consumer inside `vigil run` (default true). */
  enabled: boolean;
  /** The SQLite file (default `vigil-data/history.sqlite`); unused with `postgres`. */
  path: string;
  /** Shared PostgreSQL index; the URL may also come from VIGIL_HISTORY_POSTGRES_URL. */
  postgres: { url: string; maxConnections: number; statementTimeoutMs: number } | null;
  /** Durable consumer name (default vigil-history). */
  durable: string;
  /** Stream capturing keyframe records (default VIGIL_KEYFRAMES), or false. */
  keyframeStream: string | false;
}

export const DEFAULT_HISTORY_CONFIG: HistoryConfig = {
  enabled: true,
  path: join('vigil-data', 'history.sqlite'),
  postgres: null,
  durable: 'vigil-history',
  keyframeStream: 'VIGIL_KEYFRAMES',
};

/**
 * The `history` section of the config (validated; errors name the key). Secrets: the PostgreSQL
 * URL (with its password) should come from VIGIL_HISTORY_POSTGRES_URL.
 */
export function parseHistoryConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv = process.env,
  where = 'history',
): HistoryConfig {
  const c: HistoryConfig = { ...DEFAULT_HISTORY_CONFIG };
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${where} must be a mapping`);
    const o = raw as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['enabled', 'path', 'postgres', 'durable', 'keyframeStream'].includes(k)) {
        throw new ConfigError(
          `${where}.${k} is not a known key (enabled, path, postgres, durable, keyframeStream)`,
        );
      }
    }
    if (o['enabled'] !== undefined) {
      if (typeof o['enabled'] !== 'boolean') throw new ConfigError(`${where}.enabled must be true or false`);
      c.enabled = o['enabled'];
    }
    if (o['path'] !== undefined) {
      if (typeof o['path'] !== 'string' || o['path'] === '')
        throw new ConfigError(`${where}.path must be a file path`);
      c.path = o['path'];
    }
    if (o['durable'] !== undefined) {
      if (typeof o['durable'] !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(o['durable'])) {
        throw new ConfigError(`${where}.durable must be 1-64 letters, digits, '_' or '-'`);
      }
      c.durable = o['durable'];
    }
    if (o['keyframeStream'] !== undefined) {
      const v = o['keyframeStream'];
      if (v !== false && (typeof v !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(v))) {
        throw new ConfigError(`${where}.keyframeStream must be a stream name or false`);
      }
      c.keyframeStream = v as string | false;
    }
    if (o['postgres'] !== undefined && o['postgres'] !== null) {
      const p = o['postgres'];
      const pg = typeof p === 'string' ? { url: p } : p;
      if (typeof pg !== 'object' || Array.isArray(pg)) {
        throw new ConfigError(`${where}.postgres must be a URL or {url, maxConnections, statementTimeoutMs}`);
      }
      const g = pg as Record<string, unknown>;
      for (const k of Object.keys(g)) {
        if (!['url', 'maxConnections', 'statementTimeoutMs'].includes(k)) {
          throw new ConfigError(
            `${where}.postgres.${k} is not a known key (url, maxConnections, statementTimeoutMs)`,
          );
        }
      }
      const int = (k: string, def: number, min: number, max: number) => {
        const v = g[k] ?? def;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
          throw new ConfigError(`${where}.postgres.${k} must be an integer within ${min}..${max}`);
        }
        return v;
      };
      const url = g['url'] ?? env['VIGIL_HISTORY_POSTGRES_URL'];
      if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
        throw new ConfigError(
          `${where}.postgres.url must be a postgres:// URL (or set VIGIL_HISTORY_POSTGRES_URL)`,
        );
      }
      c.postgres = {
        url,
        maxConnections: int('maxConnections', 4, 1, 64),
        statementTimeoutMs: int('statementTimeoutMs', 5_000, 100, 600_000),
      };
    }
  }
  if (c.postgres === null && env['VIGIL_HISTORY_POSTGRES_URL']) {
    const url = env['VIGIL_HISTORY_POSTGRES_URL'];
    if (!/^postgres(ql)?:\/\//.test(url))
      throw new ConfigError('VIGIL_HISTORY_POSTGRES_URL must be a postgres:// URL');
    c.postgres = { url, maxConnections: 4, statementTimeoutMs: 5_000 };
  }
  return c;
}

/** Opens the configured backend. */
export function openHistoryIndex(c: HistoryConfig, thumbnailUrl?: ThumbnailUrl): Promise<HistoryIndex> {
  const t = thumbnailUrl ? { thumbnailUrl } : {};
  if (c.postgres) {
    return openPostgresIndex({
      connectionString: c.postgres.url,
      maxConnections: c.postgres.maxConnections,
      statementTimeoutMs: c.postgres.statementTimeoutMs,
      ...t,
    });
  }
  return openSqliteIndex({ path: c.path, ...t });
}

/** Contract objects (what the analyzer produced) → index items, through the same envelopes as NATS. */
export function itemsFromAnalysis(events: readonly VigilEvent[], summaries: readonly Summary[]): IndexItem[] {
  const items: IndexItem[] = [];
  for (const s of summaries) {
    const ce = envelope('summary', s.streamId, s.id, s.endTimeMs, s, s.level);
    const r = recordFromMessage(subjects.summary(s.streamId, s.level), ce);
    if (r) items.push({ record: r });
  }
  for (const e of events) {
    const ce = envelope('event', e.streamId, e.id, e.timeMs, e, e.type);
    const r = recordFromMessage(subjects.event(e.streamId, e.type), ce);
    if (r) items.push({ record: r });
  }
  return items;
}

/**
 * `analyze --report DIR`: writes DIR/history.sqlite from the run's events and summaries, so
 * `vigil search --history DIR` and `vigil ask --history DIR` work on a report (`reportThumbnail`
 * maps evidence names to the report's evidence files).
 */
export async function writeReportHistory(
  dir: string,
  events: readonly (VigilEvent & { evidenceImage?: string | null })[],
  summaries: readonly Summary[],
): Promise<string> {
  const path = join(dir, 'history.sqlite');
  const index = await openSqliteIndex({ path });
  try {
    const withImages = events.map((e) =>
      e.evidenceImage && e.evidence.keyframeId
        ? {
            ...e,
            evidence: {
              ...e.evidence,
              image: { bucket: 'report', name: `${e.streamId}/${e.evidence.keyframeId}.jpg` },
            },
          }
        : e,
    );
    await index.write(itemsFromAnalysis(withImages, summaries));
  } finally {
    await index.close();
  }
  return path;
}

/** Evidence object name (`<stream>/<keyframe>.jpg`) → the report's file for it (see cli/report.ts). */
export function reportThumbnail(dir: string): ThumbnailUrl {
  return (name) => {
    const keyframe = name.slice(name.indexOf('/') + 1).replace(/\.jpg$/, '');
    return join(dir, 'evidence', `${keyframe.replace(/[^A-Za-z0-9_-]/g, '_')}.jpg`);
  };
}
