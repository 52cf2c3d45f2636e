/**
 * The operator actor alone, on its ports: an in-memory store, fake binds and
 * a manual clock (test/helpers/actor-fakes.ts). No network, no worker
 * thread, no sleeping: the clock moves when a test advances it, and the
 * actor's timers (the 5 ms pump, backoffs, retries, the take-over poll)
 * fire on it. What the integration tests show against Redis and SMPP, these
 * show exactly, in milliseconds: credit, the TPS bucket, throttling and
 * resends, recovery paging, take-over, flush retries, receipts and the send
 * gate.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { QueuedPart } from '../../engine/actors/actor-store.js';
import type { ActorSmscConfig } from '../../engine/actors/messages.js';
import { OperatorActor, type BindLeasePort, type OperatorActorOptions } from '../../engine/actors/operator-actor.js';
import type { GateStore } from '../../engine/actors/send-gate.js';
import { ManualClock } from '../../engine/flow/clock.js';
import { DivertResult, type PollResult } from '../../engine/parking/parking-store.js';
import { DEFAULTS } from '../../config/schema.js';
import { FakeActorStore, FakeSession, part, parts } from '../helpers/actor-fakes.js';

const T0 = Date.UTC(2026, 0, 1);
const ESME_RTHROTTLED = 0x58;
const ESME_RSYSERR = 0x08;
const ESME_RINVDSTADR = 0x0b;

function smscConfig(o: Partial<ActorSmscConfig> = {}): ActorSmscConfig {
  return {
    id: 'sim', host: '127.0.0.1', port: 2775, systemId: 'sy', password: 'pw', systemType: '', binds: 1, window: 10, tps: 100_000,
    responseTimeoutMs: 5000, enquireLinkSec: 30, connectTimeoutMs: 5000, reconnectMs: { min: 100, max: 10_000 }, throttleBackoffMs: { min: 100, max: 5000 },
    receiptIdMatch: 'exact', concatenation: 'udh', alphabet: 'gsm7', addresses: DEFAULTS.smsc.addresses, ...o,
  };
}

interface Rig {
  readonly clock: ManualClock;
  readonly store: FakeActorStore;
  readonly actor: OperatorActor;
  /** Every session the actor opened, in order. */
  readonly sessions: FakeSession[];
  readonly logs: string[];
  /** The newest session. */
  session(): FakeSession;
}

const running: OperatorActor[] = [];
afterEach(async () => {
  for (const a of running.splice(0)) await a.stop(0);
});

/** Builds an actor on the fakes; `before` fills the store before the actor starts. */
async function rig(o: { smsc?: Partial<ActorSmscConfig>; opts?: Partial<OperatorActorOptions<QueuedPart>>; before?: (store: FakeActorStore, clock: ManualClock) => void; bindFails?: number } = {}): Promise<Rig> {
  const clock = new ManualClock(T0);
  const store = new FakeActorStore(clock);
  o.before?.(store, clock);
  const sessions: FakeSession[] = [];
  let fails = o.bindFails ?? 0;
  const smsc = smscConfig(o.smsc);
  const actor = new OperatorActor(smsc, store, async (s) => {
    if (fails > 0) {
      fails--;
      throw new Error('connection refused');
    }
    const session = new FakeSession(s.window, clock);
    sessions.push(session);
    return session;
  }, clock, { takeOverEveryMs: 15_000, stateFlushMs: 0, ...o.opts });
  const logs: string[] = [];
  actor.events.on('log', (_level: string, msg: string) => logs.push(msg));
  running.push(actor);
  await actor.start();
  return {
    clock, store, actor, sessions, logs,
    session: () => {
      const s = sessions[sessions.length - 1];
      if (s === undefined) throw new Error('no session yet');
      return s;
    },
  };
}

