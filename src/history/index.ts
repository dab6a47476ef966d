/**
 * Stream history: the index (SQLite by default, PostgreSQL when `history.postgres` is set), the
 * JetStream consumer that fills it, search and ask. The public surface of src/history.
 */
import { join } from 'node:path';
import type { Summary, VigilEvent } from '../core/contracts.js';
import type { HistoryConfig } from '../config/history.js';
import { envelope } from '../publish/cloudevents.js';
import { subjects } from '../core/subjects.js';
import { openPostgresIndex } from './postgres.js';
import { recordFromMessage, type IndexItem } from './records.js';
import { openSqliteIndex } from './sqlite.js';
import type { HistoryIndex, ThumbnailUrl } from './store.js';

export { DEFAULT_HISTORY_CONFIG, parseHistoryConfig, type HistoryConfig } from '../config/history.js';
export {
  answerWithModel,
  checkCitations,
  type AskModel,
  type ModelAnswer,
  type ModelAnswerInfo,
} from './ask-model.js';
export { answerQuestion, parseQuestion, type Answer, type ParsedQuestion } from './ask.js';
export { startHistoryConsumer, type HistoryConsumer, type HistoryConsumerOptions } from './consumer.js';
export {
  HistoryError,
  parseSearchQuery,
  SEARCH_LIMITS,
  type SearchQuery,
  type SearchResult,
  type SearchHit,
} from './query.js';
export { itemFromMessage, recordFromMessage, type HistoryRecord, type IndexItem } from './records.js';
export { openSqliteIndex } from './sqlite.js';
export { openPostgresIndex } from './postgres.js';
export { defaultThumbnailUrl, type HistoryIndex, type ThumbnailUrl } from './store.js';

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
