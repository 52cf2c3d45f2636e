/**
 * Self-fencing in the SMPP connection (engine/smpp/smpp-connection.ts, the
 * `fence` option; engine/fleet/): a submit_sm queued while its bind's lease
 * was valid but still unwritten when the lease may have run out (a process
 * stopped between queueing and flushing) is not written: its callback fails
 * SMPP_FENCED and the SMSC sees nothing; other output (responses) goes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SmppConnection } from '../../engine/smpp/index.js';
import { SmscSimulator } from '../../engine/simulator/index.js';
import { waitFor } from '../helpers/wait-for.js';

const sim = new SmscSimulator({ systemId: 'sy', password: 'pw', capture: true });
afterAll(async () => {
  await sim.stop();
});

const sm = (text: string) => ({ sourceAddr: 'Acme', sourceAddrTon: 5, sourceAddrNpi: 0, destinationAddr: '4791234567', destAddrTon: 1, destAddrNpi: 1, esmClass: 0, registeredDelivery: 0, dataCoding: 0, validityPeriod: '', shortMessage: Buffer.from(text, 'latin1') });

describe('SMPP fence', () => {
  it('a submit_sm still unwritten when the lease may have run out is dropped (SMPP_FENCED), not sent; with the lease back submits go', async () => {
    await sim.start();
    let leased = true;
    const conn = await SmppConnection.bind({ host: '127.0.0.1', port: sim.port, systemId: 'sy', password: 'pw', window: 10, responseTimeoutMs: 5000, fence: () => leased });
    const results: string[] = [];
    // Queued while the lease holds, flushed at the end of the tick: by then it ran out.
    expect(conn.submit(sm('fenced'), (err) => results.push(err === null ? 'ok' : (err as { code: string }).code))).toBe(true);
    leased = false;
    await waitFor(() => results.length === 1, 5000, 'the fenced submit to fail');
    expect(results).toEqual(['SMPP_FENCED']);
    expect(conn.fencedSubmits).toBe(1);
    expect(conn.isClosed).toBe(false);
    leased = true;
    conn.submit(sm('sent'), (err) => results.push(err === null ? 'ok' : (err as { code: string }).code));
    await waitFor(() => results.length === 2, 5000, 'the second submit answered');
    expect(results[1]).toBe('ok');
    expect(sim.captured.map((c) => c.shortMessage.toString('latin1'))).toEqual(['sent']);
    conn.close();
  });
});