/** Lets the actor's promises and end-of-tick callbacks run until `cond` holds (no wall-clock time involved). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((ok) => setImmediate(ok));
  }
  throw new Error(`never happened: ${what}`);
}

/** Lets everything that is ready run: a few turns of the event loop (the fakes answer within one or two). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((ok) => setImmediate(ok));
}

/** Advances the clock 5 ms at a time (tokens refill, the pump ticks) until `cond` holds; at most `maxMs`. */
async function runUntil(r: Rig, cond: () => boolean, what: string, maxMs = 10_000): Promise<void> {
  for (let t = 0; t <= maxMs; t += 5) {
    await settle();
    if (cond()) return;
    r.clock.advance(5);
  }
  throw new Error(`never happened within ${maxMs} ms of the clock: ${what}`);
}

/** Advances the clock in `step` ms steps (default the pump's tick), letting the actor run after each. */
async function run(r: Rig, ms: number, step = 5): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    r.clock.advance(Math.min(step, ms - t));
    await settle();
  }
}

describe('operator actor: credit', () => {
  it('never pulls more than the free window slots, and pulls in chunks of a quarter window at least', async () => {
    const r = await rig({ smsc: { window: 20 }, before: (s) => s.add(...parts(T0, 200)) });
    await until(() => r.sessions.length === 1 && r.session().inFlight === 20, 'the window filled');
    const overdrawn: string[] = [];
    r.store.onPull = (max) => {
      if (max > r.session().freeSlots) overdrawn.push(`pulled ${max} with ${r.session().freeSlots} slots free`);
    };
    expect(r.store.pulls[0]).toBe(20);
    expect(r.store.queue.length).toBe(180); // the rest waits in the store
    const pullsBefore = r.store.pulls.length;
    // Slots free one by one: below a quarter window (5) nothing is pulled while others are in flight.
    for (let i = 0; i < 4; i++) {
      r.session().respond(1);
      await settle();
    }
    expect(r.store.pulls.length).toBe(pullsBefore);
    expect(r.session().inFlight).toBe(16);
    r.session().respond(1);
    await until(() => r.session().inFlight === 20, 'the window refilled');
    expect(r.store.pulls.slice(pullsBefore)).toEqual([5]);
    // Answer everything as it comes: every entry goes out once, and no pull ever overdrew the window.
    r.session().autoRespond = true;
    r.session().respond();
    await until(() => r.store.submittedLog.length === 200, 'all 200 recorded');
    expect(overdrawn).toEqual([]);
    expect(new Set(r.session().sentTo).size).toBe(200);
    expect(r.session().sent.length).toBe(200);
    expect(r.store.pendingRefs).toEqual([]);
  });

  it('an idle window pulls whatever is free, one entry at a time if need be', async () => {
    const r = await rig({ smsc: { window: 20 } });
    await until(() => r.store.pulls.length > 0, 'a pull');
    expect(r.store.pulls[0]).toBe(20);
    r.store.add(part(T0));
    await until(() => r.session().inFlight === 1, 'the entry sent');
    // In flight: 1, free: 19 ≥ a quarter window, so the next pull asks for 19.
    await until(() => r.store.pulls.length >= 2, 'the next pull');
    expect(r.store.pulls[1]).toBe(19);
  });

  it('stops pulling while the store lags: at most 4 windows of answered submits wait to be recorded', async () => {
    const r = await rig({ smsc: { window: 10 }, before: (s) => s.add(...parts(T0, 100)) });
    const release = r.store.hold('submitted');
    r.session().autoRespond = true;
    r.session().respond();
    await until(() => r.session().sent.length >= 40 && r.session().inFlight === 0, '40 answered');
    const stalled = r.session().sent.length;
    await run(r, 100);
    // Pulling stops once 4 windows (40) wait to be recorded; the last pull may have started just below.
    expect(r.session().sent.length).toBe(stalled);
    expect(stalled).toBeLessThan(50);
    expect(r.store.queue.length).toBe(100 - stalled);
    release();
    await until(() => r.store.submittedLog.length === 100, 'all recorded once the store answers');
    expect(r.session().sent.length).toBe(100);
  });

  it('spreads credit over the binds and counts the free slots of every bound session', async () => {
    const r = await rig({ smsc: { window: 5, binds: 3 }, before: (s) => s.add(...parts(T0, 30)) });
    await until(() => r.sessions.length === 3 && r.sessions.every((s) => s.inFlight === 5), 'three windows full');
    expect(r.store.queue.length).toBe(15);
    expect(r.store.pulls.every((n) => n <= 15)).toBe(true);
  });
});

