/**
 * Soak (endurance) run, outside CI: `npx tsx bench/soak/run.ts --streams 4 --minutes 30` (the
 * endurance run) or `--minutes 3` (the short version). The work lives in soak.ts; this entry makes
 * sure the thread pool is sized as in production first.
 */
import { ensureThreadPool } from '../lib/thread-pool.js';

if (ensureThreadPool()) await import('./soak.js');
