import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/index.js';
import type { ActorStats } from '../../engine/actors/messages.js';
import { Keys } from '../../engine/queue/keys.js';
import { HealthFeed } from '../../engine/routing/health-feed.js';
import type { FleetHealthPort, SmscFigures } from '../../engine/fleet/node-figures.js';
import { RouteHealth } from '../../router/index.js';

const config = parseConfig({
  tenants: [{ id: 'acme', apiKey: { env: 'K' } }],
  smscs: [{ id: 'a', port: 1, systemId: 's', password: { env: 'P' } }, { id: 'b', port: 2, systemId: 's', password: { env: 'P' } }],
  routing: {
    downAfterMs: 1000,
    qualityWindowSec: 60,
    qualityMinReceipts: 100,
    circuit: { errors: 10, errorRate: 0.5, windowSec: 30, openSec: 20 },
    plans: [{ id: 'p', routes: [{ network: '*', candidates: [{ smsc: 'a', price: 1 }] }] }],
  },
});

function stats(smsc: string, o: Partial<{ up: boolean; tried: boolean; submitted: number; rejected: number; delivered: number; failed: number }> = {}): ActorStats {
  return {
    smsc, threadId: 1, binds: [{ index: 0, up: o.up ?? true, since: 0, inFlight: 0, tried: o.tried ?? true }], submitted: o.submitted ?? 0, rejected: o.rejected ?? 0,
    expired: 0, throttled: 0, retried: 0, receipts: 0, receiptsEarly: 0, receiptsDelivered: o.delivered ?? 0, receiptsFailed: o.failed ?? 0,
    receiptsUnmatched: 0, reconnects: 0, badPdus: 0, buffered: 0, tokenWaits: 0, submitP50Ms: 0, submitP99Ms: 0,
  };
}

function setup() {
  let now = 100_000;
  const health = new RouteHealth(['a', 'b']);
  const changes: string[] = [];
  // Redis is only used by refreshQueues, which these tests do not call.
  const feed = new HealthFeed(health, config.routing, config.smscs, undefined as unknown as Redis, new Keys('t:'), () => now, (s, bound, why) => changes.push(`${s} ${bound ? 'bound' : 'unbound'} (${why})`));
  return { health, feed, changes, at: (t: number) => (now = t) };
}

const running = () => true;