describe('operator actor: TPS', () => {
  it('sends at the bucket rate per manual second, never more than the SMSC limit in any sliding second, and keeps the backlog in the store', async () => {
    // tps 100: burst 2, rate 96/s (token-bucket.ts: limit - 2 × burst).
    const r = await rig({ smsc: { tps: 100, window: 1000 }, before: (s) => s.add(...parts(T0, 1000)) });
    await until(() => r.sessions.length === 1, 'bound');
    r.session().autoRespond = true;
    let maxBuffered = 0;
    for (let t = 0; t < 5000; t += 5) {
      r.clock.advance(5);
      await settle();
      maxBuffered = Math.max(maxBuffered, r.actor.stats(0).buffered);
    }
    const at = r.session().sent.map((s) => s.at - T0);
    const perSecond = [0, 1, 2, 3, 4].map((s) => at.filter((x) => x >= s * 1000 && x < (s + 1) * 1000).length);
    // The first second has the initial burst on top.
    expect(perSecond[0]).toBeGreaterThanOrEqual(96);
    expect(perSecond[0]).toBeLessThanOrEqual(98);
    for (const n of perSecond.slice(1)) {
      expect(n).toBeGreaterThanOrEqual(95);
      expect(n).toBeLessThanOrEqual(97);
    }
    let worst = 0;
    for (let i = 0, j = 0; i < at.length; i++) {
      while ((at[j] as number) <= (at[i] as number) - 1000) j++;
      worst = Math.max(worst, i - j + 1);
    }
    expect(worst).toBeLessThanOrEqual(100);
    // Credit is capped by the tokens: a few entries in memory, the rest in the store.
    expect(maxBuffered).toBeLessThanOrEqual(4);
    expect(r.store.queue.length).toBeGreaterThan(1000 - 5 * 98 - 10);
    expect(r.actor.stats(0).tokenWaits).toBeGreaterThan(0);
  });
});

