/** What several commands share: the config, the NATS settings and the wait for Ctrl-C / SIGTERM. */
import { resolve } from 'node:path';
import type { SessionNats } from '../app/cli-session.js';
import { loadConfig, parseConfig, type VigilConfig } from '../config/index.js';

/** The config of --config (validated), or the defaults with the environment's VIGIL_NATS_* and tokens. */
export function configFrom(values: Record<string, unknown>): VigilConfig {
  return typeof values.config === 'string'
    ? loadConfig(values.config)
    : parseConfig('{}', 'command line', process.env);
}

/**
 * The NATS settings of a command: the config's (file and environment), then --nats URL[,URL]
 * (credentials may be written in the URL), --nkey-seed-file and --tls-ca over them.
 */
export function natsFrom(values: Record<string, unknown>, config: VigilConfig): SessionNats {
  const nats: SessionNats = { ...config.nats };
  if (typeof values.nats === 'string') nats.servers = values.nats.split(',').map((s) => s.trim());
  if (typeof values['nkey-seed-file'] === 'string') nats.nkeySeedFile = resolve(values['nkey-seed-file']);
  if (typeof values['tls-ca'] === 'string') nats.tls = { ...nats.tls, caFile: resolve(values['tls-ca']) };
  return nats;
}

/** Resolves on SIGINT or SIGTERM (handlers removed afterwards). */
export function untilSignal(): Promise<void> {
  return new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
