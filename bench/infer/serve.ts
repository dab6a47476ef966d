/**
 * Runs an inference server in its own process (onnxruntime-node runs a model synchronously on the
 * JS thread, so a server sharing a process with its client would stall the client's timers).
 * Used by the benchmark and by integration tests that kill and restart a server.
 *
 *   npx tsx bench/infer/serve.ts --repo models/repo [--host 127.0.0.1] [--port 0] [--max-queue 64] [--threads N] [--no-spin]
 *
 * Prints `PORT <n>` on stdout once serving; SIGTERM/SIGINT close it gracefully (in-flight calls drain).
 */
import { parseArgs } from 'node:util';
import { startInferenceServer } from '../../src/infer/index.js';

const { values } = parseArgs({
  options: {
    repo: { type: 'string', default: 'models/repo' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'max-queue': { type: 'string', default: '64' },
    threads: { type: 'string' },
    'no-spin': { type: 'boolean', default: false },
  },
  strict: true,
});
const server = await startInferenceServer({
  modelRepository: values.repo!,
  host: values.host!,
  port: Number(values.port),
  maxQueueSize: Number(values['max-queue']),
  ...(values.threads ? { intraOpNumThreads: Number(values.threads) } : {}),
  ...(values['no-spin'] ? { intraOpSpinning: false } : {}),
  logger: { info: () => undefined, warn: (m) => console.error(`[serve] ${m}`) },
});
process.stdout.write(`PORT ${server.port}\n`);
const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
