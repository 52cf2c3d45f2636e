/**
 * The actors' send gate with a simulated clock and a scripted store: what it
 * holds back, what the atomic re-check sends back, and the self-stop that
 * the pause handshake relies on (no successful poll for SELF_STOP_MS: not fresh).
 */
import { describe, expect, it } from 'vitest';
import type { QueuedPart } from '../../engine/actors/actor-store.js';
import { SendGate, type GateStore } from '../../engine/actors/send-gate.js';
import { ManualClock } from '../../engine/flow/clock.js';
import { DivertResult, SELF_STOP_MS, type PollResult } from '../../engine/parking/parking-store.js';
import { waitFor } from '../helpers/wait-for.js';

/** An entry of stream `stream` with stream id `entryId` (the fields the gate once keyed by are kept, see the last test). */
const entry = (id: string, tenant: string, to: string, stream = 'q', entryId = id + '-0'): QueuedPart => {
  const e = { ref: `${stream} ${entryId}`, queueKey: stream, entryId, id, part: 1, total: 1, to, from: 'Acme', validUntilSec: 0, dataCoding: 0, esmClass: 0, shortMessage: Buffer.alloc(0), tenant };
  return e;
};

function fakeStore(polls: Array<PollResult | Error>, divert: (e: ReadonlyArray<QueuedPart>) => DivertResult[]): { store: GateStore<QueuedPart>; diverted: QueuedPart[][] } {
  const diverted: QueuedPart[][] = [];
  const store: GateStore<QueuedPart> = {
    poll: async () => {
      const r = polls.length > 1 ? polls.shift() : polls[0];
      if (r instanceof Error) throw r;
      return r as PollResult;
    },
    divert: async (e: ReadonlyArray<QueuedPart>) => {
      diverted.push([...e]);
      return divert(e);
    },
  };
  return { store, diverted };
}

describe('send gate', () => {
  it('holds back paused tenants and opted-out numbers only, and lets through what the re-check sends back', async () => {
    const clock = new ManualClock(1_000_000);
    const { store, diverted } = fakeStore(
      [{ version: '3', paused: ['paused-co'], optOuts: [{ eid: '1-0', add: true, tenant: 'acme', number: '4790000001' }] }, { version: '3', paused: undefined, optOuts: [] }],
      (e) => e.map((x) => (x.tenant === 'paused-co' ? DivertResult.Parked : x.to === '4790000001' && x.tenant === 'acme' ? DivertResult.Stopped : DivertResult.Send)),
    );
    const back: QueuedPart[] = [];
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
    expect(gate.intercept(back[0] as QueuedPart)).toBe(false);
    gate.stop();
  });

  it('is not fresh once no poll has succeeded for SELF_STOP_MS', async () => {
    const clock = new ManualClock(1_000_000);
    const { store } = fakeStore([{ version: '1', paused: [], optOuts: [] }, new Error('Redis down')], () => []);
    const gate = new SendGate(store, 'n:a', clock, { pollMs: 10, optOutHorizonMs: 3_600_000 }, () => undefined, () => undefined);
    await gate.start();
    expect(gate.fresh).toBe(true);
    clock.advance(SELF_STOP_MS - 1);
    expect(gate.fresh).toBe(true);
    clock.advance(1);
    expect(gate.fresh).toBe(false);
    gate.stop();
  });
  it('entries of two streams with the same stream id: one cleared by the re-check does not let the other through (an opted-out number was sent to)', async () => {
    const clock = new ManualClock(1_000_000);
    // Two opt-outs of acme's: 4790000001 by another tenant (the filter cannot tell), 4790000002 by acme itself.
    const { store, diverted } = fakeStore(
      [{ version: '1', paused: [], optOuts: [{ eid: '1-0', add: true, tenant: 'other', number: '4790000001' }, { eid: '2-0', add: true, tenant: 'acme', number: '4790000002' }] }, { version: '1', paused: undefined, optOuts: [] }],
      (e) => e.map((x) => (x.to === '4790000002' ? DivertResult.Stopped : DivertResult.Send)),
    );
    const back: QueuedPart[] = [];
    const gate = new SendGate(store, 'n:a', clock, { pollMs: 1_000_000, optOutHorizonMs: 3_600_000 }, (b) => back.push(...b), () => undefined);
    await gate.start();
    // Streams number each millisecond's entries from 0: both entries are "1700000000000-0", in partitions 0 and 1.
    const sendable = entry('m1', 'acme', '4790000001', 'q:{sim:0}', '1700000000000-0');
    const optedOut = entry('m2', 'acme', '4790000002', 'q:{sim:1}', '1700000000000-0');
    expect(gate.intercept(sendable)).toBe(true);
    await waitFor(() => back.length === 1, 2000, 'm1 given back');
    // m1 was cleared by the re-check; m2 was not checked at all and must be held back.
    expect(gate.intercept(optedOut)).toBe(true);
    expect(gate.intercept(sendable)).toBe(false);
    await waitFor(() => gate.stopped === 1, 2000, 'm2 stopped');
    expect(diverted.flat().map((e) => e.id)).toEqual(['m1', 'm2']);
    gate.stop();
  });
});
