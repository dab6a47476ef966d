#!/usr/bin/env node
// Each GStreamer pipeline keeps a few thread-pool threads busy (bus polling, appsink pulls), so the
// pool must be sized before anything starts it: libuv reads UV_THREADPOOL_SIZE once, at first use.
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = '64';
// glibc reads its malloc tunables once, at process start: long-running commands start again with a
// fixed mmap threshold (RSS stays flat under attach/detach churn; see src/app/malloc-tuning.ts).
const { mallocTuningEnv, runTuned, watchTuningParent } = await import('../dist/app/malloc-tuning.js');
let env;
try {
  env = mallocTuningEnv({
    env: process.env,
    platform: process.platform,
    glibc: () => process.report?.getReport().header.glibcVersionRuntime,
    argv: process.argv.slice(2),
  });
} catch (err) {
  console.error(`vigil: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
if (env) {
  runTuned(env);
} else {
  watchTuningParent();
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv.slice(2));
}
