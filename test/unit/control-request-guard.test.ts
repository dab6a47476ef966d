import { describe, expect, it } from 'vitest';
import { guardRequest, normalizeGuardOptions } from '../../src/control/request-guard.js';

const json = { 'content-type': 'application/json' };

describe('cross-site request guard', () => {
  const loopback = { listenHost: '127.0.0.1' };

  it('lets the CLI and same-origin pages through', () => {
    expect(guardRequest(loopback, 'GET', { host: '127.0.0.1:8080' })).toBeUndefined();
    expect(guardRequest(loopback, 'POST', { host: 'localhost:8080', ...json })).toBeUndefined();
    expect(
      guardRequest(loopback, 'POST', { host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080', ...json }),
    ).toBeUndefined();
    expect(guardRequest({ listenHost: '::1' }, 'GET', { host: '[::1]:9' })).toBeUndefined();
    expect(
      guardRequest(loopback, 'POST', {
        host: 'localhost:8080',
        ...{ 'content-type': 'Application/JSON; charset=utf-8' },
      }),
    ).toBeUndefined();
  });

  it('refuses a text/plain POST from another origin (the cross-site attach of issue 22)', () => {
    const refused = guardRequest(loopback, 'POST', {
      host: '127.0.0.1:8080',
      origin: 'http://evil.example',
      'content-type': 'text/plain',
    });
    expect(refused?.code).toBe('VIGIL_ERR_FORBIDDEN');
  });

  it('refuses writes that are not JSON even without an Origin', () => {
    for (const type of [
      undefined,
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
    ]) {
      const refused = guardRequest(loopback, 'POST', {
        host: '127.0.0.1:8080',
        ...(type ? { 'content-type': type } : {}),
      });
      expect(refused?.code, String(type)).toBe('VIGIL_ERR_MEDIA_TYPE');
    }
    expect(guardRequest(loopback, 'DELETE', { host: '127.0.0.1:8080' })).toBeUndefined();
  });

  it('refuses a foreign Origin on any method, and the opaque origin null', () => {
    for (const origin of ['http://evil.example', 'null', 'http://127.0.0.1:9999', 'file://']) {
      expect(guardRequest(loopback, 'GET', { host: '127.0.0.1:8080', origin })?.code, origin).toBe(
        'VIGIL_ERR_FORBIDDEN',
      );
    }
  });

  it('refuses a non-loopback Host on a loopback listener (DNS rebinding)', () => {
    expect(guardRequest(loopback, 'GET', { host: 'attacker.example:8080' })?.code).toBe(
      'VIGIL_ERR_FORBIDDEN',
    );
    expect(guardRequest(loopback, 'GET', {})?.code).toBe('VIGIL_ERR_FORBIDDEN');
    expect(guardRequest(loopback, 'GET', { host: 'a b' })?.code).toBe('VIGIL_ERR_FORBIDDEN');
  });

  it('takes the allow-lists from config', () => {
    const o = normalizeGuardOptions({
      listenHost: '0.0.0.0',
      allowedHosts: ['vigil.example.com', 'edge:8443'],
      allowedOrigins: ['https://dash.example.com'],
    });
    expect(guardRequest(o, 'GET', { host: 'vigil.example.com' })).toBeUndefined();
    expect(guardRequest(o, 'GET', { host: 'edge:8443' })).toBeUndefined();
    expect(guardRequest(o, 'GET', { host: 'edge:9000' })?.code).toBe('VIGIL_ERR_FORBIDDEN');
    expect(guardRequest(o, 'GET', { host: 'other.example.com' })?.code).toBe('VIGIL_ERR_FORBIDDEN');
    expect(
      guardRequest(o, 'POST', { host: 'vigil.example.com', origin: 'https://dash.example.com', ...json }),
    ).toBeUndefined();
    expect(
      guardRequest(o, 'POST', { host: 'vigil.example.com', origin: 'https://evil.example.com', ...json })
        ?.code,
    ).toBe('VIGIL_ERR_FORBIDDEN');
    // A wildcard listener without allowedHosts accepts any name; the Origin check still applies.
    const open = { listenHost: '0.0.0.0' };
    expect(guardRequest(open, 'GET', { host: '10.0.0.5:8080' })).toBeUndefined();
    expect(
      guardRequest(open, 'GET', { host: '10.0.0.5:8080', origin: 'http://10.0.0.5:8080' }),
    ).toBeUndefined();
    expect(guardRequest(open, 'GET', { host: '10.0.0.5:8080', origin: 'http://evil.example' })?.code).toBe(
      'VIGIL_ERR_FORBIDDEN',
    );
  });

  it('rejects malformed allow-list entries as config errors naming the key', () => {
    expect(() => normalizeGuardOptions({ listenHost: 'x', allowedOrigins: ['not an origin'] })).toThrow(
      /control\.allowedOrigins/,
    );
    expect(() => normalizeGuardOptions({ listenHost: 'x', allowedHosts: ['a/b'] })).toThrow(
      /control\.allowedHosts/,
    );
  });
});