describe('HealthFeed', () => {
  it('refusals at start: an SMSC whose binds have not had their first chance stays up however long the start takes; the grace counts from its first failed attempt', () => {
    const { health, feed, changes, at } = setup();
    // Long after the feed was built (a loaded machine: warm-up, worker threads loading): no actor has
    // reported yet, then a's first bind attempt is still under way. Traffic waits in the queue.
    at(160_000);
    feed.applyStats([], running);
    expect([health.up[0], health.up[1]]).toEqual([1, 1]);
    expect(feed.startingSmscs).toEqual(['a', 'b']);
    at(170_000);
    feed.applyStats([stats('a', { up: false, tried: false }), stats('b')], running);
    expect([health.up[0], health.up[1]]).toEqual([1, 1]);
    expect(feed.startingSmscs).toEqual(['a']);
    // a's first attempt fails: downAfterMs (1 s) counts from now
    at(180_000);
    feed.applyBinds(stats('a', { up: false, tried: true }), true);
    expect(health.up[0]).toBe(1);
    expect(feed.startingSmscs).toEqual([]);
    at(180_999);
    feed.applyStats([stats('a', { up: false }), stats('b')], running);
    expect(health.up[0]).toBe(1);
    at(181_001);
    feed.applyStats([stats('a', { up: false }), stats('b')], running);
    expect(health.up[0]).toBe(0);
    expect(health.downSince[0]).toBe(180_000);
    expect(changes).toEqual(['b bound (binds)', 'a unbound (first bind attempts failed)']);
  });

  it('an actor that dies before its binds had their chance ends the start: the grace counts from then', () => {
    const { health, feed, at } = setup();
    at(150_000);
    feed.applyStats([], () => false);
    expect(health.up[0]).toBe(1);
    expect(feed.startingSmscs).toEqual([]);
    at(151_001);
    feed.applyStats([], () => false);
    expect([health.up[0], health.up[1]]).toEqual([0, 0]);
  });

  it('an SMSC without a bound session is down only after downAfterMs', () => {
    const { health, feed, changes, at } = setup();
    feed.applyStats([stats('a'), stats('b')], running);
    at(100_500);
    feed.applyStats([stats('a', { up: false }), stats('b')], running);
    expect([health.up[0], health.up[1]]).toEqual([1, 1]);
    at(101_501);
    feed.applyStats([stats('a', { up: false }), stats('b')], running);
    expect([health.up[0], health.up[1]]).toEqual([0, 1]);
    expect(health.downSince[0]).toBe(100_500);
    // a flap shorter than downAfterMs keeps b's traffic
    feed.applyBinds(stats('b', { up: false }), true);
    at(101_800);
    feed.applyBinds(stats('b'), true);
    expect(health.up[1]).toBe(1);
    expect(changes).toEqual(['a bound (binds)', 'b bound (binds)', 'a unbound (binds)', 'b unbound (bind change)', 'b bound (bind change)']);
    // an actor that stops reporting, or is not running, is not up
    at(105_000);
    feed.applyStats([stats('a')], running);
    expect(health.up[0]).toBe(1);
    at(106_100);
    feed.applyStats([stats('a')], running);
    expect(health.up[1]).toBe(0);
    feed.applyStats([stats('a'), stats('b')], () => false);
    at(107_200);
    feed.applyStats([stats('a'), stats('b')], () => false);
    expect([health.up[0], health.up[1]]).toEqual([0, 0]);
  });

  it('opens the circuit on a share of permanent errors, not on a count, and spends those errors', () => {
    const { health, feed, at } = setup();
    feed.applyStats([stats('a'), stats('b')], running);
    // 30 rejected of 3,030 submits (1 %): a busy route's refused numbers, no circuit
    at(110_000);
    feed.applyStats([stats('a', { submitted: 3000, rejected: 30 }), stats('b')], running);
    expect(health.circuitOpenUntil[0]).toBe(0);
    // then errors pile up: 40 more rejected, 10 accepted; the 30 s window still holds the good ones
    at(120_000);
    feed.applyStats([stats('a', { submitted: 3010, rejected: 70 }), stats('b')], running);
    expect(health.circuitOpenUntil[0]).toBe(0);
    // 25 s later: 60 rejected, 12 accepted in the last 30 s (83 %)
    at(145_000);
    feed.applyStats([stats('a', { submitted: 3012, rejected: 90 }), stats('b')], running);
    expect(health.circuitOpenUntil[0]).toBe(165_000);
    // after openSec it is half-open: the errors that opened it do not open it again
    at(166_000);
    feed.applyStats([stats('a', { submitted: 3012, rejected: 91 }), stats('b')], running);
    expect(health.circuitOpenUntil[0]).toBe(165_000);
  });

  it('measures the delivery rate over the quality window, only with enough receipts, across an actor restart', () => {
    const { health, feed, at } = setup();
    feed.applyStats([stats('a'), stats('b')], running);
    at(110_000);
    feed.applyStats([stats('a', { delivered: 50, failed: 10 }), stats('b')], running);
    expect(Number.isNaN(health.deliveryRate[0])).toBe(true); // 60 receipts < 100
    at(120_000);
    feed.applyStats([stats('a', { delivered: 120, failed: 30 }), stats('b')], running);
    expect(health.deliveryRate[0]).toBeCloseTo(120 / 150);
    // the actor restarted: its counters start from zero again; 20 more delivered, 0 failed
    at(125_000);
    feed.applyStats([stats('a', { delivered: 20, failed: 0 }), stats('b')], running);
    expect(health.deliveryRate[0]).toBeCloseTo(140 / 170);
    expect(health.receiptsInWindow[0]).toBe(170);
    // 70 s later the early receipts have left the 60 s window
    at(190_000);
    feed.applyStats([stats('a', { delivered: 20, failed: 100 }), stats('b')], running);
    expect(health.deliveryRate[0]).toBeCloseTo(0 / 100);
  });
});

