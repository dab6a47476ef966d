/**
 * NATS authentication and TLS against real nats-servers started with those options: user/password,
 * token, nkey, and TLS with openssl-generated certificates on loopback. Wrong credentials give
 * VIGIL_ERR_NATS_AUTH without the secret in the message.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nkeys } from '@nats-io/transport-node';
import { connectNats } from '../../src/publish/connection.js';
import { createPublisher } from '../../src/publish/nats-publisher.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { sampleEvent } from '../helpers/messages.js';

let dir: string;
const servers: LocalNatsServer[] = [];
const start = async (o: Parameters<typeof startNatsServer>[0]) => {
  const s = await startNatsServer(o);
  servers.push(s);
  return s;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-tls-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=vigil-test-ca',
  );
  ssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'san.ext',
  );
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function publishesOne(o: Parameters<typeof createPublisher>[0]) {
  const pub = await createPublisher({ ...o, evidence: false });
  try {
    await pub.event(sampleEvent('auth', 1));
    await pub.flush(5_000);
    return pub.stats().acked;
  } finally {
    await pub.close();
  }
}

describe('NATS authentication and TLS', () => {
  it('user and password', async () => {
    const s = await start({ auth: { user: 'vigil', pass: 's3cret-pw' } });
    expect(await publishesOne({ servers: s.url, user: 'vigil', pass: 's3cret-pw' })).toBe(1);
    const err = await connectNats(
      { servers: s.url, user: 'vigil', pass: 'wrong-pw' },
      { reconnect: false },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'VIGIL_ERR_NATS_AUTH' });
    expect(String((err as Error).message)).not.toContain('wrong-pw');
    await expect(connectNats({ servers: s.url }, { reconnect: false })).rejects.toMatchObject({
      code: 'VIGIL_ERR_NATS_AUTH',
    });
  });

  it('token', async () => {
    const s = await start({ auth: { token: 'tok-123456' } });
    expect(await publishesOne({ servers: s.url, token: 'tok-123456' })).toBe(1);
    await expect(connectNats({ servers: s.url, token: 'nope' }, { reconnect: false })).rejects.toMatchObject({
      code: 'VIGIL_ERR_NATS_AUTH',
    });
  });

  it('nkey (seed given directly or from a file)', async () => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const s = await start({ auth: { nkeys: [user.getPublicKey()] } });
    expect(await publishesOne({ servers: s.url, nkeySeed: seed })).toBe(1);
    const seedFile = join(dir, 'user.nk');
    writeFileSync(seedFile, `${seed}\n`, { mode: 0o600 });
    expect(await publishesOne({ servers: s.url, nkeySeedFile: seedFile })).toBe(1);
    const other = new TextDecoder().decode(nkeys.createUser().getSeed());
    await expect(
      connectNats({ servers: s.url, nkeySeed: other }, { reconnect: false }),
    ).rejects.toMatchObject({
      code: 'VIGIL_ERR_NATS_AUTH',
    });
  });

  it('TLS with a CA-signed server certificate on loopback', async () => {
    const s = await start({
      tls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') },
    });
    expect(await publishesOne({ servers: s.url, tls: { caFile: join(dir, 'ca.pem') } })).toBe(1);
    // Without the CA the certificate is not trusted.
    await expect(connectNats({ servers: s.url, tls: {} }, { reconnect: false })).rejects.toMatchObject({
      code: expect.stringMatching(/VIGIL_ERR_NATS_(TLS|UNREACHABLE)/),
    });
  });
});
