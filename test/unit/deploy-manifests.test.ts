/**
 * Docker and Kubernetes cannot run here; what can be checked is: every YAML file parses, required
 * fields are there, and names, images and ports agree across the Dockerfiles, compose, the
 * Kubernetes manifests, prometheus.yml and the code's own defaults.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { ROOT } from '../helpers/paths.js';

const DEPLOY = resolve(ROOT, 'deploy');
const read = (p: string) => readFileSync(resolve(DEPLOY, p), 'utf8');

interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; valueFrom?: unknown; value?: string }[];
  envFrom?: { configMapRef?: { name: string } }[];
  resources?: { requests?: { cpu?: string; memory?: string } };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  tcpSocket?: { port: string | number };
}
interface K8s {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    clusterIP?: string;
    ports?: { name: string; port: number; targetPort: string | number }[];
    template?: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: { containers: Container[] };
    };
  };
}

const k8sFiles = readdirSync(resolve(DEPLOY, 'k8s')).filter((f) => f.endsWith('.yaml'));
const docs: K8s[] = k8sFiles.flatMap((f) =>
  parseAllDocuments(read(`k8s/${f}`)).map((d) => {
    expect(d.errors, f).toEqual([]);
    return d.toJS() as K8s;
  }),
);
const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
const find = (kind: string, name: string) => {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!d) throw new Error(`no ${kind} ${name} in deploy/k8s`);
  return d;
};
const compose = parse(read('docker-compose.yml')) as {
  services: Record<
    string,
    {
      image: string;
      build?: { context: string; dockerfile: string; target?: string };
      command?: string[];
      environment?: Record<string, string>;
      expose?: string[];
      volumes?: string[];
      healthcheck?: { test: string[] };
    }
  >;
};
const svc = compose.services;

/** `--flag value` from an argument list. */
const flag = (args: string[] | undefined, name: string) => {
  const i = (args ?? []).indexOf(name);
  return i >= 0 ? args![i + 1] : undefined;
};