describe('HealthFeed: one view for the fleet (issue 14)', () => {
  type Figs = Partial<SmscFigures>;
  function fleetSetup(withFleet = true) {
    let now = 100_000;
    const health = new RouteHealth(['a', 'b']);
    let others = new Map<string, ReadonlyMap<string, SmscFigures>>();
    const port: FleetHealthPort = { others: () => others };
    const feed = new HealthFeed(health, config.routing, config.smscs, undefined as unknown as Redis, new Keys('t:'), () => now, () => undefined, withFleet ? port : undefined);
    const full = (f: Figs): SmscFigures => ({ bound: 0, submitted: 0, rejected: 0, delivered: 0, failed: 0, ...f });
    return {
      health,
      feed,
      at: (t: number) => (now = t),
      publish: (byNode: Record<string, Record<string, Figs>>) => (others = new Map(Object.entries(byNode).map(([n, m]) => [n, new Map(Object.entries(m).map(([s, f]) => [s, full(f)]))]))),
    };
  }

  it('an SMSC bound on another node only is up here (it used to go down and lose its traffic on this node)', () => {
    for (const withFleet of [true, false]) {
      const { health, feed, at, publish } = fleetSetup(withFleet);
      publish({ n2: { a: { bound: 1 }, b: { bound: 1 } } });
      // This node holds no bind of a (another node holds the account's slots).
      feed.applyStats([stats('a', { up: false }), stats('b')], running);
      at(105_000);
      feed.applyStats([stats('a', { up: false }), stats('b')], running);
      expect(health.up[0]).toBe(withFleet ? 1 : 0);
    }
  });

  it('an SMSC bound only on a node that left the fleet goes down after downAfterMs', () => {
    const { health, feed, at, publish } = fleetSetup();
    publish({ n2: { a: { bound: 1 } } });
    feed.applyStats([stats('a', { up: false }), stats('b')], running);
    expect(health.up[0]).toBe(1);
    publish({});
    at(100_500);
    feed.applyStats([stats('a', { up: false }), stats('b')], running);
    expect(health.up[0]).toBe(1); // within the grace
    at(101_600);
    feed.applyStats([stats('a', { up: false }), stats('b')], running);
    expect(health.up[0]).toBe(0);
  });

  it('the circuit opens on the fleet sums: errors spread over two nodes, each below the threshold alone', () => {
    const { health, feed, at, publish } = fleetSetup();
    publish({ n2: { a: { bound: 1 } } });
    feed.applyStats([stats('a'), stats('b')], running);
    // 6 errors here, 6 on n2, 2 submits each: 12 errors ≥ 10, 75 % ≥ 50 %.
    at(110_000);
    publish({ n2: { a: { bound: 1, submitted: 2, rejected: 6 } } });
    feed.applyStats([stats('a', { submitted: 2, rejected: 6 }), stats('b')], running);
    expect(health.circuitOpenUntil[0]).toBe(130_000);
  });

  it('delivery rate from the fleet sums; a restart of one node resets its series, not the sum', () => {
    const { health, feed, at, publish } = fleetSetup();
    publish({ n2: { a: { bound: 1, delivered: 0, failed: 0 } } });
    feed.applyStats([stats('a'), stats('b')], running);
    at(110_000);
    publish({ n2: { a: { bound: 1, delivered: 90, failed: 10 } } });
    feed.applyStats([stats('a', { delivered: 10, failed: 40 }), stats('b')], running);
    expect(health.deliveryRate[0]).toBeCloseTo(100 / 150);
    // n2 restarted: its counters start again from 0 (5 delivered since); ours went on.
    at(115_000);
    publish({ n2: { a: { bound: 1, delivered: 5, failed: 0 } } });
    feed.applyStats([stats('a', { delivered: 10, failed: 40 }), stats('b')], running);
    expect(health.deliveryRate[0]).toBeCloseTo(105 / 155);
    expect(health.receiptsInWindow[0]).toBe(155);
  });
});
