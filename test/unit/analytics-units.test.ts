/**
 * Pure pieces of analytics: the events-stream parser (new x fields, MO
 * entries), error-code canonical forms, the live rollup (per second, per
 * scope, late events, percentiles), and the bad-number config rules.
 */
import { describe, expect, it } from 'vitest';
import { canonicalCode } from '../../analytics/bad-numbers.js';
import { chTime, toRow, type EventRow } from '../../analytics/event-sink.js';
import { LiveRollup, type RawSecond } from '../../analytics/live-rollup.js';
import { isMoEntry, parseStatusEvent } from '../../analytics/status-events.js';
import { DEFAULTS, parseConfig } from '../../config/index.js';
import { errorOf } from '../helpers/error-of.js';

const X = 'sim-a|4791000001|1|1700000000000|NO|242|01|0.03|EUR';

describe('events stream entries', () => {
  it('reads latency and the raw reply at the end of x, keeping "|" inside the raw text; older entries lack them', () => {
    const e = parseStatusEvent(['t', 'acme', 'f', '{}', 'x', `${X}|250|stat:UNDELIV err:001 text:a|b|c`]);
    expect(e).toMatchObject({ smsc: 'sim-a', to: '4791000001', latencyMs: 250, raw: 'stat:UNDELIV err:001 text:a|b|c' });
    expect(parseStatusEvent(['t', 'acme', 'f', '{}', 'x', X])).toMatchObject({ latencyMs: undefined, raw: '' });
    expect(parseStatusEvent(['t', 'acme', 'f', '{}', 'x', `${X}||`])).toMatchObject({ latencyMs: undefined, raw: '' });
  });

  it('recognises MO entries (k=mo) and gives no status event for them', () => {
    const mo = ['t', 'acme', 'k', 'mo', 'f', '{"op":"mo","id":"x"}'];
    expect(isMoEntry(mo)).toBe(true);
    expect(parseStatusEvent(mo)).toBeUndefined();
    expect(toRow('1-0', mo)).toBeUndefined();
    expect(isMoEntry(['t', 'acme', 'f', '{}'])).toBe(false);
  });

  it('names the SMPP stat of receipt events and the command_status of refused submits', () => {
    const f = (status: string, error?: object) => JSON.stringify({ op: 'status', id: 'm', status, at: 1, ...(error ? { error } : {}) });
    expect(toRow('1-0', ['t', 'a', 'f', f('delivered'), 'x', `${X}|40|`])?.smpp_stat).toBe('DELIVRD');
    expect(toRow('1-0', ['t', 'a', 'f', f('undelivered', { code: '011', text: 'UNDELIV' }), 'x', `${X}|40|raw`])).toMatchObject({ smpp_stat: 'UNDELIV', latency_ms: 40, raw_reply: 'raw' });
    expect(toRow('1-0', ['t', 'a', 'f', f('rejected', { code: '0x00000045', text: 'refused' }), 'x', X])?.smpp_stat).toBe('ESME_RSUBMITFAIL');
    expect(toRow('1-0', ['t', 'a', 'f', f('unknown', { text: 'no receipt' }), 'x', `${X}||`])).toMatchObject({ smpp_stat: '', latency_ms: null });
  });
});

describe('error codes', () => {
  it('compares receipt codes as 3 digits and command_status as 8 hex digits', () => {
    expect(canonicalCode('1')).toBe('001');
    expect(canonicalCode('001')).toBe('001');
    expect(canonicalCode('0xB')).toBe('0x0000000b');
    expect(canonicalCode('0x0000000b')).toBe('0x0000000b');
  });
});

function row(p: Partial<EventRow> & { atMs: number }): EventRow {
  return {
    time: '', eid: '', message_id: 'm', tenant: 'acme', client_ref: '', status: 'sent', error_code: '', error_text: '', smsc: 'sim-a', destination: '', country: 'NO',
    mcc: '', mnc: '', operator: '', price: 0, currency: '', parts: 1, accepted_at: '', smpp_stat: '', raw_reply: '', latency_ms: null, ...p,
  };
}

