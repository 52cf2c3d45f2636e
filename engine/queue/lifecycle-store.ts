/**
 * The Redis adapter for the lifecycle scripts (lifecycle-scripts.ts): moving
 * due scheduled messages and cancelling, each one EVALSHA per batch.
 */
import type { Redis } from 'ioredis';
import { defineLuaCommand } from '../redis/lua-loader.js';
import { GROUP, type Keys } from './keys.js';
import { CANCEL, SCHEDULE } from './lifecycle-scripts.js';
import type { StoreLimits } from './redis-store.js';
import { CancelOutcome } from './script-codes.js';

export type CancelCode = 'stopped' | 'not_cancellable' | 'not_found';

export interface CancelResult {
  readonly code: CancelCode;
  /** The message's status (for not_cancellable: why; for stopped: "stopped"). */
  readonly status: string;
}

interface LifecycleScripted {
  sySchedule(...args: Array<string | number>): Promise<[number, number, number, number]>;
  syCancel(...args: string[]): Promise<string[]>;
}

const CODE: Readonly<Record<CancelOutcome, CancelCode>> = {
  [CancelOutcome.Stopped]: 'stopped',
  [CancelOutcome.NotCancellable]: 'not_cancellable',
  [CancelOutcome.NotFound]: 'not_found',
};

export class LifecycleStore {
  constructor(
    private readonly redis: Redis,
    readonly keys: Keys,
    private readonly limits: StoreLimits,
  ) {
    defineLuaCommand(redis, 'sySchedule', SCHEDULE);
    defineLuaCommand(redis, 'syCancel', CANCEL);
  }

  /** Moves up to `limit` due scheduled messages onto their queues (or ends them expired, or stopped when opted out). */
  async moveDue(now: number, limit: number): Promise<{ moved: number; expired: number; taken: number; stopped: number }> {
    const [moved, expired, taken, stopped] = await (this.redis as unknown as LifecycleScripted).sySchedule(this.keys.prefix, now, this.limits.eventsMaxLen, this.limits.finalRetentionSec, limit);
    return { moved, expired, taken, stopped };
  }

  /** Cancels messages, one result per item in order. */
  async cancel(items: ReadonlyArray<{ tenant: string; id: string }>, now: number): Promise<CancelResult[]> {
    const args: string[] = [this.keys.prefix, String(now), String(this.limits.eventsMaxLen), String(this.limits.finalRetentionSec), GROUP];
    for (const it of items) args.push(it.tenant, it.id);
    const flat = await (this.redis as unknown as LifecycleScripted).syCancel(...args);
    const out: CancelResult[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ code: CODE[flat[i] as CancelOutcome] ?? 'not_found', status: flat[i + 1] ?? '' });
    return out;
  }
}
