/**
 * The Lua scripts that change message state, loaded from their files in
 * engine/queue/lua/ (each file's header names its KEYS and ARGV; the state
 * machine they share, `apply`, `emit`, billing, is lua/includes/common.lua).
 * Each is batched: one EVALSHA carries every item an actor produced in one
 * tick (STYLE.md "batch per tick"), and each state change (part status, DLR
 * mapping, XACK, event) is atomic.
 *
 * Generated fragments every state script may include (STATE_FRAGMENTS):
 *   @message-fields   hm(mkey, part) and F, the field indexes (message-fields.ts)
 *   @ReceiptResult, @EnqueueCode, ...   result codes with their TypeScript names (script-codes.ts)
 *
 * Every script works in sections, one per shard (lua/includes/sections.lua,
 * sections.ts): each declares every key it touches in KEYS, and a batch is
 * one call on a single Redis and one call per shard on a Redis Cluster.
 * On a Redis Cluster a submit_sm_resp is recorded in two steps, link.lua (the
 * receipt mapping, in the shard of the SMSC's message id) then submitted.lua
 * (the message's shard); a receipt in two, lookup.lua then receipts.lua. Each
 * step is idempotent (README "Redis Cluster", receipts across slots). On a
 * single Redis, where one script may span slots, link-submitted.lua does both
 * submit steps in one call and lookup-receipts.lua both receipt steps.
 */
import { loadLuaScript, luaPath, type LuaScript } from '../redis/lua-loader.js';
import { messageFieldsLua } from './message-fields.js';
import { scriptCodeFragments } from './script-codes.js';

/** Generated Lua fragments shared by the state scripts (queue/, parking/, optout/, mo/). */
export const STATE_FRAGMENTS: Readonly<Record<string, string>> = Object.freeze({ 'message-fields': messageFieldsLua(), ...scriptCodeFragments() });

/**
 * Loads a state script given relative to the calling module (`import.meta.url`),
 * with STATE_FRAGMENTS and any fragments of the caller's own.
 */
export function loadStateScript(callerUrl: string, relative: string, extra: Readonly<Record<string, string>> = {}): LuaScript {
  return loadLuaScript(luaPath(callerUrl, relative), { ...STATE_FRAGMENTS, ...extra });
}

export const LINK = loadStateScript(import.meta.url, './lua/link.lua');
export const SUBMITTED = loadStateScript(import.meta.url, './lua/submitted.lua');
export const LINK_SUBMITTED = loadStateScript(import.meta.url, './lua/link-submitted.lua');
export const FAILED = loadStateScript(import.meta.url, './lua/failed.lua');
export const LOOKUP = loadStateScript(import.meta.url, './lua/lookup.lua');
export const RECEIPTS = loadStateScript(import.meta.url, './lua/receipts.lua');
export const LOOKUP_RECEIPTS = loadStateScript(import.meta.url, './lua/lookup-receipts.lua');
export const SWEEP = loadStateScript(import.meta.url, './lua/sweep.lua');
export const ENQUEUE = loadStateScript(import.meta.url, './lua/enqueue.lua');
export const MOVE = loadStateScript(import.meta.url, './lua/move.lua');

// The scripts' texts (as sent to Redis; the benchmarks name EVALSHA calls by their SHA-1).
export const LINK_LUA = LINK.lua;
export const SUBMITTED_LUA = SUBMITTED.lua;
export const LINK_SUBMITTED_LUA = LINK_SUBMITTED.lua;
export const LOOKUP_LUA = LOOKUP.lua;
export const FAILED_LUA = FAILED.lua;
export const RECEIPTS_LUA = RECEIPTS.lua;
export const LOOKUP_RECEIPTS_LUA = LOOKUP_RECEIPTS.lua;
export const SWEEP_LUA = SWEEP.lua;
export const ENQUEUE_LUA = ENQUEUE.lua;
export const MOVE_LUA = MOVE.lua;
