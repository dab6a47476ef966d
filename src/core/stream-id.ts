/**
 * The stream id grammar, the one definition every entry point checks: the YAML config, the
 * control API, the cluster's KV bucket, the CLI's `--name` and `tail --stream`, metrics labels and
 * NATS subjects. An id is one NATS subject token (`vigil.<stream>.…`), so it is limited to
 * characters that are safe in a token, a label and a file name.
 */
import { ConfigError } from './errors.js';

/** A NATS-safe name: 1-64 ASCII letters, digits, '_' or '-' (no '.', '*', '>' or spaces). */
export const NATS_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export const STREAM_ID_HINT = "a NATS-safe name (1-64 letters, digits, '_' or '-'; not 'ctl')";

/** `ctl` is the control API's token (`vigil.ctl.>`), so no stream may publish under it. */
export const RESERVED_STREAM_IDS: readonly string[] = ['ctl'];

export function isStreamId(id: unknown): id is string {
  return typeof id === 'string' && NATS_NAME.test(id) && !RESERVED_STREAM_IDS.includes(id);
}

/** Returns the id, or throws a ConfigError (VIGIL_ERR_CONFIG) saying what an id may be. */
export function validateStreamId(id: unknown): string {
  if (!isStreamId(id)) {
    throw new ConfigError(
      typeof id === 'string' && RESERVED_STREAM_IDS.includes(id)
        ? `stream id ${JSON.stringify(id)} is reserved (vigil.${id}.> carries the control API)`
        : `stream id ${JSON.stringify(id)} is not a NATS-safe token: use 1-64 letters, digits, '_' or '-'`,
    );
  }
  return id;
}