describe('live rollup', () => {
  it('counts per second of the event, per SMSC and country, for the tenant and for the admin view, once a second is over', () => {
    const r = new LiveRollup({ graceMs: 1000, horizonMs: 60_000 });
    const t = 1_700_000_000_000;
    r.add([row({ atMs: t + 10 }), row({ atMs: t + 20, status: 'delivered', latency_ms: 100 }), row({ atMs: t + 30, status: 'undelivered' }), row({ atMs: t + 1500, tenant: 'beta', smsc: 'sim-b', country: 'DE' })], t + 1600);
    expect(r.flush(t + 1900)).toEqual([]); // the second is not over + grace yet
    const out = r.flush(t + 2000);
    const acme = out.find((o) => o.scope === 'acme')?.frame;
    expect(acme).toMatchObject({ op: 'rollup', t, smsc: { 'sim-a': { submitted: 1, delivered: 1, undelivered: 1, deliveryRate: 0.5 } }, country: { NO: { submitted: 1 } } });
    expect(acme?.smsc['sim-a']?.latencyMs.p50).toBeGreaterThanOrEqual(95);
    expect(acme?.smsc['sim-a']?.latencyMs.p50).toBeLessThanOrEqual(105);
    expect(out.filter((o) => o.scope === '*').map((o) => o.frame.t)).toEqual([t]);
    // beta's event is in the next second; a late event for a second already sent comes in a frame of its own
    r.add([row({ atMs: t + 40 })], t + 2100);
    const next = r.flush(t + 3000);
    expect(next.filter((o) => o.scope === 'acme').map((o) => [o.frame.t, o.frame.smsc['sim-a']?.submitted])).toEqual([[t, 1]]);
    expect(next.find((o) => o.scope === 'beta')?.frame).toMatchObject({ t: t + 1000, smsc: { 'sim-b': { submitted: 1 } } });
  });

  it('gives percentiles within 5 % and leaves events past the horizon to ClickHouse', () => {
    const r = new LiveRollup({ graceMs: 0, horizonMs: 10_000 });
    const t = 1_700_000_000_000;
    r.add(Array.from({ length: 1000 }, (_, i) => row({ atMs: t, status: 'delivered', latency_ms: i + 1 })), t + 100);
    r.add([row({ atMs: t - 20_000 })], t + 100);
    const [f] = r.flush(t + 1000).filter((o) => o.scope === '*');
    const l = f?.frame.smsc['sim-a']?.latencyMs;
    expect(Math.abs((l?.p50 as number) - 500) / 500).toBeLessThan(0.05);
    expect(Math.abs((l?.p99 as number) - 990) / 990).toBeLessThan(0.05);
    expect(f?.frame.smsc['sim-a']?.submitted).toBe(0);
  });

  it("several nodes' shares merged from their raw seconds give the frames of one rollup that saw every event, percentiles included", () => {
    const t = 1_700_000_000_000;
    const rows = Array.from({ length: 900 }, (_, i) =>
      row({ atMs: t + (i % 3) * 1000 + (i % 997), tenant: i % 2 === 0 ? 'acme' : 'beta', smsc: i % 5 === 0 ? 'sim-b' : 'sim-a', country: i % 7 === 0 ? 'DE' : 'NO', status: ['sent', 'delivered', 'undelivered'][i % 3] as string, latency_ms: i % 3 === 1 ? 1 + ((i * 37) % 5000) : null }),
    );
    const whole = new LiveRollup({ graceMs: 0, horizonMs: 60_000 });
    whole.add(rows, t);
    // Three nodes, each with a share (as the consumer group hands them out), exchange raw seconds as JSON.
    const nodes = [0, 1, 2].map(() => new LiveRollup({ graceMs: 0, horizonMs: 60_000 }));
    rows.forEach((r, i) => nodes[i % 3]?.add([r], t));
    const merged = new LiveRollup({ graceMs: 0, horizonMs: 60_000 });
    for (const n of nodes) merged.addRaw(JSON.parse(JSON.stringify(n.flushRaw(t + 10_000))) as RawSecond[], t);
    const key = (o: { scope: string; frame: { t: number } }) => `${o.scope}@${o.frame.t}`;
    const sorted = (x: ReturnType<LiveRollup['flush']>) => [...x].sort((a, b) => (key(a) < key(b) ? -1 : 1));
    const expected = sorted(whole.flush(t + 10_000));
    expect(expected.length).toBe(9); // '*', acme, beta × 3 seconds
    expect(sorted(merged.flush(t + 10_000))).toEqual(expected);
    // One node's share alone is not the fleet's (what each node's feed showed before).
    const alone = new LiveRollup({ graceMs: 0, horizonMs: 60_000 });
    rows.forEach((r, i) => i % 3 === 0 && alone.add([r], t));
    expect(sorted(alone.flush(t + 10_000))).not.toEqual(expected);
  });

  it('skips malformed raw seconds from the channel and seconds past the horizon', () => {
    const t = 1_700_000_000_000;
    const r = new LiveRollup({ graceMs: 0, horizonMs: 10_000 });
    const bad = [null, 7, { scope: 1, t }, { scope: 'x', t: t + 1 }, { scope: 'x', t: t - 20_000, smsc: { a: [1, 0, 0, 0, []] }, country: {} }, { scope: 'x', t, smsc: { a: 'no', b: [2, -1, 'x', 0, [3, 1, 999, 5, -1, 2]] }, country: null }];
    r.addRaw(bad as unknown as RawSecond[], t);
    const out = r.flush(t + 1000);
    expect(out).toHaveLength(1);
    expect(out[0]?.frame).toMatchObject({ t, smsc: { b: { submitted: 2, delivered: 0, undelivered: 0, latencyMs: { p50: expect.any(Number) } } }, country: {} });
  });
});

