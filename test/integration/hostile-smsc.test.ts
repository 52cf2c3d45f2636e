/**
 * An SMSC that accepts the bind and then sends garbage (here: a PDU whose
 * command_length breaks the framing, so the session must close) is rebound
 * with a growing backoff, not at the minimum again and again; why its PDUs
 * were refused is logged, at most once per 10 s, with a count of the rest.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { RawSmsc } from '../helpers/raw-smsc.js';
import { cstr, header, Id, pdu } from '../helpers/raw-smpp.js';
import { startRawEngine } from '../helpers/raw-engine.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('a hostile SMSC', () => {
  it('regression (an SMSC that binds and then sends garbage was rebound twice a second): backoff grows, and the refusal is logged with its reason', async () => {
    const binds: number[] = [];
    const garbage = Buffer.alloc(16);
    garbage.writeUInt32BE(7, 0); // command_length 7: no PDU is that short, the framing is lost
    const smsc = new RawSmsc({
      onFrame: (s, f) => {
        const h = header(f);
        if (h.id !== Id.bind_transceiver) return false;
        binds.push(Date.now());
        s.write(Buffer.concat([pdu(Id.bind_transceiver_resp, 0, h.sequence, cstr('EVIL')), garbage]));
        return true;
      },
    });
    await smsc.start();
    cleanups.push(() => smsc.stop());
    const logs: string[] = [];
    const e = await startRawEngine({
      redisUrl: inject('redisUrl'), smscs: [{ port: smsc.port, extra: { reconnectMs: { min: 100, max: 5000 } } }],
      log: (_level, msg) => logs.push(msg),
    });
    cleanups.push(() => e.stop());
    await waitFor(() => binds.length >= 5, 30_000, 'five binds');
    const gaps = binds.slice(1).map((t, i) => t - (binds[i] as number));
    // The n-th reconnect waits at least half of min·2ⁿ (jitter is the upper half): 50, 100, 200, 400 ms.
    gaps.forEach((g, n) => expect(g).toBeGreaterThanOrEqual((100 * 2 ** n) / 2));
    expect(gaps[3]).toBeGreaterThanOrEqual(400);
    const refused = logs.filter((m) => m.includes('refused a PDU from the SMSC'));
    expect(refused[0]).toContain('[smsc-a] bind 0: refused a PDU from the SMSC: command_length 7 outside 16..16384; closing the session');
    // Rate-limited: one line for the first ten seconds, however many refusals.
    expect(refused).toHaveLength(1);
    expect(e.engine.supervisor.stats()[0]?.badPdus).toBeGreaterThanOrEqual(4);
  }, 60_000);
});
