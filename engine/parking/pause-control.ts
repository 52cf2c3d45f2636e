/**
 * The main thread's side of pausing tenants and of the waiting streams:
 *
 * - pause(T): adds T to the paused set (new messages are parked by the
 *   enqueue script from then on) and waits until every operator actor has
 *   confirmed the new set, or its view of the set has expired (parking-store.ts,
 *   "Pause handshake"). When it resolves, no actor starts a submit_sm for T.
 * - resume(T): removes T from the set, then moves T's parked parts back to
 *   their SMSC queues in batches (`queued` again).
 * - a tick every second moves back what is parked for tenants that are not
 *   paused (a resume interrupted by a restart, entries parked by an actor
 *   that had not seen the resume yet: parking re-checks the set, so these
 *   are only what it parked before), and every 30 s drops entries of the
 *   hold and park streams whose message ended meanwhile (expired).
 */
import type { Redis } from 'ioredis';
import type { ParkingStore } from './parking-store.js';

const MOVE_BATCH = 1000;
const HANDSHAKE_POLL_MS = 25;
const REAP_EVERY_MS = 30_000;
const REAP_BATCH = 2000;

export interface PauseResult {
  readonly tenant: string;
  readonly paused: boolean;
  /** Actors that confirmed the change (node:smsc). */
  readonly confirmed: string[];
  /** Parked parts waiting (pause) or moved back so far (resume). */
  readonly parked: number;
}

export class PauseControl {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** Tenants whose resume() is under way: the tick leaves their parked parts to it (it moved them
   * first while resume() waited for the actors, and the answer said `parked: 0`). */
  private readonly resuming = new Map<string, number>();
  private lastReap = 0;
  private readonly reapCursor = new Map<string, string>();
  moved = 0;

  constructor(
    private readonly store: ParkingStore,
    private readonly redis: Redis,
    private readonly tenants: ReadonlyArray<string>,
    private readonly log: (level: 'warn', msg: string) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async pause(tenant: string): Promise<PauseResult> {
    const { version } = await this.store.setPaused(tenant, true);
    const confirmed = await this.confirmed(version, '0-0');
    return { tenant, paused: true, confirmed, parked: await this.redis.xlen(this.store.keys.park(tenant)) };
  }

  /**
   * Waits until no actor sends on a view older than paused-set `version` and
   * opt-out change `optOutEid`: each has confirmed both, or its view expired.
   * Returns the actors that confirmed.
   */
  async confirmed(version: number, optOutEid: string, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { confirmed, waiting } = await this.store.pauseCheck(version, optOutEid);
      if (waiting.length === 0) return confirmed;
      // Cannot happen while actors poll: a silent one's view expires within SELF_STOP_MS.
      if (Date.now() > deadline) throw new Error(`actors ${waiting.join(', ')} did not confirm within ${timeoutMs} ms`);
      await new Promise((ok) => setTimeout(ok, HANDSHAKE_POLL_MS));
    }
  }

  async resume(tenant: string): Promise<PauseResult> {
    this.resuming.set(tenant, (this.resuming.get(tenant) ?? 0) + 1);
    try {
      const { version } = await this.store.setPaused(tenant, false);
      // Actors stop holding the tenant's entries back before its parked ones return (no pointless re-checks).
      const confirmed = await this.confirmed(version, '0-0');
      const parked = await this.moveBack(tenant);
      return { tenant, paused: false, confirmed, parked };
    } finally {
      const n = (this.resuming.get(tenant) ?? 1) - 1;
      if (n > 0) this.resuming.set(tenant, n);
      else this.resuming.delete(tenant);
    }
  }

  async isPaused(tenant: string): Promise<boolean> {
    return (await this.redis.sismember(this.store.keys.paused(), tenant)) === 1;
  }

  /** Moves a tenant's parked parts back until none are left (or it is paused again). */
  private async moveBack(tenant: string): Promise<number> {
    let moved = 0;
    for (;;) {
      const r = await this.store.unpark(tenant, MOVE_BATCH);
      if (r === undefined) break;
      moved += r.moved;
      this.moved += r.moved;
      if (r.scanned < MOVE_BATCH) break;
    }
    return moved;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const p = this.redis.pipeline();
      p.smembers(this.store.keys.paused());
      for (const t of this.tenants) p.xlen(this.store.keys.park(t));
      const res = (await p.exec()) ?? [];
      const paused = new Set((res[0]?.[1] as string[] | undefined) ?? []);
      for (let i = 0; i < this.tenants.length; i++) {
        const t = this.tenants[i] as string;
        if (!paused.has(t) && !this.resuming.has(t) && Number(res[i + 1]?.[1] ?? 0) > 0) await this.moveBack(t);
      }
      if (Date.now() - this.lastReap >= REAP_EVERY_MS) {
        this.lastReap = Date.now();
        for (const t of this.tenants) {
          for (const [key, kind] of [[this.store.keys.hold(t), 'hold'], [this.store.keys.park(t), 'park']] as const) {
            const r = await this.store.reap(key, this.reapCursor.get(key) ?? '0-0', REAP_BATCH, kind);
            this.reapCursor.set(key, r.last);
          }
        }
      }
    } catch (err) {
      this.log('warn', `parking tick failed: ${(err as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }
}