describe('operator actor: submit answers', () => {
  it('0x58 pauses sending for the throttling backoff, doubling while it lasts, and resends the throttled entry first', async () => {
    const r = await rig({ smsc: { window: 3 }, before: (s) => s.add(...parts(T0, 10)) });
    await until(() => r.session().inFlight === 3, 'window full');
    const [a, b, c] = r.session().sentTo;
    r.session().respond(1, ESME_RSYSERR); // a: temporary, to be resent
    r.session().respond(1, ESME_RTHROTTLED); // b: throttled, goes ahead of a
    await settle();
    // The backoff's first step is 50-100 ms (throttleBackoffMs.min 100, jittered down to half).
    await run(r, 45);
    expect(r.session().sent.length).toBe(3);
    await run(r, 60);
    expect(r.session().sentTo.slice(3)).toEqual([b, a]);
    expect(r.store.queue.length).toBe(7); // the rest waited in the store
    // Another 0x58 with no accepted submit in between: the next step, 100-200 ms.
    r.session().respond(1, ESME_RTHROTTLED); // c
    await settle();
    await run(r, 95);
    expect(r.session().sent.length).toBe(5);
    await run(r, 110);
    expect(r.session().sentTo.slice(5)).toEqual([c]);
    expect(r.actor.stats(0).throttled).toBe(2);
    // An accepted submit ends the streak: the next 0x58 pauses 50-100 ms again.
    r.session().respond(1);
    r.session().respond(1, ESME_RTHROTTLED); // a
    await settle();
    await run(r, 105);
    expect(r.session().sentTo[6]).toBe(a);
    // Everything is sent and recorded once in the end.
    r.session().autoRespond = true;
    r.session().respond();
    await until(() => r.store.submittedLog.length === 10, 'all recorded');
    expect(new Set(r.store.submittedLog.map((s) => s.entry.ref)).size).toBe(10);
  });

  it('a temporary error (0x08) resends after the minimum backoff, behind earlier resends', async () => {
    const r = await rig({ smsc: { window: 2 }, before: (s) => s.add(...parts(T0, 2)) });
    await until(() => r.session().inFlight === 2, 'window full');
    const [a, b] = r.session().sentTo;
    r.session().respond(2, ESME_RSYSERR);
    await settle();
    await run(r, 95);
    expect(r.session().sent.length).toBe(2);
    await run(r, 10);
    expect(r.session().sentTo.slice(2)).toEqual([a, b]);
    expect(r.actor.stats(0).retried).toBe(2);
  });

  it('a permanent error ends the part rejected with the SMSC status as its code, settled once', async () => {
    const r = await rig({ before: (s) => s.add(part(T0)) });
    await until(() => r.session().inFlight === 1, 'sent');
    r.session().respond(1, ESME_RINVDSTADR);
    await until(() => r.store.failedLog.length === 1, 'failure recorded');
    expect(r.store.failedLog[0]).toMatchObject({ state: 'R', errCode: '0x0000000b' });
    expect(r.store.pendingRefs).toEqual([]);
    await run(r, 100);
    expect(r.session().sent.length).toBe(1);
  });

  it('a response timeout resends the part', async () => {
    const r = await rig({ before: (s) => s.add(...parts(T0, 3)) });
    await until(() => r.session().inFlight === 3, 'sent');
    const first = r.session().sentTo;
    r.session().timeOut(2);
    await run(r, 5); // resends wait for the next pump tick
    await until(() => r.session().sent.length === 5, 'resent');
    expect(r.session().sentTo.slice(3)).toEqual(first.slice(0, 2));
    r.session().respond();
    await until(() => r.store.submittedLog.length === 3, 'recorded');
    expect(r.actor.stats(0).retried).toBe(2);
  });

  it('a lost bind resends what was on the wire on the next bind, after the reconnect backoff', async () => {
    const r = await rig({ smsc: { window: 4 }, before: (s) => s.add(...parts(T0, 4)) });
    await until(() => r.session().inFlight === 4, 'window full');
    const onWire = r.session().sentTo;
    r.session().respond(1);
    r.session().close();
    await settle();
    expect(r.sessions.length).toBe(1);
    // reconnectMs.min 100: the first retry comes 50-100 ms later.
    await run(r, 105);
    await until(() => r.sessions.length === 2 && r.session().inFlight === 3, 'resent on the new bind');
    expect(r.session().sentTo).toEqual(onWire.slice(1));
    r.session().respond();
    await until(() => r.store.submittedLog.length === 4, 'recorded');
    expect(r.actor.stats(0).reconnects).toBe(1);
  });

  it('a bind that cannot be made is retried with a growing backoff', async () => {
    const r = await rig({ bindFails: 2, before: (s) => s.add(part(T0)) });
    await settle();
    expect(r.sessions.length).toBe(0);
    expect(r.logs.some((l) => l.includes('connection refused'))).toBe(true);
    await run(r, 100); // first backoff: 50-100 ms
    await run(r, 200); // second: 100-200 ms
    await until(() => r.sessions.length === 1 && r.session().inFlight === 1, 'bound and sent');
  });
});

describe('operator actor: entries that cannot go', () => {
  it('an entry whose validity ran out ends VALIDITY_EXPIRED instead of being sent', async () => {
    const r = await rig({ before: (s) => s.add(part(T0, { validUntilSec: T0 / 1000 - 1 }), part(T0)) });
    await until(() => r.store.failedLog.length === 1 && r.session().inFlight === 1, 'one failed, one sent');
    expect(r.store.failedLog[0]).toMatchObject({ state: 'E', errCode: 'VALIDITY_EXPIRED' });
    expect(r.actor.stats(0).expired).toBe(1);
  });

  it('with no bind at all, held entries end when their validity runs out', async () => {
    const r = await rig({ bindFails: 1_000_000, before: (s) => s.add(part(T0, { validUntilSec: T0 / 1000 + 2 })) });
    // No bind: nothing is pulled (no credit), so put one in the actor's hands the way a take-over does.
    expect(r.store.pulls).toEqual([]);
    r.store.abandoned.push(part(T0, { validUntilSec: T0 / 1000 + 2 }));
    await run(r, 15_010, 1000); // taken over at 15 s, expired by the next pump
    await until(() => r.store.failedLog.length === 1, 'expired while held');
    expect(r.store.failedLog[0]).toMatchObject({ state: 'E', errCode: 'VALIDITY_EXPIRED' });
  });

  it('unreadable entries are dropped (settled) and logged', async () => {
    const r = await rig({ before: (s) => s.unreadableInQueue.push('bad1', 'bad2') });
    await until(() => r.store.dropped.length === 2, 'dropped');
    expect(r.store.dropped).toEqual(['bad1', 'bad2']);
    expect(r.store.pendingRefs).toEqual([]);
    expect(r.logs).toContain('dropping 2 malformed queue entries');
  });
});

