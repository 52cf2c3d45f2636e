/**
 * Tenants as data: the tenant directory of one engine node. Tenants and their
 * API keys live in Redis (one slot, `{tn}`); every node holds a copy in
 * memory and applies a change within a second; the admin API and the CLI
 * change them through here, and every change is audited.
 *
 *   admin API / CLI ──▶ change(): compare-and-set in one script call
 *                        (record, version INCR, audit XADD, PUBLISH)
 *                                   │
 *        ┌──── PUBLISH {P}{tn}:changed (at once) ────┐
 *        ▼                                            ▼
 *     node A: reload                               node B: reload
 *        ▲  GET {P}{tn}:ver every second: a missed message (a subscriber
 *        └─ reconnecting, a cluster failover) is caught by the next poll
 *
 * Why both: pub/sub alone is fire and forget (a node whose subscriber was
 * reconnecting never hears of the change, and would serve a revoked key
 * forever); polling alone costs up to a second on every change. The version
 * GET is one tiny command a second per node. A reload reads the two hashes
 * whole (HGETALL): ~300 bytes a tenant, so 10,000 tenants are ~3 MB read
 * once per change, not per message; the hot path reads only the Maps.
 *
 * Keys:
 *   {P}{tn}:tenants  hash: tenant id -> TenantRecord JSON (tombstones for deleted ones)
 *   {P}{tn}:keys     hash: SHA-256 hex of an API key -> KeyRecord JSON (never the key)
 *   {P}{tn}:ver      version, bumped by every change
 *   {P}{tn}:audit    stream of changes (field e: JSON {at, who, action, tenant, key?, diff?}), capped
 *   {P}{tn}:changed  pub/sub channel (the new version)
 *
 * The config file's tenants are a seed (seed()): a tenant missing in Redis is
 * written from the file; one the file still describes as it was seeded is
 * updated when the file changed; one changed through the API (source 'api')
 * or deleted through it (a tombstone) is left as Redis has it, and the start
 * logs that the file's version was not applied. A config key ({env}/{file})
 * becomes the tenant's key "seed" (its hash), replaced when it changes.
 */
import { SwitchyardError } from '../errors.js';
import { defineLuaCommand, loadLuaScript, luaPath } from '../redis/lua-loader.js';
import type { RedisClient } from '../redis/connect-redis.js';
import type { Clock } from '../flow/clock.js';
import {
  keyHash, newApiKey, parseKeyRecord, parseTenantRecord, SEED_KEY_ID, settingsDiff,
  type KeyRecord, type TenantRecord, type TenantSettings,
} from './tenant-records.js';

const CHANGE = loadLuaScript(luaPath(import.meta.url, './lua/tenant-change.lua'));

/** How often the version is polled (ms): the bound on how late a node applies a change whose message it missed. */
export const POLL_MS = 1000;
/** Most entries kept in the audit stream (MAXLEN ~). */
export const AUDIT_MAX = 100_000;
/** Who made a change written from the config file. */
export const SEED_WHO = 'config seed';

export interface AuditEntry {
  readonly id: string;
  readonly at: number;
  readonly who: string;
  readonly action: 'create' | 'update' | 'suspend' | 'resume' | 'delete' | 'key-issue' | 'key-revoke';
  readonly tenant: string;
  readonly key?: { readonly id: string; readonly label: string; readonly expiresAt: number };
  /** Settings changed: path -> [before, after]; secrets masked. */
  readonly diff?: Record<string, [unknown, unknown]>;
}

/** A consistent view of the directory (replaced whole on every reload: readers hold no lock). */
export interface DirectorySnapshot {
  readonly version: number;
  /** Live tenants (no tombstones), by id. */
  readonly tenants: ReadonlyMap<string, TenantRecord>;
  /** API keys by their SHA-256 hex. */
  readonly keys: ReadonlyMap<string, KeyRecord>;
}

export interface TenantDirectoryOptions {
  readonly redis: RedisClient;
  /** A connection of its own for SUBSCRIBE (a subscribed connection can do nothing else). */
  readonly subscriber?: RedisClient;
  readonly prefix: string;
  readonly clock: Clock;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

type ChangeFn = (...keysThenArgs: Array<string | number>) => Promise<number>;

export class TenantDirectory {
  private snap: DirectorySnapshot = { version: -1, tenants: new Map(), keys: new Map() };
  private readonly listeners: Array<(now: DirectorySnapshot, before: DirectorySnapshot) => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private again = false;
  private readonly k: { tenants: string; keys: string; ver: string; audit: string; channel: string };
  /** Reloads applied (tests and /v1/status). */
  reloads = 0;

