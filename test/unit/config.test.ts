import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig, parseConfig, resolveSecret } from '../../config/index.js';
import { errorOf } from '../helpers/error-of.js';

const base = () => ({
  tenants: [{ id: 'acme', apiKey: { env: 'ACME_KEY' } }],
  smscs: [{ id: 'sim-a', port: 2775, systemId: 'sy', password: { env: 'SIM_PW' } }],
  routing: { plans: [{ id: 'std', routes: [{ network: '*', candidates: [{ smsc: 'sim-a', price: 0.05 }] }] }] },
});


describe('config', () => {
  it('fills defaults from the one DEFAULTS constant and freezes the result', () => {
    const c = parseConfig(base());
    expect(c.server.host).toBe('127.0.0.1');
    expect(c.smscs[0]?.window).toBe(DEFAULTS.smsc.window);
    expect(c.smscs[0]?.reconnectMs).toEqual(DEFAULTS.smsc.reconnectMs);
    expect(c.tenants[0]?.tps).toBe(DEFAULTS.tenant.tps);
    expect(Object.isFrozen(c.smscs[0])).toBe(true);
  });

  it('refuses an unknown key with its path', () => {
    const raw = base() as Record<string, unknown>;
    (raw.smscs as Array<Record<string, unknown>>)[0]!.colour = 'red';
    const e = errorOf(() => parseConfig(raw, 'a.json'));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain('a.json: smscs[0].colour: unknown key');
  });

  it('refuses a connection output bound (server.maxBufferedBytes) not above the backpressure mark', () => {
    const raw = { ...base(), server: { maxBackpressureBytes: 1024 * 1024, maxBufferedBytes: 1024 * 1024 } };
    expect(errorOf(() => parseConfig(raw, 'a.json')).message).toContain('a.json: server.maxBufferedBytes: must be larger than server.maxBackpressureBytes');
    expect(parseConfig({ ...base(), server: { maxBufferedBytes: 2 * 1024 * 1024 } }).server).toMatchObject({ maxBackpressureBytes: DEFAULTS.server.maxBackpressureBytes, maxBufferedBytes: 2 * 1024 * 1024, maxConnectionsPerTenant: 100, maxConnectionsPerIp: 200, slowConsumerCloseSec: 30 });
  });

  it('server.ingressCpuMsPerSec: 600 ms per second by default, 10 to 1000; tenantCpuMsPerSec names it', () => {
    expect(parseConfig(base()).server.ingressCpuMsPerSec).toBe(600);
    expect(parseConfig({ ...base(), server: { ingressCpuMsPerSec: 100 } }).server.ingressCpuMsPerSec).toBe(100);
    expect(errorOf(() => parseConfig({ ...base(), server: { ingressCpuMsPerSec: 1001 } }, 'a.json')).message).toContain('a.json: server.ingressCpuMsPerSec');
    expect(errorOf(() => parseConfig({ ...base(), server: { ingressCpuMsPerSec: 5 } }, 'a.json')).message).toContain('a.json: server.ingressCpuMsPerSec');
    expect(errorOf(() => parseConfig({ ...base(), server: { tenantCpuMsPerSec: 250 } }, 'a.json')).message).toContain('a.json: server.tenantCpuMsPerSec: key was renamed; use "server.ingressCpuMsPerSec');
  });

  it('fleet.deadNodeRetentionMs: an hour by default, 1 s to 30 days', () => {
    expect(parseConfig(base()).fleet.deadNodeRetentionMs).toBe(3_600_000);
    expect(parseConfig({ ...base(), fleet: { deadNodeRetentionMs: 5000 } }).fleet).toMatchObject({ deadNodeRetentionMs: 5000, heartbeatTtlMs: DEFAULTS.fleet.heartbeatTtlMs });
    expect(errorOf(() => parseConfig({ ...base(), fleet: { deadNodeRetentionMs: 999 } }, 'a.json')).message).toContain('a.json: fleet.deadNodeRetentionMs');
    expect(errorOf(() => parseConfig({ ...base(), fleet: { deadNodeRetentionMs: 31 * 86_400_000 } }, 'a.json')).message).toContain('a.json: fleet.deadNodeRetentionMs');
  });

  it('names the replacement of a renamed key', () => {
    const raw = base() as Record<string, unknown>;
    (raw.smscs as Array<Record<string, unknown>>)[0]!.windowSize = 10;
    expect(errorOf(() => parseConfig(raw, 'a.json')).message).toContain('smscs[0].windowSize: key was renamed; use "window"');
  });

  it('says why a removed key went: engine.workerThreads (one thread per actor now)', () => {
    const raw = base() as Record<string, unknown>;
    raw.engine = { workerThreads: 2 };
    expect(errorOf(() => parseConfig(raw, 'a.json')).message).toContain('a.json: engine.workerThreads: key was removed: every SMSC\'s operator actor now runs in a worker thread of its own');
  });

  it('an SMSC\'s alphabet and addresses: defaults, overrides, and data_coding that must fit the alphabet', () => {
    const c = parseConfig(base());
    expect(c.smscs[0]?.alphabet).toBe('gsm7');
    expect(c.smscs[0]?.alphabetDataCoding).toBeUndefined();
    expect(c.smscs[0]?.addresses).toEqual(DEFAULTS.smsc.addresses);
    expect('sourceTon' in DEFAULTS.smsc).toBe(false); // no default that nothing reads
    const raw = base() as Record<string, unknown>;
    const smsc = (raw.smscs as Array<Record<string, unknown>>)[0]!;
    smsc.alphabet = 'latin1';
    smsc.alphabetDataCoding = 0;
    smsc.addresses = { shortCodeMaxDigits: 8, shortCode: { ton: 3, npi: 1 } };
    const o = parseConfig(raw).smscs[0];
    expect(o?.alphabetDataCoding).toBe(0);
    expect(o?.addresses.shortCode).toEqual({ ton: 3, npi: 1 });
    expect(o?.addresses.shortCodeMaxDigits).toBe(8);
    expect(o?.addresses.international).toEqual({ ton: 1, npi: 1 });
    smsc.alphabet = 'gsm7-packed';
    smsc.alphabetDataCoding = 3;
    expect(errorOf(() => parseConfig(raw, 'a.json')).message).toContain('a.json: smscs[0].alphabetDataCoding: alphabetDataCoding does not fit the alphabet');
    smsc.alphabet = 'ebcdic';
    expect(errorOf(() => parseConfig(raw, 'a.json')).message).toContain('a.json: smscs[0].alphabet: must be "gsm7"');
    smsc.alphabet = 'ia5';
    smsc.alphabetDataCoding = 1;
    smsc.addresses = { destination: { ton: 9, npi: 2 } };
    const m = errorOf(() => parseConfig(raw, 'a.json')).message;
    expect(m).toContain('a.json: smscs[0].addresses.destination.ton');
    expect(m).toContain('a.json: smscs[0].addresses.destination.npi: must be an SMPP 3.4 NPI');
  });

  it('refuses a wrong type with the path', () => {
    const raw = base() as Record<string, unknown>;
    (raw.smscs as Array<Record<string, unknown>>)[0]!.tps = 'fast';
    expect(errorOf(() => parseConfig(raw, 'a.json')).message).toMatch(/a\.json: smscs\[0\]\.tps: .*number/);
  });

  it('refuses routes, plans and tenant overrides that point at nothing', () => {
    const raw = base() as ReturnType<typeof base> & { tenants: Array<Record<string, unknown>> };
    raw.routing.plans[0]!.routes.push({ network: '242-01', candidates: [{ smsc: 'nope', price: 0.03 }] });
    raw.tenants[0]!.routePlan = 'gold';
    raw.tenants[0]!.forceSmsc = 'ghost';
    const m = errorOf(() => parseConfig(raw, 'a.json')).message;
    expect(m).toContain('a.json: routing.plans[0].routes[1].candidates[0].smsc: no SMSC with id "nope" is configured');
    expect(m).toContain('a.json: tenants[0].routePlan: no plan "gold" in routing.plans');
    expect(m).toContain('a.json: tenants[0].forceSmsc: no SMSC with id "ghost" is configured');
  });

  it('refuses malformed networks, prices and currencies with their paths', () => {
    const raw = base() as unknown as { routing: { plans: Array<Record<string, unknown>> } };
    raw.routing.plans[0] = { id: 'std', currency: 'euro', routes: [{ network: '2420', candidates: [{ smsc: 'sim-a', price: -1 }] }] };
    const m = errorOf(() => parseConfig(raw, 'a.json')).message;
    expect(m).toContain('a.json: routing.plans[0].currency: must be an ISO 4217 code');
    expect(m).toContain('a.json: routing.plans[0].routes[0].network: must be "MCC-MNC"');
    expect(m).toMatch(/a\.json: routing\.plans\[0\]\.routes\[0\]\.candidates\[0\]\.price: .*>=0/);
  });

  it('names the replacement of the old static route table', () => {
    const raw = { ...base(), routes: [{ prefix: '', smsc: 'sim-a' }] };
    expect(errorOf(() => parseConfig(raw, 'a.json')).message).toContain('a.json: routes: key was renamed; use "routing.plans');
  });

  it('refuses duplicate ids and duplicate networks in a plan', () => {
    const raw = base();
    raw.tenants.push({ id: 'acme', apiKey: { env: 'X' } });
    raw.routing.plans[0]!.routes.push({ network: '*', candidates: [{ smsc: 'sim-a', price: 0.05 }] });
    const m = errorOf(() => parseConfig(raw, 'a.json')).message;
    expect(m).toContain('tenants[1].id: duplicate id "acme"');
    expect(m).toContain('routing.plans[0].routes[1].network: "*" appears twice in plan "std"');
  });

  it('refuses inline secrets and passwords in redis.url', () => {
    const raw = base() as Record<string, unknown>;
    (raw.tenants as Array<Record<string, unknown>>)[0]!.apiKey = 'plain-text-key';
    expect(errorOf(() => parseConfig(raw)).message).toContain('tenants[0].apiKey');
    const raw2 = { ...base(), redis: { url: 'redis://:secret@127.0.0.1:6379' } };
    expect(errorOf(() => parseConfig(raw2)).message).toContain('redis.url: must not contain a password');
  });

  it('refuses a backoff whose min exceeds its max', () => {
    const raw = base() as Record<string, unknown>;
    (raw.smscs as Array<Record<string, unknown>>)[0]!.reconnectMs = { min: 10, max: 5 };
    expect(errorOf(() => parseConfig(raw)).message).toContain('smscs[0].reconnectMs: min must be <= max');
  });

  it('reports the file for unreadable and non-JSON files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-cfg-'));
    const f = join(dir, 'bad.json');
    writeFileSync(f, '{ nope');
    expect(errorOf(() => loadConfig(f)).message).toContain(`${f}: not valid JSON`);
    expect(errorOf(() => loadConfig(join(dir, 'missing.json'))).message).toContain('cannot read');
  });

  it('resolves secrets from the environment or a file, and names what is missing', () => {
    expect(resolveSecret({ env: 'K' }, 'x', { K: 'v1' })).toBe('v1');
    expect(errorOf(() => resolveSecret({ env: 'K' }, 'tenants[acme].apiKey', {})).message).toBe(
      'tenants[acme].apiKey: environment variable K is not set',
    );
    const dir = mkdtempSync(join(tmpdir(), 'sy-sec-'));
    writeFileSync(join(dir, 'k'), 'from-file\n');
    expect(resolveSecret({ file: join(dir, 'k') }, 'x')).toBe('from-file');
  });

  it('takes the lifecycle keys with their defaults, and refuses bad ones with their paths', () => {
    const c = parseConfig(base());
    expect(c.tenants[0]).toMatchObject({ transliterate: false, billOn: 'sent' });
    expect(c.tenants[0]?.dailyQuota).toBeUndefined();
    expect(c.smscs[0]?.concatenation).toBe('udh');
    expect(c.messages).toMatchObject({ minValiditySec: 60, maxScheduleSec: 30 * 86_400, listRetentionSec: 3600 });
    const raw = base() as unknown as { tenants: Array<Record<string, unknown>>; smscs: Array<Record<string, unknown>>; messages?: Record<string, unknown> };
    raw.tenants[0] = { ...raw.tenants[0], dailyQuota: 0, senders: ['Way too long sender'], billOn: 'always' };
    raw.smscs[0] = { ...raw.smscs[0], concatenation: 'udh16' };
    const m = errorOf(() => parseConfig(raw, 'a.json')).message;
    expect(m).toMatch(/a\.json: tenants\[0\]\.dailyQuota: .*>0/);
    expect(m).toContain('a.json: tenants[0].senders[0]: must be a sender id');
    expect(m).toContain('a.json: tenants[0].billOn: must be "sent"');
    expect(m).toContain('a.json: smscs[0].concatenation: must be "udh"');
    const raw2 = { ...base(), messages: { minValiditySec: 7200, defaultValiditySec: 3600 } };
    expect(errorOf(() => parseConfig(raw2, 'a.json')).message).toContain('a.json: messages.minValiditySec: must be <= messages.defaultValiditySec');
    const raw3 = base() as unknown as { tenants: Array<Record<string, unknown>> };
    raw3.tenants[0] = { ...raw3.tenants[0], senders: [] };
    expect(errorOf(() => parseConfig(raw3, 'a.json')).message).toContain('tenants[0].senders: give at least one sender');
  });

  it('analytics.limits: defaults, and each bound refused with its path', () => {
    expect(parseConfig(base()).analytics.limits).toEqual(DEFAULTS.analytics.limits);
    const bad = (limits: Record<string, unknown>) => errorOf(() => parseConfig({ ...base(), analytics: { limits } }, 'a.json')).message;
    expect(bad({ maxEventDays: 0 })).toContain('a.json: analytics.limits.maxEventDays');
    expect(bad({ maxSliceDays: 1.5 })).toContain('analytics.limits.maxSliceDays');
    expect(bad({ queryTimeoutSec: 0 })).toContain('analytics.limits.queryTimeoutSec');
    expect(bad({ maxRowsToRead: 10 })).toContain('analytics.limits.maxRowsToRead');
    expect(bad({ reportsPerKey: 0 })).toContain('analytics.limits.reportsPerKey');
    expect(bad({ reportsPerTenant: 1 })).toContain('analytics.limits.reportsPerTenant: unknown key');
    expect(parseConfig({ ...base(), analytics: { limits: { maxEventDays: 7 } } }).analytics.limits).toMatchObject({ maxEventDays: 7, reportsPerKey: 1 });
  });

  it('status resume keys: defaults, a partial block keeps the other defaults, and each rule refused with its path', () => {
    expect(parseConfig(base()).server.resume).toEqual(DEFAULTS.server.resume);
    expect(parseConfig({ ...base(), server: { port: 0 } }).server.resume).toEqual(DEFAULTS.server.resume);
    expect(parseConfig({ ...base(), server: { resume: { maxAgeSec: 60 } } }).server.resume).toEqual({ ...DEFAULTS.server.resume, maxAgeSec: 60 });
    for (const [k, v] of [['maxAgeSec', 0], ['maxCatchUps', 0], ['maxCatchUpsPerTenant', 1.5]] as const) {
      expect(errorOf(() => parseConfig({ ...base(), server: { resume: { [k]: v } } }, 'a.json')).message).toContain(`a.json: server.resume.${k}:`);
    }
    expect(errorOf(() => parseConfig({ ...base(), server: { resume: { maxAge: 1 } } }, 'a.json')).message).toContain('server.resume.maxAge: unknown key');
  });

  it('ships an example config that validates', () => {
    expect(() => loadConfig('config/demo.json')).not.toThrow();
  });

  it('opt-out and moderation keys: defaults, and each rule refused with its path', () => {
    const c = parseConfig(base());
    expect(c.mo.stopKeywords).toContain('STOP');
    expect(c.mo.unattributedStop).toBe(DEFAULTS.mo.unattributedStop);
    expect(c.moderation.volume).toEqual(DEFAULTS.moderation.volume);
    expect(c.tenants[0]?.inboundNumbers).toEqual([]);
    const dup = base() as Record<string, unknown>;
    dup.tenants = [{ id: 'a', apiKey: { env: 'K' }, inboundNumbers: ['2222'] }, { id: 'b', apiKey: { env: 'K' }, inboundNumbers: ['+2222'] }];
    expect(errorOf(() => parseConfig(dup, 'a.json')).message).toContain('a.json: tenants[1].inboundNumbers[0]: "+2222" is already tenant "a"\'s');
    const noTenant = { ...base(), mo: { defaultTenant: 'nobody' } };
    expect(errorOf(() => parseConfig(noTenant, 'a.json')).message).toContain('a.json: mo.defaultTenant: no tenant "nobody" is configured');
    const badDomain = base() as Record<string, unknown>;
    (badDomain.tenants as Array<Record<string, unknown>>)[0]!.moderation = { urlAllowlist: ['https://acme.com/'] };
    expect(errorOf(() => parseConfig(badDomain, 'a.json')).message).toContain('tenants[0].moderation.urlAllowlist[0]: must be a domain name');
    const badNumber = base() as Record<string, unknown>;
    (badNumber.tenants as Array<Record<string, unknown>>)[0]!.inboundNumbers = ['call me'];
    expect(errorOf(() => parseConfig(badNumber, 'a.json')).message).toContain('tenants[0].inboundNumbers[0]: must be a number');
    expect(errorOf(() => parseConfig({ ...base(), moderation: { volume: { multiple: 1 } } }, 'a.json')).message).toContain('moderation.volume.multiple');
  });
});

