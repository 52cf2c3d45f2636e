/**
 * Result codes of the Lua scripts, named once for both sides: TypeScript
 * compares against these objects and the scripts return the same names, each
 * group from its generated fragment (`--- @include "@ReceiptResult"`, built by
 * scriptCodeFragments), e.g. `return ReceiptResult.Applied` in Lua and
 * `r === ReceiptResult.Applied` in TypeScript. No bare 1, 2, 4 on either side.
 * A script includes only the groups it uses: each is one small table built
 * per call.
 */
import { luaConstants } from '../redis/lua-loader.js';

/**
 * A receipt (lookup.lua + receipts.lua) or a part state applied by `apply`
 * (common.lua). Early: no mapping yet, kept for its submit (link.lua); Parked:
 * mapped, but its part's submit not yet recorded, kept in the hash for
 * submitted.lua. Both are recorded: the deliver_sm is answered.
 */
export const ReceiptResult = { Applied: 1, Early: 2, Duplicate: 3, Gone: 4, Parked: 5 } as const;
export type ReceiptResult = (typeof ReceiptResult)[keyof typeof ReceiptResult];

/**
 * Where the enqueue script put a message (one character per message), or
 * Recheck: the whole section was refused, its opt-out pre-check too old.
 * Repeat / Conflict (idempotency keys): the key names an earlier message with
 * the same body (nothing written; the original is returned) or another body.
 */
export const EnqueueCode = { Queued: 'q', Stopped: 's', Held: 'h', Paused: 'p', Scheduled: 'd', Recheck: 'r', Repeat: 'u', Conflict: 'c' } as const;
export type EnqueueCode = (typeof EnqueueCode)[keyof typeof EnqueueCode];

/** A cancel, per item. */
export const CancelOutcome = { Stopped: 'S', NotCancellable: 'C', NotFound: 'N' } as const;
export type CancelOutcome = (typeof CancelOutcome)[keyof typeof CancelOutcome];

/** An entry an actor held back (parking/divert.lua). */
export const DivertResult = { Send: 0, Parked: 1, Stopped: 2 } as const;
export type DivertResult = (typeof DivertResult)[keyof typeof DivertResult];

/** A held message's approval (parking/approve.lua). */
export const ApproveResult = { NotHeld: 0, Queued: 1, Stopped: 2, Paused: 3, Scheduled: 4 } as const;
export type ApproveResult = (typeof ApproveResult)[keyof typeof ApproveResult];

/** A held message's rejection (parking/reject.lua). */
export const RejectResult = { NotHeld: 0, Rejected: 1 } as const;
export type RejectResult = (typeof RejectResult)[keyof typeof RejectResult];

/** parking/unpark.lua when the tenant is paused again (instead of {moved, scanned}). */
export const UnparkResult = { PausedAgain: -1 } as const;

/** An MO item (mo/mo.lua): a part stored to wait for the rest, or a whole message recorded. */
export const MoResult = { PartStored: 0, Recorded: 1 } as const;
export type MoResult = (typeof MoResult)[keyof typeof MoResult];

/** Every group above. */
export const SCRIPT_CODES = { ReceiptResult, EnqueueCode, CancelOutcome, DivertResult, ApproveResult, RejectResult, UnparkResult, MoResult } as const;

/** The generated Lua fragments, one per group: `@ReceiptResult` defines `local ReceiptResult = { Applied = 1, ... }`. */
export function scriptCodeFragments(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, group] of Object.entries(SCRIPT_CODES)) out[name] = luaConstants({ [name]: group }, 'engine/queue/script-codes.ts');
  return out;
}
