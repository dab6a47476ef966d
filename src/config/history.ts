/**
 * The `history` section of the config: the search index (SQLite file, or a shared PostgreSQL) and
 * its JetStream consumer (src/history). Validated here; errors name the key.
 */
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';

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
  /** Messages per fetch and per index transaction (default 256). */
  batchSize: number;
}

export const DEFAULT_HISTORY_CONFIG: HistoryConfig = {
  enabled: true,
  path: join('vigil-data', 'history.sqlite'),
  postgres: null,
  durable: 'vigil-history',
  keyframeStream: 'VIGIL_KEYFRAMES',
  batchSize: 256,
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
      if (!['enabled', 'path', 'postgres', 'durable', 'keyframeStream', 'batchSize'].includes(k)) {
        throw new ConfigError(
          `${where}.${k} is not a known key (enabled, path, postgres, durable, keyframeStream, batchSize)`,
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
    if (o['batchSize'] !== undefined) {
      const v = o['batchSize'];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 4096) {
        throw new ConfigError(`${where}.batchSize must be an integer within 1..4096`);
      }
      c.batchSize = v;
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