describe('config: smppServer and tenants[].smpp', () => {
  it('defaults the SMPP server off, on loopback, from DEFAULTS', () => {
    const c = parseConfig(base());
    expect(c.smppServer).toMatchObject({ enabled: false, host: '127.0.0.1', port: DEFAULTS.smppServer.port, window: DEFAULTS.smppServer.window });
  });

  it('refuses an unknown smppServer key, an inline SMPP password, a long system_id and a system_id two tenants share', () => {
    const raw = base() as Record<string, unknown>;
    raw.smppServer = { enabled: true, colour: 10 };
    expect(errorOf(() => parseConfig(raw, 'a.json')).message).toContain('a.json: smppServer.colour: unknown key');
    const t = base();
    (t.tenants[0] as Record<string, unknown>).smpp = { systemId: 'acme', password: 'plain' };
    expect(errorOf(() => parseConfig(t, 'a.json')).message).toContain('tenants[0].smpp.password');
    (t.tenants[0] as Record<string, unknown>).smpp = { systemId: 'a-system-id-of-20-chars', password: { env: 'P' } };
    expect(errorOf(() => parseConfig(t, 'a.json')).message).toContain('tenants[0].smpp.systemId: must be 1-15 printable ASCII characters');
    const d = base();
    (d.tenants[0] as Record<string, unknown>).smpp = { systemId: 'shared', password: { env: 'P' } };
    d.tenants.push({ id: 'beta', apiKey: { env: 'B' }, smpp: { systemId: 'shared', password: { env: 'Q' } } } as (typeof d.tenants)[0]);
    expect(errorOf(() => parseConfig(d, 'a.json')).message).toContain('a.json: tenants[1].smpp.systemId: "shared" is already tenant "acme"\'s');
  });
});
