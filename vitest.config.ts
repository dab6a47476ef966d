import { defineConfig } from 'vitest/config';

// Test workers are forked from this process and inherit its environment; GStreamer pipelines each hold
// thread-pool threads (see bin/vigil.js), so the pool is sized before any worker starts it.
process.env.UV_THREADPOOL_SIZE ??= '64';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Marks every process of the run and fails it, naming each, when any outlives the tests.
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/global-file-marker.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and GStreamer pipelines; two cores do not take more.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
    // A machine-readable summary next to the console output (CI prints its totals as the last line).
    reporters: ['default', ['json', { outputFile: 'test-artifacts/vitest-results.json' }]],
  },
});
