import { describe, expect, it } from 'vitest';
import { PlanRouter, RouteHealth, RouterConfigError, type MnpTable, type Network, type NetworkLookup, type RouterConfig, type RouteDecision } from '../../router/index.js';

const TELENOR: Network = { country: 'NO', mcc: '242', mnc: '01', operator: 'Telenor' };
const TELIA: Network = { country: 'NO', mcc: '242', mnc: '02', operator: 'Telia' };
const DT: Network = { country: 'DE', mcc: '262', mnc: '01', operator: 'Telekom' };

/** A numbering plan of three ranges (the real one is tested in numbering-plan.test.ts). */
const lookup: NetworkLookup = {
  lookup: (e164) => (e164.startsWith('474') ? TELENOR : e164.startsWith('479') ? TELIA : e164.startsWith('49151') ? DT : undefined),
  mccOfCountry: (c) => ({ NO: '242', DE: '262', FR: '208' })[c],
};

const SMSCS = ['cheap', 'mid', 'dear', 'de-only'];

function config(over: Partial<RouterConfig> = {}): RouterConfig {
  return {
    smscs: SMSCS.map((id) => ({ id, maxQueueLag: 1000 })),
    plans: [
      {
        id: 'std', currency: 'EUR', qualityFloor: 0.8,
        routes: [
          { network: '242-01', candidates: [{ smsc: 'dear', price: 0.05 }, { smsc: 'cheap', price: 0.03 }, { smsc: 'mid', price: 0.04 }] },
          { network: '242', candidates: [{ smsc: 'mid', price: 0.045 }] },
          { network: '262', candidates: [{ smsc: 'de-only', price: 0.07 }] },
          { network: '*', candidates: [{ smsc: 'dear', price: 0.09 }] },
        ],
      },
      { id: 'ties', currency: 'USD', qualityFloor: 0, routes: [{ network: '242-01', candidates: [{ smsc: 'mid', price: 0.04 }, { smsc: 'cheap', price: 0.04 }] }] },
    ],
    tenants: [
      { id: 'acme', plan: 'std', blockedNetworks: [], blockedSmscs: [] },
      { id: 'tied', plan: 'ties', blockedNetworks: [], blockedSmscs: [] },
      { id: 'nodt', plan: 'std', blockedNetworks: ['262-01'], blockedSmscs: [] },
      { id: 'nono', plan: 'std', blockedNetworks: ['242'], blockedSmscs: ['cheap'] },
      { id: 'forced', plan: 'std', forceSmsc: 'mid', blockedNetworks: [], blockedSmscs: [] },
      { id: 'forced-out', plan: 'std', forceSmsc: 'de-only', blockedNetworks: [], blockedSmscs: [] },
    ],
    ...over,
  };
}

function setup(now = 1_000_000, mnp?: MnpTable) {
  const health = new RouteHealth(SMSCS);
  let t = now;
  const router = new PlanRouter(config(), lookup, health, () => mnp, () => t);
  return { router, health, setNow: (x: number) => (t = x) };
}

const smscOf = (d: RouteDecision) => (d.ok ? d.smsc : `refused: ${d.reason}`);