describe('operator actor: recovery and take-over', () => {
  it('after a restart re-reads every pending entry page by page before pulling new ones, and drops those already sent', async () => {
    let sentBefore: string[] = [];
    const r = await rig({
      smsc: { window: 100 },
      before: (s, clock) => {
        const held = parts(clock.now(), 2500);
        s.takenBefore(...held);
        // Every tenth one's resp was recorded before the crash.
        sentBefore = held.filter((_, i) => i % 10 === 0).map((e) => e.ref);
        for (const ref of sentBefore) s.sentRefs.add(ref);
        s.add(part(clock.now(), { id: 'new' }));
      },
    });
    await until(() => r.store.pages.length === 3 && r.session().inFlight === 100, 'read out, window full');
    expect(r.store.pages).toEqual([1000, 1000, 500]);
    // Recovered entries go first: nothing new is pulled until they are all sent.
    expect(r.store.calls).not.toContain('pull');
    r.session().autoRespond = true;
    r.session().respond();
    // More than the TPS bucket's burst: tokens refill as the clock moves.
    await runUntil(r, () => r.store.submittedLog.length === 2251, 'every unsent one and the new one recorded');
    expect(r.store.calls.indexOf('pull')).toBeGreaterThan(r.store.calls.lastIndexOf('pending'));
    expect(r.store.submittedLog[2250]?.entry.id).toBe('new');
    const sent = r.session().sent.map((s) => s.sm.destinationAddr);
    expect(sent.length).toBe(2251);
    expect(new Set(sent).size).toBe(2251);
    const recorded = new Set(r.store.submittedLog.map((s) => s.entry.ref));
    for (const ref of sentBefore) expect(recorded.has(ref)).toBe(false);
    expect(r.store.pendingRefs).toEqual([]);
  });

  it('after lost reads, re-reads its pending entries and sends those a lost reply carried, not those it holds', async () => {
    const r = await rig({ smsc: { window: 5 }, before: (s) => s.add(...parts(T0, 5)) });
    await until(() => r.session().inFlight === 5, 'window full');
    // A pull whose reply was lost: the store gave these to this actor, the actor never saw them.
    const lost = parts(T0, 3);
    r.store.takenBefore(...lost);
    r.store.loseReads();
    await run(r, 5); // re-read at the next pump tick
    expect(r.store.calls.filter((c) => c === 'pending').length).toBeGreaterThanOrEqual(2);
    r.session().autoRespond = true;
    r.session().respond();
    await until(() => r.store.submittedLog.length === 8, 'all eight recorded');
    expect(r.session().sent.length).toBe(8);
    expect(new Set(r.session().sentTo).size).toBe(8);
  });

  it('takes over what dead actors left, sends the unsent ones once, and ignores entries it already holds', async () => {
    const r = await rig({ smsc: { window: 10 }, before: (s) => s.add(...parts(T0, 2)) });
    await until(() => r.session().inFlight === 2, 'own entries sent');
    const left = parts(T0, 4);
    r.store.abandoned.push(...left);
    r.store.sentRefs.add((left[0] as QueuedPart).ref); // its resp was recorded before that node died
    await run(r, 15_005, 1000); // taken over at 15 s, sent at the next pump tick
    await until(() => r.session().sent.length === 5, 'three taken over and sent');
    expect(r.session().sentTo.slice(2).sort()).toEqual(left.slice(1).map((e) => e.to).sort());
    // The own two still in flight were offered again by the take-over and not resent.
    r.session().respond();
    await until(() => r.store.submittedLog.length === 5, 'recorded');
    expect(r.store.pendingRefs).toEqual([]);
  });
});

