/**
 * The main thread's side of pausing tenants and of the waiting streams:
 *
 * - pause(T): adds T to the paused set (new messages are parked by the
 *   enqueue script from then on) and waits until every operator actor has
 *   confirmed the new set, or its view of the set has expired (parking-store.ts,
 *   "Pause handshake"). When it resolves, no actor starts a submit_sm for T.
 * - resume(T): removes T from the set, then moves T's parked parts back to
 *   their SMSC queues in batches (`queued` again).
 * - a tick every 5 s moves back what is parked, in any shard, for tenants
 *   that are not paused (a resume interrupted by a restart: every park
 *   re-checks the shard's copy of the paused set, which a resume clears
 *   before it moves anything back), and every 30 s drops entries of the hold
 *   and park streams whose message ended meanwhile (expired) and writes the
 *   paused set into the shards' copies again (a pause or resume interrupted
 *   between its two steps; also at start).
 */
import type { ParkingStore, ReapStream } from './parking-store.js';

const MOVE_BATCH = 1000;
const HANDSHAKE_POLL_MS = 25;
/** Leftover parked parts are looked for this often (ms): S × tenants XLENs. */
const LEFTOVER_EVERY_MS = 5_000;
/** Entries of ended messages are reaped, and the shards' paused-set copies repaired, this often (ms). */
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
  private lastLeftover = 0;
  private readonly reapCursor = new Map<string, string>();
  moved = 0;

  constructor(
    private readonly store: ParkingStore,
    private readonly tenants: ReadonlyArray<string>,
    private readonly log: (level: 'warn', msg: string) => void,
  ) {}

  start(): void {
    this.store.repairCopies().catch((err: Error) => this.log('warn', `repairing the paused-set copies failed: ${err.message}`));
    this.timer = setInterval(() => void this.tick(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async pause(tenant: string): Promise<PauseResult> {
    const { version } = await this.store.setPaused(tenant, true);
    const confirmed = await this.confirmed(version, '0-0');
    return { tenant, paused: true, confirmed, parked: await this.store.parkedCount(tenant) };
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

  isPaused(tenant: string): Promise<boolean> {
    return this.store.isPaused(tenant);
  }

  /** Parts of the tenant parked now (every shard). */
  parked(tenant: string): Promise<number> {
    return this.store.parkedCount(tenant);
  }

  /** Moves a tenant's parked parts back until none are left (or it is paused again). */
  private async moveBack(tenant: string): Promise<number> {
    let moved = 0;
    for (;;) {
      const r = await this.store.unpark(tenant, MOVE_BATCH);
      if (r === undefined) break;
      moved += r.moved;
      this.moved += r.moved;
      if (!r.more) break;
    }
    return moved;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = Date.now();
      if (now - this.lastLeftover >= LEFTOVER_EVERY_MS) {
        this.lastLeftover = now;
        const paused = new Set(await this.store.pausedTenants());
        const parked = await this.store.parkedCounts(this.tenants);
        for (let i = 0; i < this.tenants.length; i++) {
          const t = this.tenants[i] as string;
          if (!paused.has(t) && !this.resuming.has(t) && (parked[i] as number) > 0) await this.moveBack(t);
        }
      }
      if (now - this.lastReap >= REAP_EVERY_MS) {
        this.lastReap = now;
        await this.store.repairCopies();
        // Every tenant's hold and park stream of every shard: one call on a single Redis.
        const streams: ReapStream[] = [];
        for (const tenant of this.tenants) {
          for (const shard of this.store.keys.shards.all()) {
            for (const kind of ['hold', 'park'] as const) streams.push({ shard, tenant, kind, after: this.reapCursor.get(`${kind}:${shard}:${tenant}`) ?? '0-0' });
          }
        }
        const res = await this.store.reap(streams, REAP_BATCH);
        streams.forEach((r, i) => this.reapCursor.set(`${r.kind}:${r.shard}:${r.tenant}`, res[i]?.last ?? '0-0'));
      }
    } catch (err) {
      this.log('warn', `parking tick failed: ${(err as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }
}