describe('bad-number config', () => {
  const base = () => ({
    tenants: [{ id: 'acme', apiKey: { env: 'K' } }],
    smscs: [{ id: 'sim-a', port: 2775, systemId: 'sy', password: { env: 'P' } }],
    routing: { plans: [{ id: 'std', routes: [{ network: '*', candidates: [{ smsc: 'sim-a', price: 0.05 }] }] }] },
  });
  it('has defaults, takes codes in decimal or hex, and refuses anything else', () => {
    const c = parseConfig(base());
    expect(c.analytics.badNumbers).toEqual({ ...DEFAULTS.analytics.badNumbers, permanentCodes: [...DEFAULTS.analytics.badNumbers.permanentCodes] });
    expect(parseConfig({ ...base(), analytics: { badNumbers: { permanentCodes: ['1', '0x0B'], refuse: true } } }).analytics.badNumbers).toMatchObject({ permanentCodes: ['1', '0x0B'], refuse: true, failures: 3 });
    expect(errorOf(() => parseConfig({ ...base(), analytics: { badNumbers: { permanentCodes: ['UNDELIV'] } } }, 'c.json')).message).toContain('analytics.badNumbers.permanentCodes[0]');
    expect(errorOf(() => parseConfig({ ...base(), analytics: { badNumbers: { count: 3 } } }, 'c.json')).message).toContain('analytics.badNumbers.count: unknown key');
    expect(errorOf(() => parseConfig({ ...base(), tenants: [{ id: 'acme', apiKey: { env: 'K' }, refuseFlaggedNumbers: 'yes' }] }, 'c.json')).message).toContain('tenants[0].refuseFlaggedNumbers');
  });
});

describe('chTime', () => {
  it('formats like Date#toISOString for any ms, also across the seconds it caches', () => {
    const ref = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
    const samples = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1_732_290_000_000, 1_732_290_000_007, 1_732_290_000_070, 1_732_290_000_999];
    for (let i = 0; i < 5000; i++) samples.push(1_700_000_000_000 + ((i * 7_919_993) % 3_000_000_000), 1_732_290_000_000 + (i % 3) * 1000 + (i % 1000));
    for (const ms of samples) expect(chTime(ms)).toBe(ref(ms));
  });
});
