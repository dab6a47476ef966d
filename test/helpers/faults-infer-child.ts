/**
 * Child-process entry of the fault tests' inference server: the real `startInferenceServer` in
 * its own process (onnxruntime runs on the JS thread; a test must be able to SIGKILL the server),
 * with optional TLS / mTLS from PEM files. Prints `PORT <n>` once serving.
 *
 *   node --import tsx test/helpers/faults-infer-child.ts --repo DIR [--port N]
 *        [--cert server.crt --key server.key [--ca ca.crt --require-client-cert]]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startInferenceServer } from '../../src/infer/server.js';

const { values } = parseArgs({
  options: {
    repo: { type: 'string' },
    port: { type: 'string', default: '0' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
    'require-client-cert': { type: 'boolean', default: false },
  },
  strict: true,
});
if (!values.repo) throw new Error('--repo is required');
const tls =
  values.cert && values.key
    ? {
        certChain: readFileSync(values.cert),
        privateKey: readFileSync(values.key),
        ...(values.ca ? { rootCerts: readFileSync(values.ca) } : {}),
        requireClientCert: values['require-client-cert'] ?? false,
      }
    : undefined;
const server = await startInferenceServer({
  modelRepository: values.repo,
  host: '127.0.0.1',
  port: Number(values.port),
  intraOpNumThreads: 1,
  intraOpSpinning: false,
  ...(tls ? { tls } : {}),
  logger: { info: () => undefined, warn: (m) => console.error(`[faults-infer] ${m}`) },
});
process.stdout.write(`PORT ${server.port}\n`);
const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
