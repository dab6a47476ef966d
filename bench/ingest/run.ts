/**
 * Ingest benchmark: `npx tsx bench/ingest/run.ts` (one run, ratios measured side by side).
 * libuv sizes its thread pool once, when something first uses it, and under tsx the loader has
 * already done so before this file runs: setting UV_THREADPOOL_SIZE here would be too late (the
 * pool stays at 4 threads, and a few streams' pulls starve each other). So without it in the
 * environment, the bench runs itself again in a child that has it from the start, as
 * `bin/vigil.js` has in production.
 */
import { ensureThreadPool } from '../lib/thread-pool.js';

if (ensureThreadPool()) await import('./bench.js');
