/**
 * The Lua scripts of a message's life before it is sent, loaded from
 * engine/queue/lua/: moving scheduled messages onto their SMSC queues when due
 * (schedule.lua), and cancelling (cancel.lua). They share the state machine of
 * lua/includes/common.lua (hash fields, `emit`, `apply`).
 *
 * Both are atomic, which is what makes them safe with several engine nodes
 * and across restarts: a due message leaves the schedule (ZREM) in the same
 * script that writes its stream entries, so two schedulers can never both
 * move it, and a crash leaves it either scheduled or queued, never both.
 * A cancel deletes stream entries only if no consumer has read them (ids after
 * the group's last-delivered id), so a cancelled message never reaches an SMSC
 * and a message an actor already holds is refused, never half-cancelled.
 */
import { loadStateScript } from './lua-scripts.js';

export const SCHEDULE = loadStateScript(import.meta.url, './lua/schedule.lua');
export const CANCEL = loadStateScript(import.meta.url, './lua/cancel.lua');

export const SCHEDULE_LUA = SCHEDULE.lua;
export const CANCEL_LUA = CANCEL.lua;
