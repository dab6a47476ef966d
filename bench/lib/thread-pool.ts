/**
 * libuv sizes its thread pool once, when something first uses it, and under tsx the loader has
 * already done so before a bench file runs: setting UV_THREADPOOL_SIZE there is too late (the pool
 * stays at 4 threads and a few streams' pulls starve each other). Without it in the environment,
 * the bench runs itself again in a child that has it from the start, as `bin/vigil.js` arranges in
 * production. Resolves true in the process that should run the bench.
 */
import { spawn } from 'node:child_process';

export function ensureThreadPool(size = 64): boolean {
  if (process.env.UV_THREADPOOL_SIZE) return true;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: String(size) },
  });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  return false;
}