describe('operator actor: state writes', () => {
  it('a failing submitted call is retried every 500 ms: nothing lost or doubled, the entries unsettled meanwhile and not resent by a recovery', async () => {
    const r = await rig({ before: (s) => s.add(...parts(T0, 3)) });
    await until(() => r.session().inFlight === 3, 'sent');
    r.store.failNext.submitted = 2;
    const refs = r.store.pendingRefs;
    r.session().respond();
    await until(() => r.logs.some((l) => l.startsWith('recording 3 submits failed, will retry')), 'first failure');
    expect(r.store.pendingRefs).toEqual(refs);
    // A recovery meanwhile finds them pending, and must not take them for unsent.
    r.store.loseReads();
    await run(r, 495);
    expect(r.store.submittedLog.length).toBe(0);
    expect(r.store.calls.filter((c) => c === 'submitted').length).toBe(1);
    await run(r, 10);
    expect(r.store.calls.filter((c) => c === 'submitted').length).toBe(2);
    await run(r, 500);
    await until(() => r.store.submittedLog.length === 3, 'recorded on the third try');
    expect(r.store.submittedLog.map((s) => s.entry.ref).sort()).toEqual([...refs].sort());
    expect(r.store.pendingRefs).toEqual([]);
    expect(r.session().sent.length).toBe(3);
    await run(r, 1000);
    expect(r.store.submittedLog.length).toBe(3);
  });

  it('a failing failed call is retried the same way', async () => {
    const r = await rig({ before: (s) => s.add(part(T0)) });
    await until(() => r.session().inFlight === 1, 'sent');
    r.store.failNext.failed = 1;
    r.session().respond(1, ESME_RINVDSTADR);
    await until(() => r.logs.some((l) => l.startsWith('recording 1 failures failed')), 'failure');
    expect(r.store.pendingRefs.length).toBe(1);
    await run(r, 505);
    await until(() => r.store.failedLog.length === 1, 'recorded');
    expect(r.store.pendingRefs).toEqual([]);
    expect(r.session().sent.length).toBe(1);
  });

  it('gathers state changes for stateFlushMs into one call', async () => {
    const r = await rig({ opts: { stateFlushMs: 20 }, before: (s) => s.add(...parts(T0, 6)) });
    await until(() => r.session().inFlight === 6, 'sent');
    r.session().respond(3);
    await settle();
    r.session().respond(3);
    await settle();
    expect(r.store.calls.filter((c) => c === 'submitted').length).toBe(0);
    await run(r, 20);
    await until(() => r.store.submittedLog.length === 6, 'recorded');
    expect(r.store.calls.filter((c) => c === 'submitted').length).toBe(1);
  });
});

