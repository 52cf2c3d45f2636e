/**
 * A restarted actor takes back every entry it held when it died, however many:
 * its pending list is paged per stream (regression: only the first 1,000
 * were re-read, the rest waited for XAUTOCLAIM after engine.reclaimIdleMs).
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SIM_SYSTEM_ID, startHarness, type Harness } from '../../engine/loadgen/harness.js';
import { SmscSimulator } from '../../engine/simulator/index.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';

let h: Harness | undefined;
const clients: TestClient[] = [];
const extra: SmscSimulator[] = [];
let redis: Redis | undefined;
afterAll(async () => {
  for (const c of clients) await c.close();
  await h?.stop();
  for (const s of extra) await s.stop();
  redis?.disconnect();
});

describe('actor recovery', () => {
  it('re-reads all 2,500 entries a dead actor held, at once, and sends each once', async () => {
    const total = 2500;
    h = await startHarness({
      redisUrl: inject('redisUrl'), smscs: 1, shards: 1, tenantTps: 1_000_000,
      sim: { capture: true, receiptDelayMs: { min: 0, max: 5 } },
      // Reclaim of idle entries must not be what saves them: far beyond the test's time.
      configOverrides: (raw) => void ((raw.fleet = { reclaimAfterMs: 600_000 })),
    });
    const sim = h.sims[0] as SmscSimulator;
    const port = sim.port;
    await sim.stop(); // no binds: the actor pulls nothing, the messages wait in the queue
    let c = await connectClient(h.wsUrl, h.apiKey);
    clients.push(c);
    c.send({ op: 'batch', ref: 'b1', items: Array.from({ length: 500 }, (_, i) => ({ ref: String(i), to: `+4791${String(100000 + i)}`, from: 'Acme', text: `r ${i}` })) });
    for (let b = 1; b < total / 500; b++) {
      c.send({ op: 'batch', ref: `b${b + 1}`, items: Array.from({ length: 500 }, (_, i) => ({ ref: String(b * 500 + i), to: `+4791${String(100000 + b * 500 + i)}`, from: 'Acme', text: `r ${b * 500 + i}` })) });
    }
    await waitFor(() => c.frames.filter((f) => f.op === 'batch_ack').length === total / 500, 20_000, 'batch acks');
    const acked = c.frames.filter((f) => f.op === 'batch_ack').flatMap((f) => f.results as Frame[]);
    expect(acked.filter((r) => r.op === 'ack').length).toBe(total);
    // The actor "had pulled" them all when it died: they are pending for its consumer.
    redis = new Redis(inject('redisUrl'));
    const q = h.engine.store.keys.queueOf('sim-a', 0);
    const read = (await redis.xreadgroup('GROUP', 'g', 'harness:sim-a', 'COUNT', total, 'STREAMS', q, '>')) as Array<[string, unknown[]]>;
    expect(read[0]?.[1].length).toBe(total);
    await c.close();
    await h.restartEngine();
    const back = new SmscSimulator({ port, systemId: SIM_SYSTEM_ID, password: h.env.SY_HARNESS_SIM_PW as string, capture: true, receiptDelayMs: { min: 0, max: 5 } });
    extra.push(back);
    await back.start();
    c = await connectClient(h.wsUrl, h.apiKey);
    clients.push(c);
    // Well inside reclaimIdleMs: only the restarted actor's own recovery can send them.
    await waitFor(() => back.stats.submitsAccepted >= total, 20_000, 'every held entry sent');
    const sent = back.captured.map((s) => s.shortMessage.toString('latin1'));
    expect(new Set(sent).size).toBe(total);
    expect(sent.length).toBe(total);
    await waitFor(() => c.frames.filter((f) => f.op === 'status' && f.status === 'delivered').length >= total, 20_000, 'every message delivered');
  }, 90_000);
});
