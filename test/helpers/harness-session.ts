/**
 * One harness (engine + simulators) per test and the WebSocket clients opened
 * against it, all stopped after each test. The integration tests of a feature
 * call `harnessSession()` once at module level (it registers the afterEach).
 */
import { afterEach, inject } from 'vitest';
import { startHarness, type Harness, type HarnessOptions } from '../../engine/loadgen/harness.js';
import { connectClient, type TestClient } from './ws-client.js';

export interface HarnessSession {
  /** Starts the test's harness on the shared test Redis (redisUrl defaults to it), or on `o.redis` (e.g. the test cluster: clusterTarget()). */
  start(o?: HarnessOptions): Promise<Harness>;
  /** A WebSocket client of the running harness (its tenant's key unless given), closed after the test. */
  client(key?: string, since?: string): Promise<TestClient>;
  /** The running harness (throws before start). */
  readonly h: Harness;
}

export function harnessSession(): HarnessSession {
  let h: Harness | undefined;
  let clients: TestClient[] = [];
  afterEach(async () => {
    for (const c of clients) await c.close();
    clients = [];
    await h?.stop();
    h = undefined;
  });
  return {
    async start(o = {}) {
      h = await startHarness(o.redis === undefined ? { redisUrl: inject('redisUrl'), ...o } : o);
      return h;
    },
    async client(key, since) {
      if (h === undefined) throw new Error('harnessSession: start() the harness first');
      const c = await connectClient(h.wsUrl, key ?? h.apiKey, since);
      clients.push(c);
      return c;
    },
    get h() {
      if (h === undefined) throw new Error('harnessSession: start() the harness first');
      return h;
    },
  };
}