describe('operator actor: receipts', () => {
  const receipt = (sequence: number, id: string, stat = 2) => ({ sequence, esmClass: 0x04, shortMessage: Buffer.alloc(0), receiptedMessageId: id, messageState: stat });

  it('answers deliver_sm only once the store has the receipt, and 0x64 when recording it failed', async () => {
    const r = await rig();
    await until(() => r.sessions.length === 1, 'bound');
    const release = r.store.hold('receipts');
    r.session().deliver(receipt(7, '00A1'));
    await settle();
    expect(r.store.calls).toContain('receipts');
    expect(r.session().replies).toEqual([]);
    release();
    await until(() => r.session().replies.length === 1, 'answered');
    expect(r.session().replies).toEqual([{ sequence: 7, status: 0 }]);
    expect(r.store.receiptLog[0]).toMatchObject({ key: 'a1', state: 'D' });
    expect(r.actor.stats(0)).toMatchObject({ receipts: 1, receiptsDelivered: 1 });

    r.store.failNext.receipts = 1;
    r.session().deliver(receipt(8, '00A2', 5));
    await until(() => r.session().replies.length === 2, 'answered');
    expect(r.session().replies[1]).toEqual({ sequence: 8, status: 0x64 });
  });

  it('counts receipts that match nothing, answers them 0, and answers at once those it can never use or need not record', async () => {
    const r = await rig();
    await until(() => r.sessions.length === 1, 'bound');
    r.store.receiptOutcome = () => 'gone';
    r.session().deliver(receipt(1, 'ff'));
    await until(() => r.session().replies.length === 1, 'answered');
    expect(r.session().replies[0]).toEqual({ sequence: 1, status: 0 });
    expect(r.actor.stats(0).receiptsUnmatched).toBe(1);
    // No id at all: permanent 0x65. ENROUTE without an error: nothing to record, 0.
    r.session().deliver({ sequence: 2, esmClass: 0x04, shortMessage: Buffer.from('stat:DELIVRD', 'latin1') });
    r.session().deliver({ sequence: 3, esmClass: 0x04, shortMessage: Buffer.alloc(0), receiptedMessageId: 'ab', messageState: 1 });
    expect(r.session().replies.slice(1)).toEqual([{ sequence: 2, status: 0x65 }, { sequence: 3, status: 0 }]);
    expect(r.store.receiptLog.length).toBe(1);
  });

  it('a deliver_sm that is not a receipt (MO) is answered 0 when no MO recorder is set', async () => {
    const r = await rig();
    await until(() => r.sessions.length === 1, 'bound');
    r.session().deliver({ sequence: 4, esmClass: 0, shortMessage: Buffer.from('hello', 'latin1'), sourceAddr: '4790000001', destinationAddr: '2222' });
    expect(r.session().replies).toEqual([{ sequence: 4, status: 0 }]);
    expect(r.store.calls).not.toContain('receipts');
  });
});

describe('operator actor: send gate', () => {
  it("holds back a paused tenant's entries (parked by the store's re-check) and sends the others", async () => {
    const diverted: QueuedPart[] = [];
    const gateStore: GateStore<QueuedPart> = {
      // The paused set comes only when the version applied differs (as ParkingStore.poll does).
      poll: async (_c, applied): Promise<PollResult> => ({ version: '1', paused: applied === '1' ? undefined : ['paused-co'], optOuts: [] }),
      divert: async (entries) => {
        diverted.push(...entries);
        return entries.map((e) => (e.tenant === 'paused-co' ? DivertResult.Parked : DivertResult.Send));
      },
    };
    const r = await rig({
      opts: { gate: { store: gateStore, consumer: 'n:sim', pollMs: 250, optOutHorizonMs: 3_600_000 } },
      before: (s) => s.add(part(T0, { tenant: 'paused-co' }), part(T0, { tenant: 'acme' }), part(T0, { tenant: 'paused-co' })),
    });
    await until(() => r.sessions.length === 1 && r.session().inFlight === 1 && diverted.length === 2, 'one sent, two held back');
    expect(r.session().sent.length).toBe(1);
    expect(diverted.every((e) => e.tenant === 'paused-co')).toBe(true);
    await run(r, 100);
    expect(r.session().sent.length).toBe(1);
  });

  it('sends nothing once the gate has not heard from its store for SELF_STOP_MS', async () => {
    let down = false;
    const gateStore: GateStore<QueuedPart> = {
      poll: async (_c, applied): Promise<PollResult> => {
        if (down) throw new Error('store down');
        return { version: '1', paused: applied === '1' ? undefined : [], optOuts: [] };
      },
      divert: async (entries) => entries.map(() => DivertResult.Send),
    };
    const r = await rig({ opts: { gate: { store: gateStore, consumer: 'n:sim', pollMs: 250, optOutHorizonMs: 3_600_000 } } });
    await until(() => r.sessions.length === 1, 'bound');
    down = true;
    await run(r, 3000);
    r.store.add(part(T0));
    await run(r, 500);
    expect(r.session().sent.length).toBe(0);
    down = false;
    await run(r, 300);
    await until(() => r.session().sent.length === 1, 'sent once the view is fresh again');
  });
});

