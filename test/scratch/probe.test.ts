import { it, expect } from 'vitest';
import { harnessSession } from '../helpers/harness-session.js';
import { waitFor } from '../helpers/wait-for.js';
import { clusterTarget } from '../helpers/redis-cluster.js';

const session = harnessSession();
for (const mode of ['single', 'cluster'] as const) {
  it('probe ' + mode, async () => {
    const h = await session.start({ smscs: 2, ...(mode === 'cluster' ? { redis: clusterTarget() } : {}), log: (l, m) => l !== 'info' && console.log(l, m) });
    const c = await session.client();
    const total = 300;
    c.send({ op: 'batch', ref: 'b', items: Array.from({ length: total }, (_, i) => ({ ref: String(i), to: i % 2 ? '+4791234567' : '+4915112345678', from: 'Acme', text: 'probe ' + i })) });
    const ack = await c.next((f) => f.op === 'batch_ack', 20000);
    const ids = (ack.results as Array<{ id: string }>).map((r) => r.id);
    expect(ids.length).toBe(total);
    await waitFor(() => h.sims.reduce((a, s) => a + s.stats.submitsAccepted, 0) >= total, 30000, 'submits');
    const r = h.engine.store.redis;
    await waitFor(async () => {
      const st = await Promise.all(ids.map((id) => r.hget(h.engine.store.keys.msg(id), 's')));
      return st.every((s) => s === 'delivered');
    }, 30000, 'delivered');
    console.log(mode, h.sims.map((s) => s.stats.submitsAccepted));
  }, 120000);
}