  constructor(private readonly o: TenantDirectoryOptions) {
    const p = `${o.prefix}{tn}:`;
    this.k = { tenants: `${p}tenants`, keys: `${p}keys`, ver: `${p}ver`, audit: `${p}audit`, channel: `${p}changed` };
    defineLuaCommand(o.redis as unknown as Parameters<typeof defineLuaCommand>[0], 'syTenantChange', CHANGE);
  }

  get snapshot(): DirectorySnapshot {
    return this.snap;
  }

  /** Called with the new and the previous snapshot after every reload that changed the version. */
  onChange(fn: (now: DirectorySnapshot, before: DirectorySnapshot) => void): void {
    this.listeners.push(fn);
  }

  /** Loads the directory, then follows changes (pub/sub and a poll of the version every second). */
  async start(): Promise<void> {
    await this.reload();
    const sub = this.o.subscriber;
    if (sub !== undefined) {
      sub.on('message', (channel: string) => {
        if (channel === this.k.channel) void this.reload();
      });
      await sub.subscribe(this.k.channel);
    }
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.reloading;
    this.o.subscriber?.disconnect();
  }

  private async poll(): Promise<void> {
    try {
      const v = Number((await this.o.redis.get(this.k.ver)) ?? 0);
      if (v !== this.snap.version) await this.reload();
    } catch (err) {
      this.o.log('warn', `tenant directory poll failed: ${(err as Error).message}`);
    }
  }

