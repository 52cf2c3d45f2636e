/**
 * Analytics migrations run once per fleet: the analytics process takes a
 * Redis lock ({P}{c}:an:migrate) around `migrate()`; a node that finds it
 * taken waits until it is free, then runs `migrate()` itself, which finds the
 * versions applied (switchyard_migrations) and does nothing. Without it, two
 * nodes starting on one ClickHouse server would both run a migration's
 * backfill INSERT and count its rows twice.
 *
 * The lock lasts LOCK_TTL_MS and is renewed every third of it while the
 * migration runs; a holder that died frees it within LOCK_TTL_MS.
 */
import { randomBytes } from 'node:crypto';
import { loadLuaScript, luaPath } from '../redis/lua-loader.js';

export const MIGRATION_LOCK = loadLuaScript(luaPath(import.meta.url, './lua/migration-lock.lua'));

export const LOCK_TTL_MS = 15_000;

export interface LockRedis {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<'OK' | null>;
  eval(script: string, numberOfKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

/**
 * Runs `fn` while holding the lock; waits (polling every `pollMs`) while
 * another holds it. Resolves with fn's result.
 */
export async function withMigrationLock<T>(redis: LockRedis, key: string, fn: () => Promise<T>, o: { ttlMs?: number; pollMs?: number } = {}): Promise<T> {
  const ttl = o.ttlMs ?? LOCK_TTL_MS;
  const token = randomBytes(12).toString('hex');
  while ((await redis.set(key, token, 'PX', ttl, 'NX')) !== 'OK') await new Promise((ok) => setTimeout(ok, o.pollMs ?? 250));
  const renew = setInterval(() => void redis.eval(MIGRATION_LOCK.lua, 1, key, 'renew', token, ttl).catch(() => undefined), Math.floor(ttl / 3));
  try {
    return await fn();
  } finally {
    clearInterval(renew);
    await redis.eval(MIGRATION_LOCK.lua, 1, key, 'release', token, ttl).catch(() => undefined);
  }
}
