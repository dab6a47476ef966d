/**
 * End-to-end benchmark: `npx tsx bench/e2e/run.ts [--levels 1,2,3,4,6,8] [--seconds 30]`.
 * The thread pool must be sized before anything starts it (GStreamer pulls hold pool threads), so
 * the work lives in bench.ts.
 */
import { ensureThreadPool } from '../lib/thread-pool.js';

if (ensureThreadPool()) await import('./bench.js');
