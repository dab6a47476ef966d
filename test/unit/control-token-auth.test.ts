/**
 * Issue 22 item 10 (the rest): with no control token configured, `vigil run` generates one in the
 * token file and requires it; the CLI reads it for an analyzer on this machine only; switching
 * the token off is an explicit, loopback-only choice. Item 14: stream trouble lines.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultControlTokenFile, parseConfig } from '../../src/config/index.js';
import { controlAuth } from '../../src/app/service.js';
import { remoteFrom, remoteToken } from '../../src/cli/remote.js';
import { streamTroubleLine } from '../../src/app/stream-log.js';
import type { StreamInfo } from '../../src/analyzer/manager.js';

const configError = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
  try {
    parseConfig(yaml, 'vigil.yaml', env);
  } catch (err) {
    return err as Error & { code: string };
  }
  throw new Error('expected a ConfigError');
};

describe('issue 22 item 10: a control token by default', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-token-auth-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the token file defaults under the XDG state directory (or ~/.local/state), whatever the working directory', () => {
    expect(defaultControlTokenFile({ XDG_STATE_HOME: '/var/lib/x' })).toBe('/var/lib/x/vigil/control-token');
    expect(defaultControlTokenFile({ HOME: '/home/ana' })).toBe('/home/ana/.local/state/vigil/control-token');
    // A relative XDG_STATE_HOME is invalid by the spec: ignored.
    expect(defaultControlTokenFile({ HOME: '/home/ana', XDG_STATE_HOME: 'rel' })).toBe(
      '/home/ana/.local/state/vigil/control-token',
    );
    const c = parseConfig('{}', 'x', { HOME: '/home/ana' });
    expect(c.control).toMatchObject({
      requireToken: true,
      tokenFile: '/home/ana/.local/state/vigil/control-token',
    });
    expect(c.control.token).toBeUndefined();
    expect(parseConfig('control: { tokenFile: t/tok }', 'x', {}, '/etc/vigil').control.tokenFile).toBe(
      '/etc/vigil/t/tok',
    );
    expect(
      parseConfig('control: { tokenFile: t/tok }', 'x', { VIGIL_CONTROL_TOKEN_FILE: '/run/tok' }).control
        .tokenFile,
    ).toBe('/run/tok');
  });

  it('no configured token: the service generates one in the file at first start and reads it back later', () => {
    const tokenFile = join(dir, 'state', 'control-token');
    const c = parseConfig('{}', 'x', { VIGIL_CONTROL_TOKEN_FILE: tokenFile });
    const first = controlAuth(c.control);
    expect(first).toMatchObject({ file: tokenFile, created: true });
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(controlAuth(c.control)).toEqual({ token: first.token, file: tokenFile, created: false });
    // A configured token wins and no file is involved.
    const own = parseConfig('{}', 'x', {
      VIGIL_CONTROL_TOKEN: 'configured-1234',
      VIGIL_CONTROL_TOKEN_FILE: tokenFile,
    });
    expect(controlAuth(own.control)).toEqual({ token: 'configured-1234' });
    // Explicitly off (loopback only): no token at all.
    const off = parseConfig('control: { requireToken: false }', 'x', {
      VIGIL_CONTROL_TOKEN_FILE: join(dir, 'none'),
    });
    expect(controlAuth(off.control)).toEqual({});
  });

  it('an empty VIGIL_CONTROL_TOKEN never opens the API; a short one is refused', () => {
    const c = parseConfig('{}', 'x', { VIGIL_CONTROL_TOKEN: '' });
    expect(c.control.token).toBeUndefined();
    expect(c.control.requireToken).toBe(true);
    expect(configError('{}', { VIGIL_CONTROL_TOKEN: 'short' }).message).toMatch(
      /VIGIL_CONTROL_TOKEN: .*8 characters/,
    );
  });

  it('control.requireToken: false only on a loopback listener, without a token, and not on a shared NATS', () => {
    expect(parseConfig('control: { requireToken: false, host: "::1" }', 'x').control.requireToken).toBe(
      false,
    );
    const wide = configError('control: { requireToken: false, host: 0.0.0.0 }');
    expect(wide.code).toBe('VIGIL_ERR_CONFIG');
    expect(wide.message).toMatch(/control\.requireToken: false is only allowed on a loopback control\.host/);
    expect(configError('control: { requireToken: false, token: abcdefgh123 }').message).toMatch(
      /control\.requireToken: false contradicts/,
    );
    expect(
      configError('nats: { servers: "nats://10.0.0.5:4222" }\ncontrol: { requireToken: false }').message,
    ).toMatch(/control\.nats on an external NATS/);
    expect(
      parseConfig(
        'nats: { servers: "nats://10.0.0.5:4222" }\ncontrol: { requireToken: false, nats: false }',
        'x',
      ).control.requireToken,
    ).toBe(false);
  });

  it('the CLI sends --token, else VIGIL_CONTROL_TOKEN, else the local token file, and that only to this machine', () => {
    const file = join(dir, 'control-token');
    writeFileSync(file, 'from-the-file-0123456789\n', { mode: 0o600 });
    const env = { VIGIL_CONTROL_TOKEN_FILE: file };
    expect(
      remoteToken('http://127.0.0.1:8080', 'flag-token-123', {
        ...env,
        VIGIL_CONTROL_TOKEN: 'env-token-123',
      }),
    ).toBe('flag-token-123');
    expect(
      remoteToken('http://127.0.0.1:8080', undefined, { ...env, VIGIL_CONTROL_TOKEN: 'env-token-123' }),
    ).toBe('env-token-123');
    for (const local of ['http://127.0.0.1:8080', 'http://localhost:9000/', 'http://[::1]:8080']) {
      expect(remoteToken(local, undefined, env), local).toBe('from-the-file-0123456789');
    }
    // Never the local token to another host.
    expect(remoteToken('http://analyzer.example:8080', undefined, env)).toBeUndefined();
    expect(remoteToken('http://10.0.0.5:8080', undefined, env)).toBeUndefined();
    // No file yet: no token (the server answers 401 and the CLI says how to get one).
    expect(
      remoteToken('http://127.0.0.1:8080', undefined, { VIGIL_CONTROL_TOKEN_FILE: join(dir, 'x') }),
    ).toBeUndefined();
    expect(remoteFrom({}, env)).toEqual({
      server: 'http://127.0.0.1:8080',
      token: 'from-the-file-0123456789',
    });
    expect(remoteFrom({}, { ...env, VIGIL_SERVER: 'http://cam-box:8080' })).toEqual({
      server: 'http://cam-box:8080',
    });
  });
});

describe('issue 22 item 14: stream trouble on the service log', () => {
  const info = (state: StreamInfo['state'], error: StreamInfo['error'] = null) =>
    ({ id: 'door', state, error }) as StreamInfo;
  const down = { code: 'VIGIL_ERR_SOURCE_UNREACHABLE', message: 'source rtsp://u:***@cam/x: unreachable' };

  it('one line when a stream fails, goes down (and when the cause changes), stalls or recovers', () => {
    expect(streamTroubleLine(info('failed', down), info('live'))).toBe(
      'vigil: stream door failed: source rtsp://u:***@cam/x: unreachable [VIGIL_ERR_SOURCE_UNREACHABLE]',
    );
    expect(streamTroubleLine(info('down', down), info('live'))).toBe(
      'vigil: stream door down: source rtsp://u:***@cam/x: unreachable [VIGIL_ERR_SOURCE_UNREACHABLE]; retrying',
    );
    // The next retry failing the same way: no new line.
    expect(streamTroubleLine(info('down', down), info('down', down))).toBeNull();
    const auth = { code: 'VIGIL_ERR_SOURCE_AUTH', message: 'source x: authentication failed' };
    expect(streamTroubleLine(info('down', auth), info('down', down))).toMatch(
      /down: .*\[VIGIL_ERR_SOURCE_AUTH\]/,
    );
    expect(streamTroubleLine(info('stalled'), info('live'))).toBe(
      'vigil: stream door stalled: no frames arrive; retrying',
    );
    expect(streamTroubleLine(info('recovered', down), info('down', down))).toBe(
      'vigil: stream door recovered',
    );
    expect(streamTroubleLine(info('live'), info('connecting'))).toBeNull();
    expect(streamTroubleLine(info('completed'), info('live'))).toBeNull();
  });
});