/** Bind-slot leases as a test sets them (engine/fleet/lease-gate.ts in the engine). */
class FakeLeases implements BindLeasePort {
  readonly slots = new Set<number>();
  readonly drain = new Set<number>();
  readonly releasedLog: number[] = [];
  /** False: every lease has run out on the clock (a paused process woke), whatever `held` says. */
  valid = true;
  private readonly listeners: Array<() => void> = [];
  usable(i: number): boolean {
    return this.valid && this.slots.has(i) && !this.drain.has(i);
  }
  held(i: number): boolean {
    return this.slots.has(i);
  }
  draining(i: number): boolean {
    return this.slots.has(i) && this.drain.has(i);
  }
  released(i: number): void {
    this.releasedLog.push(i);
    this.slots.delete(i);
    this.drain.delete(i);
  }
  usableCount(): number {
    return [...this.slots].filter((i) => this.usable(i)).length;
  }
  onChange(cb: () => void): void {
    this.listeners.push(cb);
  }
  /** A fleet tick. */
  tick(): void {
    for (const cb of this.listeners) cb();
  }
}

describe('operator actor: bind leases (many nodes)', () => {
  it('binds only the slots it holds; a lease that ran out stops every submit at once, what was read goes back, the bind closes once the slot is another node\'s', async () => {
    const leases = new FakeLeases();
    leases.slots.add(0);
    const r = await rig({ smsc: { binds: 2, window: 10 }, opts: { leases }, before: (s) => s.add(...parts(T0, 60)) });
    await until(() => r.sessions.length === 1 && r.session().inFlight === 10, 'slot 0 bound and its window full');
    await run(r, 50);
    expect(r.sessions.length).toBe(1); // slot 1 is another node's
    // The process was paused past its lease: no tick has said so yet, the clock alone does.
    leases.valid = false;
    const sentBefore = r.session().sent.length;
    // The resps read on waking: five throttled (to be resent: not here), five accepted (recorded).
    r.session().respond(5, ESME_RTHROTTLED);
    r.session().respond();
    await run(r, 50);
    expect(r.session().sent.length).toBe(sentBefore);
    await until(() => r.store.submittedLog.length === 5, 'the five accepted recorded');
    // Run out, not given away: still bound, sending nothing. The next tick says another node has it: unbound.
    expect(r.session().isClosed).toBe(false);
    leases.slots.delete(0);
    leases.tick();
    await until(() => r.session().isClosed, 'the lost slot unbound');
    // The throttled five went back, pending for a node holding a bind; nothing stays with this actor.
    expect(r.store.handedBack.length).toBe(5);
    expect(r.store.pendingRefs).toEqual([]);
    // A new lease: the slot is bound again and sending resumes (with what is queued; what went back is for the other nodes).
    leases.valid = true;
    leases.slots.add(0);
    leases.tick();
    await runUntil(r, () => r.sessions.length === 2 && r.session().sent.length > 0, 'bound again and sending (after the throttling backoff)');
  });

  it('a slot above the fair share gets no new submits, unbinds once its window is empty, then is given back', async () => {
    const leases = new FakeLeases();
    leases.slots.add(0).add(1);
    const r = await rig({ smsc: { binds: 2, window: 5 }, opts: { leases }, before: (s) => s.add(...parts(T0, 200)) });
    await until(() => r.sessions.length === 2 && r.sessions.every((s) => s.inFlight === 5), 'both slots bound, windows full');
    const [s0, s1] = r.sessions as [FakeSession, FakeSession];
    leases.drain.add(1);
    leases.tick();
    const sent1 = s1.sent.length;
    s0.autoRespond = true;
    s0.respond();
    await run(r, 100);
    expect(s1.sent.length).toBe(sent1); // draining: nothing new on it
    expect(leases.releasedLog).toEqual([]); // its window is not empty yet
    s1.respond();
    await until(() => leases.releasedLog.length === 1, 'slot 1 given back');
    expect(leases.releasedLog).toEqual([1]);
    expect(s1.isClosed).toBe(true);
    expect(r.sessions.length).toBe(2); // not bound again
  });
});
