/**
 * Issue 22 item 7: credentials written into a NATS URL (`nats://user:pass@host`) are taken out of
 * it and given to the client as user/password (or a token), so every command can use them; the
 * URLs passed on carry none. Explicit options win over the URL's.
 */
import { describe, expect, it } from 'vitest';
import { natsConnectionOptions, splitUrlCredentials } from '../../src/publish/connection.js';

describe('NATS credentials in server URLs', () => {
  it('splits user and password (URL-decoded) out of the URL, leaving the others as they are', () => {
    expect(splitUrlCredentials('nats://vigil:s3cret%40pw@127.0.0.1:4222')).toEqual({
      servers: ['nats://127.0.0.1:4222'],
      user: 'vigil',
      pass: 's3cret@pw',
    });
    expect(splitUrlCredentials(['nats://a:4222', 'tls://tok3n@b:4222'])).toEqual({
      servers: ['nats://a:4222', 'tls://b:4222'],
      token: 'tok3n',
    });
    expect(splitUrlCredentials('nats://a:4222,nats://u:p@b:4222')).toEqual({
      servers: ['nats://a:4222', 'nats://b:4222'],
      user: 'u',
      pass: 'p',
    });
    expect(splitUrlCredentials('127.0.0.1:4222')).toEqual({ servers: ['127.0.0.1:4222'] });
  });

  it('the connection options carry the URL credentials unless user, password or token are given', () => {
    const fromUrl = natsConnectionOptions({ servers: 'nats://vigil:pw@127.0.0.1:4222' });
    expect(fromUrl).toMatchObject({ servers: ['nats://127.0.0.1:4222'], user: 'vigil', pass: 'pw' });
    expect(JSON.stringify(fromUrl.servers)).not.toContain('pw');
    const explicit = natsConnectionOptions({
      servers: 'nats://vigil:pw@127.0.0.1:4222',
      user: 'other',
      pass: 'given',
    });
    expect(explicit).toMatchObject({ servers: ['nats://127.0.0.1:4222'], user: 'other', pass: 'given' });
  });
});