describe('PlanRouter', () => {
  it('skips the SMSCs a request excludes (failover: an alphabet that lacks a character of the text), and says so when none is left', () => {
    const { router } = setup();
    expect(smscOf(router.route({ e164: '4741234567', tenant: 'acme', skip: (s) => s === 'cheap' }))).toBe('mid');
    expect(smscOf(router.route({ e164: '4741234567', tenant: 'acme', skip: (s) => s !== 'dear' }))).toBe('dear');
    expect(smscOf(router.route({ e164: '4741234567', tenant: 'forced', skip: (s) => s === 'mid' }))).toMatch(/^refused: /);
    const none = router.route({ e164: '4741234567', tenant: 'acme', skip: () => true });
    expect(smscOf(none)).toContain('excluded for this message');
  });

  it('picks the cheapest candidate of the most specific route and records price, currency and network', () => {
    const { router } = setup();
    const d = router.route({ e164: '4741234567', tenant: 'acme' });
    expect(d).toEqual({ ok: true, smsc: 'cheap', price: 0.03, currency: 'EUR', plan: 'std', network: TELENOR, ported: false });
    // 242-02 has no route of its own: the MCC route; Germany: its MCC route; elsewhere: "*"
    expect(smscOf(router.route({ e164: '4791234567', tenant: 'acme' }))).toBe('mid');
    expect(smscOf(router.route({ e164: '4915112345678', tenant: 'acme' }))).toBe('de-only');
    expect(smscOf(router.route({ e164: '33612345678', tenant: 'acme', country: 'FR' }))).toBe('dear');
  });

  it('numbers outside every known range route by their country\'s MCC, or by "*"', () => {
    const { router } = setup();
    // +47 2... is a Norwegian landline range the test plan does not know: country NO → MCC 242 route
    const x = router.explain({ e164: '4721234567', tenant: 'acme', country: 'NO' });
    expect(x.networkSource).toBe('country');
    expect(x.matchedRoute).toBe('242');
    expect(smscOf(x.decision)).toBe('mid');
    expect(router.explain({ e164: '99912345', tenant: 'acme' }).networkSource).toBe('unknown');
  });

  it('price ties go to the candidate listed first', () => {
    const { router } = setup();
    expect(smscOf(router.route({ e164: '4741234567', tenant: 'tied' }))).toBe('mid');
  });

  it('skips every kind of ineligible candidate and says why', () => {
    const { router, health, setNow } = setup(1_000_000);
    const pick = () => router.route({ e164: '4741234567', tenant: 'acme' });
    // down
    health.setUp('cheap', false, 999_000);
    expect(smscOf(pick())).toBe('mid');
    let x = router.explain({ e164: '4741234567', tenant: 'acme' });
    expect(x.candidates.find((c) => c.smsc === 'cheap')?.reasons[0]).toMatch(/^down: no bound session since 1970-01-01T00:16:39/);
    // queue lag beyond the limit
    health.setQueueLag('mid', 1001);
    expect(smscOf(pick())).toBe('dear');
    x = router.explain({ e164: '4741234567', tenant: 'acme' });
    expect(x.candidates.find((c) => c.smsc === 'mid')?.reasons).toEqual(['queue lag 1001 is beyond its limit of 1000']);
    // delivery rate below the plan's floor (80 %)
    health.setDeliveryRate('dear', 0.5, 400);
    const refused = pick();
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.code).toBe('NO_ROUTE');
      expect(refused.reason).toContain('no eligible SMSC for 242-01 (Telenor, NO) in plan "std"');
      expect(refused.reason).toContain('dear delivery rate 50.0 % over the last 400 receipts is below the plan\'s floor of 80.0 %');
      expect(refused.reason).toContain('cheap down');
      expect(refused.reason).toContain('mid queue lag 1001');
    }
    // not enough receipts to judge (NaN): eligible again
    health.setDeliveryRate('dear', NaN, 3);
    expect(smscOf(pick())).toBe('dear');
    // circuit open, and closed again once its time is up
    health.setUp('cheap', true, 1_000_000);
    health.setQueueLag('mid', 0);
    health.openCircuit('cheap', 1_030_000);
    expect(smscOf(pick())).toBe('mid');
    expect(router.explain({ e164: '4741234567', tenant: 'acme' }).candidates[0]?.reasons[0]).toMatch(/^circuit open until .* after repeated permanent submit errors$/);
    setNow(1_030_001);
    expect(smscOf(pick())).toBe('cheap');
  });

  it('applies tenant overrides: blocked networks and SMSCs, a forced SMSC', () => {
    const { router, health } = setup();
    expect(smscOf(router.route({ e164: '4915112345678', tenant: 'nodt' }))).toBe('refused: network 262-01 (Telekom, DE) is blocked for tenant "nodt"');
    expect(smscOf(router.route({ e164: '4741234567', tenant: 'nodt' }))).toBe('cheap');
    // an MCC block covers every network of the country
    expect(smscOf(router.route({ e164: '4791234567', tenant: 'nono' }))).toMatch(/^refused: network 242-02 \(Telia, NO\) is blocked/);
    // forced SMSC, at its own price on the route
    expect(router.route({ e164: '4741234567', tenant: 'forced' })).toMatchObject({ ok: true, smsc: 'mid', price: 0.04 });
    // a forced SMSC that is not a candidate is charged the route's best price; when it is down, no route
    expect(router.route({ e164: '4741234567', tenant: 'forced-out' })).toMatchObject({ ok: true, smsc: 'de-only', price: 0.03 });
    health.setUp('de-only', false, 1);
    const d = router.route({ e164: '4741234567', tenant: 'forced-out' });
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toContain('forced SMSC de-only down');
  });

  it('an MNP override wins over the numbering plan', () => {
    const mnp = new Map([['4741234567', TELIA]]);
    const { router } = setup(1, mnp);
    expect(router.route({ e164: '4741234567', tenant: 'acme' })).toMatchObject({ ok: true, smsc: 'mid', network: TELIA, ported: true });
    expect(router.explain({ e164: '4741234567', tenant: 'acme' }).networkSource).toBe('mnp');
    expect(router.route({ e164: '4741234568', tenant: 'acme' })).toMatchObject({ smsc: 'cheap', ported: false });
  });

  it('refuses unknown tenants and plans without a matching route', () => {
    const { router } = setup();
    expect(smscOf(router.route({ e164: '4741234567', tenant: 'ghost' }))).toBe('refused: tenant "ghost" has no route plan');
    const x = router.explain({ e164: '4915112345678', tenant: 'tied' });
    expect(x.matchedRoute).toBeUndefined();
    expect(smscOf(x.decision)).toBe('refused: plan "ties" has no route for network 262-01 (Telekom, DE) and no "*" route');
  });

  it('names every problem of a bad routing config', () => {
    const bad = config({
      plans: [{ id: 'p', currency: 'EUR', qualityFloor: 0, routes: [{ network: '24201', candidates: [{ smsc: 'nope', price: 1 }] }, { network: '*', candidates: [] }, { network: '*', candidates: [] }] }],
      tenants: [{ id: 'a', plan: 'q', blockedNetworks: [], blockedSmscs: [] }, { id: 'b', plan: 'p', forceSmsc: 'x', blockedNetworks: ['42'], blockedSmscs: ['y'] }],
    });
    let err: unknown;
    try {
      new PlanRouter(bad, lookup, new RouteHealth(SMSCS));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RouterConfigError);
    const m = (err as Error).message;
    expect(m).toContain('routing.plans[0].routes[0].network: "24201" must be "MCC-MNC"');
    expect(m).toContain('routing.plans[0].routes[0].candidates[0].smsc: no SMSC with id "nope"');
    expect(m).toContain('routing.plans[0].routes[2].network: "*" appears twice in plan "p"');
    expect(m).toContain('tenants: "a" is assigned plan "q", which is not in routing.plans');
    expect(m).toContain('tenants: "b" forces SMSC "x", which is not configured');
    expect(m).toContain('tenants: "b" blocks SMSC "y", which is not configured');
    expect(m).toContain('tenants: "b" blocks network "42"');
  });
});
