/**
 * Ingest benchmark: `npx tsx bench/ingest/run.ts` (one run, ratios measured side by side).
 * The thread pool must be sized before anything starts it, so the work lives in bench.ts.
 */
process.env.UV_THREADPOOL_SIZE ??= '64';
await import('./bench.js');
