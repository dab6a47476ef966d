/**
 * Issue 22, "the control token travels in vigil.ctl.* request headers": the NATS config shipped in
 * deploy/nats/nats.conf, on a real nats-server, gives each role only what it needs. An analyzer
 * publishes results through JetStream and answers control requests; a viewer subscribed to
 * `vigil.>` gets the results but never a control request (so never the token in its header); an
 * operator sends control requests and reads nothing else.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../../src/publish/connection.js';
import { createPublisher, type Publisher } from '../../src/publish/nats-publisher.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { controlRequest, serveControlOverNats, type NatsControlService } from '../../src/control/nats.js';
import type { Manager } from '../../src/analyzer/manager.js';
import { ROOT } from '../helpers/paths.js';
import { sampleEvent, sampleSummary } from '../helpers/messages.js';

const PASSWORDS = {
  VIGIL_NATS_ANALYZER_PASSWORD: 'analyzer-pw-1',
  VIGIL_NATS_OPERATOR_PASSWORD: 'operator-pw-1',
  VIGIL_NATS_VIEWER_PASSWORD: 'viewer-pw-1',
};
const TOKEN = 'control-token-secret-42';

describe('deploy/nats/nats.conf permissions on a real nats-server', () => {
  let dir: string | undefined;
  let server: LocalNatsServer | undefined;
  const connections: NatsConnection[] = [];
  let publisher: Publisher | undefined;
  let control: NatsControlService | undefined;
  let url = '';

  const as = async (user: 'analyzer' | 'operator' | 'viewer') => {
    const nc = await connectNats(
      {
        servers: url,
        user,
        pass: PASSWORDS[`VIGIL_NATS_${user.toUpperCase()}_PASSWORD` as keyof typeof PASSWORDS],
      },
      { maxReconnectAttempts: 0 },
    );
    connections.push(nc);
    return nc;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-nats-perm-'));
    // The shipped file as it is, less what a test on loopback must not open: the fixed monitor
    // port and the container's store path (the command line sets address, port and store).
    const shipped = readFileSync(join(ROOT, 'deploy/nats/nats.conf'), 'utf8');
    const conf = shipped
      .replace(/^http_port:.*$/m, '')
      .replace(/^port:.*$/m, '')
      .replace(/^\s*store_dir:.*$/m, '');
    expect(conf).not.toBe(shipped);
    writeFileSync(join(dir, 'nats.conf'), conf);
    server = await startNatsServer({ configFile: join(dir, 'nats.conf'), env: PASSWORDS });
    url = server.url;
  });

  afterAll(async () => {
    await control?.close();
    await publisher?.close();
    for (const nc of connections) await nc.close().catch(() => undefined);
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an analyzer publishes through JetStream and serves control; a viewer reads results but never control requests', async () => {
    publisher = await createPublisher({
      servers: url,
      user: 'analyzer',
      pass: PASSWORDS.VIGIL_NATS_ANALYZER_PASSWORD,
    });
    // The control service only answers health here: what is under test is who may see the request.
    control = serveControlOverNats({
      manager: { closed: false } as unknown as Manager,
      connection: publisher.connection,
      token: TOKEN,
    });

    const viewer = await as('viewer');
    const seen: Msg[] = [];
    viewer.subscribe('vigil.>', { callback: (_err, msg) => void seen.push(msg) });
    await viewer.flush();

    await publisher.event(sampleEvent('door', 1));
    await publisher.summary(sampleSummary('door', 0));
    const operator = await as('operator');
    const reply = await controlRequest(operator, 'health', undefined, { token: TOKEN });
    expect(reply.status).toBe(200);
    await publisher.flush();
    await viewer.flush();

    const subjects = seen.map((m) => m.subject);
    expect(subjects).toContain('vigil.door.event.' + sampleEvent('door', 1).type);
    expect(subjects.some((s) => s.startsWith('vigil.door.summary.'))).toBe(true);
    expect(subjects.filter((s) => s.startsWith('vigil.ctl.'))).toEqual([]);
    expect(seen.map((m) => m.headers?.get('Authorization') ?? '').join('')).not.toContain(TOKEN);

    // A viewer keeps a durable consumer on the results (the history index does).
    const js = jetstream(viewer);
    const consumer = await js.consumers.get('VIGIL');
    const first = await consumer.next({ expires: 5000 });
    expect(first?.subject.startsWith('vigil.door.')).toBe(true);
  });

  it('refuses what each role must not do', async () => {
    const viewer = await as('viewer');
    // A viewer asking for the control subjects directly gets a permission error, not the requests.
    const errors: string[] = [];
    viewer.subscribe('vigil.ctl.>', { callback: (err) => void (err && errors.push(err.message)) });
    await viewer.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(errors.join(' ')).toMatch(/permission/i);

    // Neither a viewer nor an operator may publish results; an operator may not read them.
    for (const who of ['viewer', 'operator'] as const) {
      const nc = await as(who);
      const status: string[] = [];
      void (async () => {
        for await (const s of nc.status()) status.push(`${s.type} ${JSON.stringify(s)}`);
      })();
      nc.publish('vigil.door.event.object.entered', '{}');
      await nc.flush().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      expect(status.join(' '), who).toMatch(/permission/i);
    }
    const operator = await as('operator');
    const opErrors: string[] = [];
    operator.subscribe('vigil.>', { callback: (err) => void (err && opErrors.push(err.message)) });
    await operator.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(opErrors.join(' ')).toMatch(/permission/i);
  });
});
