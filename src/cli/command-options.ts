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

/** How long an orderly stop after SIGINT / SIGTERM may take before the process exits anyway. */
export const SHUTDOWN_GRACE_MS = 10_000;
const INTERRUPTED = 130;

/**
 * Makes SIGINT and SIGTERM end every command within a few seconds (issue 22 item 4). A command
 * that stops in order listens itself (`untilSignal`, the analysis session): the first signal
 * starts its stop and a grace timer (`graceMs`), after which the process exits with 130 anyway;
 * a second signal exits at once. A command that does not listen (a remote call, a search) ends
 * at once with 130. Returns a function removing the guard.
 */
export function guardSignals(
  graceMs = SHUTDOWN_GRACE_MS,
  log: (line: string) => void = (l) => console.error(l),
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // This guard is the first listener; the command's own come after it.
    const commandListens = process.listenerCount(signal) > 1;
    if (!commandListens || timer !== undefined) {
      if (timer !== undefined) log(`vigil: ${signal} again: exiting now`);
      process.exit(INTERRUPTED);
    }
    timer = setTimeout(() => {
      log(`vigil: still stopping ${graceMs / 1000} s after ${signal}: exiting now`);
      process.exit(INTERRUPTED);
    }, graceMs);
    // The timer only bounds the stop; it never keeps a finished process alive.
    timer.unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
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