describe('deploy/: YAML parses and the pieces agree', () => {
  it('every YAML file parses', () => {
    for (const f of [
      'docker-compose.yml',
      'prometheus.yml',
      'alerts.yml',
      'alerts.test.yml',
      'kustomization.yaml',
    ]) {
      const all = parseAllDocuments(read(f));
      for (const d of all) expect(d.errors, f).toEqual([]);
    }
    expect(docs.length).toBeGreaterThanOrEqual(8);
  });

  it('Dockerfiles: analyzer and inference server, GStreamer and onnxruntime included, CUDA variant', () => {
    const analyzer = read('docker/analyzer.Dockerfile');
    const inference = read('docker/inference.Dockerfile');
    for (const df of [analyzer, inference]) {
      expect(df).toMatch(/^FROM .* AS build$/m);
      expect(df).toMatch(/^FROM .* AS runtime$/m);
      expect(df).toMatch(/gstreamer1\.0-plugins-base/);
      // onnxruntime-node comes with node_modules (npm ci from the lockfile).
      expect(df).toMatch(/npm ci/);
      expect(df).toMatch(/COPY --from=build \/src\/node_modules/);
      for (const m of df.matchAll(/^COPY (?!--from)(\S+) /gm)) {
        expect(existsSync(resolve(ROOT, m[1]!)), `COPY ${m[1]} exists`).toBe(true);
      }
    }
    expect(analyzer).toMatch(/gstreamer1\.0-libav/);
    expect(analyzer).toMatch(/CMD \["node", "dist\/cluster\/main\.js"\]/);
    expect(existsSync(resolve(ROOT, 'src/cluster/main.ts'))).toBe(true);
    expect(analyzer).toMatch(/EXPOSE 9464/);
    expect(inference).toMatch(/EXPOSE 8001 8002/);
    expect(inference).toMatch(/^FROM .* AS runtime-cuda$/m);
    expect(inference).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
    expect(JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')).dependencies).toHaveProperty(
      'onnxruntime-node',
    );
  });

  it('compose: NATS with JetStream, inference, analyzer, Prometheus, Grafana with provisioning', () => {
    expect(Object.keys(svc).sort()).toEqual(['analyzer', 'grafana', 'inference', 'nats', 'prometheus']);
    expect(svc.nats!.command).toContain('--jetstream');
    for (const name of ['analyzer', 'inference']) {
      const b = svc[name]!.build!;
      expect(existsSync(resolve(DEPLOY, b.context, b.dockerfile)), b.dockerfile).toBe(true);
    }
    // Mounted files exist, and Grafana's provider path is where the dashboards are mounted.
    for (const name of ['prometheus', 'grafana']) {
      for (const v of svc[name]!.volumes ?? []) {
        const [src] = v.split(':');
        if (src!.startsWith('.')) expect(existsSync(resolve(DEPLOY, src!)), v).toBe(true);
      }
    }
    const provider = parse(readFileSync(resolve(ROOT, 'grafana/provisioning/dashboards/vigil.yml'), 'utf8'))
      .providers[0].options.path as string;
    expect(svc.grafana!.volumes).toContain(`../grafana/dashboards:${provider}:ro`);
    expect(svc.grafana!.volumes).toContain('../grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(svc.grafana!.environment!.PROMETHEUS_URL).toBe('http://prometheus:9090');
    // No secret committed: Grafana's password comes from the environment.
    expect(svc.grafana!.environment!.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD/);
  });

  it('compose: addresses and ports line up (analyzer → NATS and inference; Prometheus → both)', () => {
    const env = svc.analyzer!.environment!;
    expect(env.VIGIL_NATS_URL).toBe('nats://nats:4222');
    const grpcPort = flag(svc.inference!.command, '--port');
    const metricsPort = flag(svc.inference!.command, '--metrics-port');
    for (const a of env.VIGIL_INFER_ADDRESSES!.split(',')) expect(a).toBe(`inference:${grpcPort}`);
    expect(svc.inference!.expose).toEqual([grpcPort, metricsPort]);
    expect(svc.analyzer!.expose).toEqual([env.VIGIL_METRICS_PORT]);
    expect(svc.analyzer!.healthcheck!.test.join(' ')).toContain(`:${env.VIGIL_METRICS_PORT}/readyz`);
    const prom = parse(read('prometheus.yml')) as {
      scrape_configs: { job_name: string; dns_sd_configs: { names: string[]; port: number }[] }[];
    };
    const jobs = Object.fromEntries(prom.scrape_configs.map((j) => [j.job_name, j.dns_sd_configs[0]!]));
    expect(jobs['vigil-analyzer']).toMatchObject({
      names: ['analyzer'],
      port: Number(env.VIGIL_METRICS_PORT),
    });
    expect(jobs['vigil-infer']).toMatchObject({ names: ['inference'], port: Number(metricsPort) });
    // The images compose builds are the ones Kubernetes runs.
    const images = byKind('Deployment').flatMap((d) => d.spec!.template!.spec.containers.map((c) => c.image));
    expect(images).toContain(svc.analyzer!.image);
    expect(images).toContain(svc.inference!.image);
  });

  it('Kubernetes: required fields, selectors match, probes on declared ports, resource requests', () => {
    for (const d of docs) {
      expect(d.apiVersion, JSON.stringify(d.metadata)).toBeTruthy();
      expect(d.kind).toBeTruthy();
      expect(d.metadata.name).toMatch(/^[a-z0-9-]+$/);
      if (d.kind !== 'Namespace') expect(d.metadata.namespace).toBe('vigil');
    }
    for (const d of [...byKind('Deployment'), ...byKind('StatefulSet')]) {
      const labels = d.spec!.template!.metadata.labels;
      for (const [k, v] of Object.entries(d.spec!.selector!.matchLabels!)) expect(labels[k]).toBe(v);
      for (const c of d.spec!.template!.spec.containers) {
        expect(c.image).toMatch(/^[\w./-]+:[\w.-]+$/);
        expect(c.resources?.requests?.cpu, `${c.name} cpu request`).toBeTruthy();
        expect(c.resources?.requests?.memory, `${c.name} memory request`).toBeTruthy();
        expect(c.livenessProbe, `${c.name} liveness`).toBeDefined();
        expect(c.readinessProbe, `${c.name} readiness`).toBeDefined();
        const ports = new Set((c.ports ?? []).flatMap((p) => [p.name, p.containerPort]));
        for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
          if (!probe) continue;
          const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
          expect(ports.has(port!), `${c.name} probe port ${String(port)}`).toBe(true);
        }
        for (const ref of c.envFrom ?? []) find('ConfigMap', ref.configMapRef!.name);
      }
    }
    // Every Service selects a workload and targets one of its ports.
    for (const s of byKind('Service')) {
      const workload = [...byKind('Deployment'), ...byKind('StatefulSet')].find((d) =>
        Object.entries(s.spec!.selector!).every(([k, v]) => d.spec!.template!.metadata.labels[k] === v),
      );
      expect(workload, `workload behind Service ${s.metadata.name}`).toBeDefined();
      const ports = new Set(
        workload!.spec!.template!.spec.containers.flatMap((c) =>
          (c.ports ?? []).flatMap((p) => [p.name, p.containerPort]),
        ),
      );
      for (const p of s.spec!.ports!)
        expect(ports.has(p.targetPort), `${s.metadata.name}:${p.name}`).toBe(true);
    }
  });

  it('Kubernetes: analyzer probes hit /healthz and /readyz; its config points at the NATS and inference Services', () => {
    const analyzer = find('Deployment', 'analyzer').spec!.template!;
    const c = analyzer.spec.containers[0]!;
    expect(c.livenessProbe!.httpGet!.path).toBe('/healthz');
    expect(c.readinessProbe!.httpGet!.path).toBe('/readyz');
    const config = find('ConfigMap', 'vigil-analyzer').data!;
    const metricsPort = c.ports!.find((p) => p.name === c.readinessProbe!.httpGet!.port)!.containerPort;
    expect(Number(config.VIGIL_METRICS_PORT)).toBe(metricsPort);
    expect(analyzer.metadata.annotations!['prometheus.io/port']).toBe(String(metricsPort));
    // Replica ids come from the pod name (unique per pod).
    expect(c.env!.find((e) => e.name === 'VIGIL_REPLICA_ID')!.valueFrom).toEqual({
      fieldRef: { fieldPath: 'metadata.name' },
    });
    const nats = find('Service', 'nats');
    const natsUrl = new URL(config.VIGIL_NATS_URL!);
    expect(natsUrl.hostname).toBe(nats.metadata.name);
    expect(nats.spec!.ports!.map((p) => p.port)).toContain(Number(natsUrl.port));
    const inference = find('Service', 'inference');
    for (const a of config.VIGIL_INFER_ADDRESSES!.split(',')) {
      const [host, port] = a.split(':');
      expect(host).toBe(inference.metadata.name);
      expect(inference.spec!.ports!.find((p) => p.name === 'grpc')!.port).toBe(Number(port));
    }
    // NATS runs with JetStream (the cluster's KV buckets need it).
    const natsArgs = find('StatefulSet', 'nats').spec!.template!.spec.containers[0]!.args!;
    expect(natsArgs).toContain('--jetstream');
    // The inference server's metrics port agrees with its annotation and its ConfigMap.
    const inf = find('Deployment', 'inference').spec!.template!;
    const infConfig = find('ConfigMap', 'vigil-inference').data!;
    expect(inf.metadata.annotations!['prometheus.io/port']).toBe(infConfig.VIGIL_METRICS_PORT);
    expect(flag(inf.spec.containers[0]!.args, '--metrics-port')).toBe('$(VIGIL_METRICS_PORT)');
  });

  it('kustomization lists every manifest and generates the alert-rules ConfigMap', () => {
    const k = parse(read('kustomization.yaml')) as {
      resources: string[];
      configMapGenerator: { name: string; files: string[] }[];
    };
    expect(k.resources.sort()).toEqual(k8sFiles.map((f) => `k8s/${f}`).sort());
    for (const g of k.configMapGenerator)
      for (const f of g.files) expect(existsSync(join(DEPLOY, f)), f).toBe(true);
    expect(k.configMapGenerator.map((g) => g.name)).toContain('vigil-prometheus-rules');
  });
});
