/**
 * Ingest benchmark: `npx tsx bench/ingest/run.ts` (one run, ratios measured side by side).
 * libuv sizes its thread pool once, when something first uses it, and under tsx the loader has
 * already done so before this file runs: setting UV_THREADPOOL_SIZE here would be too late (the
 * pool stays at 4 threads, and a few streams' pulls starve each other). So without it in the
 * environment, the bench runs itself again in a child that has it from the start, as
 * `bin/vigil.js` has in production.
 */
import { spawn } from 'node:child_process';

if (!process.env.UV_THREADPOOL_SIZE) {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: '64' },
  });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await import('./bench.js');
}
