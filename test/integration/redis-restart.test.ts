/**
 * Redis restarted mid-load (stopped, then started again on its AOF): every
 * acked message still reaches the SMSC, once, and gets its final status; submits
 * made while Redis is down are refused UNAVAILABLE, never acked and lost.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../engine/loadgen/harness.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';

let h: Harness | undefined;
let c: TestClient | undefined;
afterAll(async () => {
  await c?.close();
  await h?.stop();
});

describe('Redis restart', () => {
  it('loses no acked message and acks nothing it could not store', async () => {
    h = await startHarness({ redisDir: 'data/test-redis-restart', smscs: 1, tenantTps: 1_000_000, sim: { capture: true, receiptDelayMs: { min: 100, max: 600 } } });
    c = await connectClient(h.wsUrl, h.apiKey);
    const client = c;
    const send = (from: number, n: number) =>
      client.send({ op: 'batch', ref: 'b' + from, items: Array.from({ length: n }, (_, i) => ({ ref: String(from + i), to: '+4791234567', from: 'Acme', text: 'redis ' + (from + i) })) });
    send(0, 500);
    send(500, 500);
    await waitFor(() => h!.sims[0]!.stats.submitsAccepted > 200, 20_000, 'load under way');
    await h.redis!.stop();
    send(1000, 200); // while Redis is down
    await waitFor(() => client.frames.filter((f) => f.op === 'batch_ack').length === 3, 30_000, 'the batch acks so far');
    await h.redis!.restart();
    send(1200, 300);
    const acked = new Set<string>();
    const refused: Frame[] = [];
    await waitFor(() => client.frames.filter((f) => f.op === 'batch_ack').length === 4, 30_000, 'last batch ack');
    for (const f of client.frames) {
      if (f.op !== 'batch_ack') continue;
      for (const r of f.results as Frame[]) {
        if (r.op === 'ack') acked.add(r.id as string);
        else refused.push(r);
      }
    }
    // submits during the outage were refused with UNAVAILABLE (nothing acked that Redis did not take)
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => r.code === 'UNAVAILABLE')).toBe(true);
    expect(acked.size + refused.length).toBe(1500);
    const finals = () => new Set(client.frames.filter((f) => f.op === 'status' && f.status === 'delivered').map((f) => f.id as string));
    await waitFor(() => [...acked].every((id) => finals().has(id)), 60_000, 'every acked message delivered');
    const sentTexts = h.sims[0]!.captured.map((s) => s.shortMessage.toString('latin1'));
    const texts = new Set(sentTexts);
    // Redis stopped cleanly (its AOF holds every write it confirmed): nothing is sent twice. Regression:
    // resps received while Redis was down still read "queued" there, and recovery after the reconnect re-sent them.
    expect(sentTexts.length - texts.size).toBe(0);
    for (const f of client.frames) if (f.op === 'batch_ack') for (const r of f.results as Frame[]) if (r.op === 'ack') expect(texts.has('redis ' + (r.ref as string))).toBe(true);
  }, 120_000);
});