  /** Reads the whole directory and swaps it in; concurrent calls share one read and one more after it. */
  reload(): Promise<void> {
    if (this.reloading !== undefined) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.again = false;
          await this.readAll();
        } while (this.again);
      } catch (err) {
        this.o.log('warn', `tenant directory reload failed (the previous copy stays): ${(err as Error).message}`);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  private async readAll(): Promise<void> {
    // The version first: a change after it is read again by the next poll or message, never lost.
    const ver = Number((await this.o.redis.get(this.k.ver)) ?? 0);
    if (ver === this.snap.version) return;
    const [rawT, rawK] = await Promise.all([this.o.redis.hgetall(this.k.tenants), this.o.redis.hgetall(this.k.keys)]);
    const tenants = new Map<string, TenantRecord>();
    for (const [id, json] of Object.entries(rawT)) {
      const r = parseTenantRecord(json);
      if (r === undefined) this.o.log('error', `tenant ${id}: stored record unreadable; left out`);
      else if (r.deleted !== true) tenants.set(id, r);
    }
    const keys = new Map<string, KeyRecord>();
    for (const [h, json] of Object.entries(rawK)) {
      const r = parseKeyRecord(json);
      if (r !== undefined && r.revoked !== true && tenants.has(r.tenant)) keys.set(h, r);
    }
    const before = this.snap;
    this.snap = { version: ver, tenants, keys };
    this.reloads++;
    for (const fn of this.listeners) {
      try {
        fn(this.snap, before);
      } catch (err) {
        this.o.log('error', `applying tenant directory version ${ver} failed: ${(err as Error).stack ?? String(err)}`);
      }
    }
  }

  // ---- changes ----------------------------------------------------------------

  private async rawTenant(id: string): Promise<string> {
    return (await this.o.redis.hget(this.k.tenants, id)) ?? '';
  }

  /** One compare-and-set; CHANGE_CONFLICT when the field moved since it was read. Reloads this node at once. */
  private async change(hash: 't' | 'k', field: string, expect: string, value: string, audit: Omit<AuditEntry, 'id' | 'at'>, dropKeys: ReadonlyArray<string> = []): Promise<number> {
    const entry = JSON.stringify({ at: this.o.clock.now(), ...audit });
    const run = (this.o.redis as unknown as { syTenantChange: ChangeFn }).syTenantChange.bind(this.o.redis);
    const v = await run(this.k.tenants, this.k.keys, this.k.ver, this.k.audit, hash, field, expect, value, entry, AUDIT_MAX, this.k.channel, ...dropKeys);
    if (Number(v) < 0) throw new SwitchyardError('CHANGE_CONFLICT', `tenant ${audit.tenant} was changed by someone else meanwhile; read it again and retry`);
    await this.reload();
    return Number(v);
  }

  /** The live record of a tenant straight from Redis (undefined: none, or deleted). */
  private async current(id: string): Promise<{ raw: string; rec: TenantRecord | undefined }> {
    const raw = await this.rawTenant(id);
    const rec = raw === '' ? undefined : parseTenantRecord(raw);
    return { raw, rec: rec?.deleted === true ? undefined : rec };
  }

  async create(id: string, settings: TenantSettings, who: string): Promise<TenantRecord> {
    const { raw, rec } = await this.current(id);
    if (rec !== undefined) throw new SwitchyardError('TENANT_EXISTS', `tenant "${id}" exists; change it with PUT /v1/admin/tenants/${id}`);
    const now = this.o.clock.now();
    const next: TenantRecord = { id, settings, suspended: false, source: 'api', createdAt: now, updatedAt: now };
    await this.change('t', id, raw, JSON.stringify(next), { who, action: 'create', tenant: id, diff: settingsDiff({}, settings) });
    return next;
  }

  async update(id: string, settings: TenantSettings, who: string): Promise<TenantRecord> {
    const { raw, rec } = await this.current(id);
    if (rec === undefined) throw new SwitchyardError('NOT_FOUND', `no tenant "${id}"`);
    const next: TenantRecord = { ...rec, settings, source: 'api', updatedAt: this.o.clock.now() };
    await this.change('t', id, raw, JSON.stringify(next), { who, action: 'update', tenant: id, diff: settingsDiff(rec.settings, settings) });
    return next;
  }

  async setSuspended(id: string, suspended: boolean, who: string): Promise<TenantRecord> {
    const { raw, rec } = await this.current(id);
    if (rec === undefined) throw new SwitchyardError('NOT_FOUND', `no tenant "${id}"`);
    const next: TenantRecord = { ...rec, suspended, source: 'api', updatedAt: this.o.clock.now() };
    await this.change('t', id, raw, JSON.stringify(next), { who, action: suspended ? 'suspend' : 'resume', tenant: id, diff: { suspended: [rec.suspended, suspended] } });
    return next;
  }

  /** Deletes a tenant and its keys (a tombstone stays, so that a config seed does not bring it back). */
  async delete(id: string, who: string): Promise<void> {
    const { raw, rec } = await this.current(id);
    if (rec === undefined) throw new SwitchyardError('NOT_FOUND', `no tenant "${id}"`);
    const all = await this.o.redis.hgetall(this.k.keys);
    const drop = Object.entries(all).filter(([, j]) => parseKeyRecord(j)?.tenant === id).map(([h]) => h);
    const now = this.o.clock.now();
    const tomb: TenantRecord = { ...rec, suspended: true, source: 'api', updatedAt: now, deleted: true };
    await this.change('t', id, raw, JSON.stringify(tomb), { who, action: 'delete', tenant: id }, drop);
  }

  /** Issues a key: the key itself is returned here once and stored only as its hash. */
  async issueKey(tenant: string, label: string, expiresAt: number, who: string): Promise<{ key: string; record: KeyRecord }> {
    const { rec } = await this.current(tenant);
    if (rec === undefined) throw new SwitchyardError('NOT_FOUND', `no tenant "${tenant}"`);
    const { key, id } = newApiKey();
    const record: KeyRecord = { id, tenant, label, createdAt: this.o.clock.now(), expiresAt, by: who };
    await this.change('k', keyHash(key), '', JSON.stringify(record), { who, action: 'key-issue', tenant, key: { id, label, expiresAt } });
    return { key, record };
  }

  /** The tenant's keys (without hashes: nothing a key could be derived from). */
  async listKeys(tenant: string): Promise<KeyRecord[]> {
    const all = await this.o.redis.hgetall(this.k.keys);
    return Object.values(all).map(parseKeyRecord).filter((r): r is KeyRecord => r?.tenant === tenant && r.revoked !== true).sort((a, b) => a.createdAt - b.createdAt);
  }

  async revokeKey(tenant: string, keyId: string, who: string): Promise<KeyRecord> {
    const all = await this.o.redis.hgetall(this.k.keys);
    for (const [h, json] of Object.entries(all)) {
      const r = parseKeyRecord(json);
      if (r?.tenant !== tenant || r.id !== keyId || r.revoked === true) continue;
      // A config-file key stays as a revoked record: the next start's seed must not bring it back.
      await this.change('k', h, json, r.id === SEED_KEY_ID ? JSON.stringify({ ...r, revoked: true }) : '', { who, action: 'key-revoke', tenant, key: { id: r.id, label: r.label, expiresAt: r.expiresAt } });
      return r;
    }
    throw new SwitchyardError('NOT_FOUND', `tenant "${tenant}" has no key "${keyId}"`);
  }

  /** The audit log, newest first: at most `limit` entries, of one tenant if given, before stream id `before`. */
  async audit(o: { limit: number; tenant?: string | undefined; before?: string | undefined }): Promise<{ entries: AuditEntry[]; next: string | null }> {
    const out: AuditEntry[] = [];
    let end = o.before === undefined ? '+' : `(${o.before}`;
    for (let pages = 0; pages < 50 && out.length < o.limit; pages++) {
      const rows = (await this.o.redis.xrevrange(this.k.audit, end, '-', 'COUNT', 500)) as Array<[string, string[]]>;
      if (rows.length === 0) return { entries: out, next: null };
      for (const [id, fields] of rows) {
        end = `(${id}`;
        const e = JSON.parse(fields[fields.indexOf('e') + 1] ?? '{}') as Omit<AuditEntry, 'id'>;
        if (o.tenant !== undefined && e.tenant !== o.tenant) continue;
        out.push({ id, ...e });
        if (out.length >= o.limit) return { entries: out, next: id };
      }
    }
    return { entries: out, next: out.length > 0 ? (out[out.length - 1] as AuditEntry).id : null };
  }

  // ---- the config file as a seed -----------------------------------------------

  /**
   * Writes the config file's tenants to Redis as described in the header:
   * missing ones created, seeded ones updated when the file changed them, ones
   * changed or deleted through the API left alone (reported in `kept`).
   * `keys` are the config keys (resolved secrets) by tenant id.
   */
  async seed(tenants: ReadonlyArray<{ readonly id: string; readonly settings: TenantSettings; readonly key: string }>): Promise<{ written: string[]; kept: string[] }> {
    const written: string[] = [];
    const kept: string[] = [];
    for (const t of tenants) {
      // Nodes starting together seed together: a lost compare-and-set is read again (once is enough:
      // the other node wrote the same file's version).
      try {
        await this.seedOne(t, written, kept);
      } catch (err) {
        if (!(err instanceof SwitchyardError && err.code === 'CHANGE_CONFLICT')) throw err;
        await this.seedOne(t, written, kept);
      }
    }
    if (kept.length > 0) this.o.log('warn', `config tenants not applied, Redis has them as changed or deleted through the admin API (it wins; see README "Tenants as data"): ${kept.join(', ')}`);
    return { written, kept };
  }

  private async seedOne(t: { readonly id: string; readonly settings: TenantSettings; readonly key: string }, written: string[], kept: string[]): Promise<void> {
    {
      const { raw, rec } = await this.current(t.id);
      const dead = raw !== '' && rec === undefined;
      if (dead || (rec !== undefined && rec.source === 'api')) {
        if (dead || JSON.stringify(rec?.settings) !== JSON.stringify(t.settings)) kept.push(t.id);
      } else if (rec === undefined || JSON.stringify(rec.settings) !== JSON.stringify(t.settings)) {
        const now = this.o.clock.now();
        const next: TenantRecord = { id: t.id, settings: t.settings, suspended: rec?.suspended ?? false, source: 'seed', createdAt: rec?.createdAt ?? now, updatedAt: now };
        await this.change('t', t.id, raw, JSON.stringify(next), { who: SEED_WHO, action: rec === undefined ? 'create' : 'update', tenant: t.id, diff: settingsDiff(rec?.settings ?? {}, t.settings) });
        written.push(t.id);
      }
      if (dead) return;
      // The config key: record "seed" of the tenant, replaced when the key changed.
      const h = keyHash(t.key);
      const all = await this.o.redis.hgetall(this.k.keys);
      if (all[h] !== undefined) return;
      for (const [oh, json] of Object.entries(all)) {
        const r = parseKeyRecord(json);
        if (r?.tenant === t.id && r.id === SEED_KEY_ID) await this.change('k', oh, json, '', { who: SEED_WHO, action: 'key-revoke', tenant: t.id, key: { id: r.id, label: r.label, expiresAt: 0 } });
      }
      const record: KeyRecord = { id: SEED_KEY_ID, tenant: t.id, label: SEED_WHO, createdAt: this.o.clock.now(), expiresAt: 0, by: SEED_WHO };
      await this.change('k', h, '', JSON.stringify(record), { who: SEED_WHO, action: 'key-issue', tenant: t.id, key: { id: SEED_KEY_ID, label: SEED_WHO, expiresAt: 0 } });
    }
  }
}
