/** The shipped Prometheus configuration and alert rules pass promtool (from apt), alerts fire as tested. */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.js';

const DEPLOY = resolve(ROOT, 'deploy');

function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { cwd: DEPLOY, encoding: 'utf8', stdio: 'pipe', timeout: 30_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

describe('deploy/prometheus.yml and deploy/alerts.yml', () => {
  it('promtool check config accepts prometheus.yml (and the rule file it names)', () => {
    expect(promtool('check', 'config', 'prometheus.yml')).toMatch(/SUCCESS: prometheus\.yml is valid/);
  });

  it('promtool check rules accepts every alert rule', () => {
    const out = promtool('check', 'rules', 'alerts.yml');
    expect(out).toMatch(/SUCCESS: (\d+) rules found/);
    expect(Number(/SUCCESS: (\d+) rules found/.exec(out)![1])).toBeGreaterThanOrEqual(5);
  });

  it('promtool test rules: each required alert fires on its scenario and stays quiet on a healthy stream', () => {
    expect(promtool('test', 'rules', 'alerts.test.yml')).toMatch(/SUCCESS/);
  });

  it('the required alerts exist: stream down, fps below target, latency, drops, inference unavailable', async () => {
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const rules = (
      parse(readFileSync(resolve(DEPLOY, 'alerts.yml'), 'utf8')) as {
        groups: { rules: { alert: string }[] }[];
      }
    ).groups.flatMap((g) => g.rules.map((r) => r.alert));
    for (const name of [
      'VigilStreamDown',
      'VigilStreamFpsBelowTarget',
      'VigilLatencyAboveTarget',
      'VigilFramesDropped',
      'VigilInferenceUnavailable',
    ])
      expect(rules).toContain(name);
    const tests = readFileSync(resolve(DEPLOY, 'alerts.test.yml'), 'utf8');
    for (const name of rules) expect(tests, `alerts.test.yml covers ${name}`).toContain(`alertname: ${name}`);
  });
});
