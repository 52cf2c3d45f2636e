/**
 * The actors' send gate with a simulated clock and a scripted store: what it
 * holds back, what the atomic re-check sends back, and the self-stop that
 * the pause handshake relies on (no successful poll for SELF_STOP_MS: not fresh).
 */
import { describe, expect, it } from 'vitest';
import { SendGate } from '../../engine/actors/send-gate.js';
import { DivertResult, SELF_STOP_MS, type ParkingStore, type PollResult } from '../../engine/parking/parking-store.js';
import type { QueueEntry } from '../../engine/queue/redis-store.js';
import { waitFor } from '../helpers/wait-for.js';

class FakeClock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
}

const entry = (id: string, tenant: string, to: string): QueueEntry => ({
  queueKey: 'q', entryId: id + '-0', ref: `q ${id}-0`, id, part: 1, total: 1, to, from: 'Acme', validUntilSec: 0, dataCoding: 0, esmClass: 0, shortMessage: Buffer.alloc(0), tenant,
});

function fakeStore(polls: Array<PollResult | Error>, divert: (e: ReadonlyArray<QueueEntry>) => DivertResult[]): { store: ParkingStore; diverted: QueueEntry[][] } {
  const diverted: QueueEntry[][] = [];
  const store = {
    poll: async () => {
      const r = polls.length > 1 ? polls.shift() : polls[0];
      if (r instanceof Error) throw r;
      return r as PollResult;
    },
    divert: async (e: ReadonlyArray<QueueEntry>) => {
      diverted.push([...e]);
      return divert(e);
    },
  } as unknown as ParkingStore;
  return { store, diverted };
}

describe('send gate', () => {
  it('holds back paused tenants and opted-out numbers only, and lets through what the re-check sends back', async () => {
    const clock = new FakeClock();
    const { store, diverted } = fakeStore(
      [{ version: '3', paused: ['paused-co'], optOuts: [{ eid: '1-0', add: true, tenant: 'acme', number: '4790000001' }] }, { version: '3', paused: undefined, optOuts: [] }],
      (e) => e.map((x) => (x.tenant === 'paused-co' ? DivertResult.Parked : x.to === '4790000001' && x.tenant === 'acme' ? DivertResult.Stopped : DivertResult.Send)),
    );
    const back: QueueEntry[] = [];
    const gate = new SendGate(store, 'n:a', clock, { pollMs: 1_000_000, optOutHorizonMs: 3_600_000 }, (b) => back.push(...b), () => undefined);
    await gate.start();
    expect(gate.fresh).toBe(true);
    expect(gate.intercept(entry('m1', 'acme', '4790000009'))).toBe(false);
    expect(gate.intercept(entry('m2', 'paused-co', '4790000009'))).toBe(true);
    expect(gate.intercept(entry('m3', 'acme', '4790000001'))).toBe(true);
    // Another tenant's message to the same number: flagged by the (tenant-blind) filter, sent back by the re-check.
    expect(gate.intercept(entry('m4', 'other', '4790000001'))).toBe(true);
    await waitFor(() => back.length === 1, 2000, 'given back');
    expect(diverted.flat().map((e) => e.id)).toEqual(['m2', 'm3', 'm4']);
    expect(back.map((e) => e.id)).toEqual(['m4']);
    expect([gate.parked, gate.stopped]).toEqual([1, 1]);
    // The next look at m4 lets it go (the view was what was wrong).
    expect(gate.intercept(back[0] as QueueEntry)).toBe(false);
    gate.stop();
  });

  it('is not fresh once no poll has succeeded for SELF_STOP_MS', async () => {
    const clock = new FakeClock();
    const { store } = fakeStore([{ version: '1', paused: [], optOuts: [] }, new Error('Redis down')], () => []);
    const gate = new SendGate(store, 'n:a', clock, { pollMs: 10, optOutHorizonMs: 3_600_000 }, () => undefined, () => undefined);
    await gate.start();
    expect(gate.fresh).toBe(true);
    clock.t += SELF_STOP_MS - 1;
    expect(gate.fresh).toBe(true);
    clock.t += 1;
    expect(gate.fresh).toBe(false);
    gate.stop();
  });
});
