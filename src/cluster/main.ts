/**
 * Entry point of an analyzer replica in a cluster (containers run `node dist/cluster/main.js`),
 * configured by environment variables:
 *
 *   VIGIL_NATS_URL          NATS servers, comma-separated (required)
 *   VIGIL_NATS_USER / VIGIL_NATS_PASSWORD / VIGIL_NATS_TOKEN   NATS credentials (optional)
 *   VIGIL_INFER_ADDRESSES   inference servers, host:port, comma-separated (required)
 *   VIGIL_MODEL             detector model name (default yolov8n)
 *   VIGIL_REPLICA_ID        unique replica id (default: host name, pid and a random suffix)
 *   VIGIL_LEASE_MS          lease period, the same on every replica (default 10000)
 *   VIGIL_MAX_STREAMS       most streams on this replica (default 16)
 *   VIGIL_METRICS_HOST      listen address of /metrics, /healthz, /readyz (default 0.0.0.0)
 *   VIGIL_METRICS_PORT      its port (default 9464; 0 = any free port)
 *
 * Prints `READY <replica> <metrics port>` on stdout once serving; SIGTERM or SIGINT hands the
 * streams back to the other replicas and exits 0.
 */

// GStreamer pipelines hold thread-pool threads: size the pool before anything starts it.
process.env.UV_THREADPOOL_SIZE ??= '64';

function list(name: string, required: boolean): string[] {
  const raw = process.env[name] ?? '';
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (required && items.length === 0) throw new Error(`${name} is required`);
  return items;
}

function int(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}

async function main(): Promise<number> {
  const { startReplica } = await import('./replica.js');
  const env = process.env;
  const servers = list('VIGIL_NATS_URL', true);
  const replica = await startReplica({
    nats: {
      servers,
      ...(env.VIGIL_NATS_USER ? { user: env.VIGIL_NATS_USER } : {}),
      ...(env.VIGIL_NATS_PASSWORD ? { pass: env.VIGIL_NATS_PASSWORD } : {}),
      ...(env.VIGIL_NATS_TOKEN ? { token: env.VIGIL_NATS_TOKEN } : {}),
    },
    inferAddresses: list('VIGIL_INFER_ADDRESSES', true),
    ...(env.VIGIL_MODEL ? { model: env.VIGIL_MODEL } : {}),
    ...(env.VIGIL_REPLICA_ID ? { replicaId: env.VIGIL_REPLICA_ID } : {}),
    ...(int('VIGIL_LEASE_MS') !== undefined ? { leaseMs: int('VIGIL_LEASE_MS')! } : {}),
    ...(int('VIGIL_MAX_STREAMS') !== undefined ? { maxStreams: int('VIGIL_MAX_STREAMS')! } : {}),
    ...(env.VIGIL_METRICS_HOST ? { metricsHost: env.VIGIL_METRICS_HOST } : {}),
    ...(int('VIGIL_METRICS_PORT') !== undefined ? { metricsPort: int('VIGIL_METRICS_PORT')! } : {}),
  });
  console.error(`vigil replica ${replica.replicaId}: serving /metrics on port ${replica.metricsPort}`);
  console.log(`READY ${replica.replicaId} ${replica.metricsPort}`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await replica.close();
  return 0;
}

// Native pipelines may hold the loop a moment after close: exit explicitly once done.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`vigil replica: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
