import { connect, type NatsConnection } from '@nats-io/transport-node';

export interface Collected {
  subject: string;
  headers: Record<string, string>;
  body: unknown;
}

/** Subscribes to a subject pattern on a real NATS server and keeps every message (bounded). */
export async function collect(url: string, subject: string, max = 10_000) {
  const nc: NatsConnection = await connect({ servers: url, name: 'vigil-test-collector' });
  const messages: Collected[] = [];
  nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err || messages.length >= max) return;
      const headers: Record<string, string> = {};
      if (msg.headers) for (const [k, v] of msg.headers) headers[k] = v.join(',');
      let body: unknown;
      try {
        body = msg.json();
      } catch {
        // Not JSON (e.g. an empty control request): keep the text; a throwing callback would close the connection.
        body = msg.string();
      }
      messages.push({ subject: msg.subject, headers, body });
    },
  });
  return {
    messages,
    flush: () => nc.flush(),
    close: () => nc.drain().catch(() => nc.close()),
  };
}
