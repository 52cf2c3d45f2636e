/**
 * Keeps the events stream `ev` as short as its readers allow, and no shorter.
 *
 *   entries:  oldest ─────────────────────────────────────────────▶ newest
 *             [ trimmed ][ still needed by a consumer group ][ floor window ]
 *                        ▲ min(oldest pending, last delivered) over groups
 *                                                        ▲ now − floorSec
 *
 * Every status change is one entry; the analytics sink and the webhook
 * dispatcher read it with consumer groups, reconnecting WebSocket clients
 * resume from it by id. Trimming with MAXLEN alone (the state scripts' XADD
 * cap) drops entries a lagging group has not read — at 10,000 msg/s a cap of
 * 2 M entries was ~100 s of a ClickHouse outage. So, once a second, this trims
 * (XTRIM MINID ~) only what every group has read and acknowledged and what is
 * older than the floor window (kept for clients resuming by id). The XADD cap
 * (messages.statusRetention) stays as the hard bound on memory (~190 bytes an
 * entry): a group that lags by more than that loses entries, which is logged
 * and visible as switchyard_events_group_lag.
 */
import type { Redis } from 'ioredis';
import { compareStreamIds } from './redis-store.js';
import type { Keys } from './keys.js';

export interface EventsStreamStats {
  length: number;
  groups: Array<{ name: string; lag: number; pending: number }>;
  trims: number;
}

export interface EventsTrimmerOptions {
  /** Entries younger than this are kept whatever the groups have read (seconds). */
  readonly floorSec: number;
  /** The XADD cap (entries): lag beyond 80 % of it is warned about. */
  readonly cap: number;
  readonly intervalMs?: number;
}

type GroupInfo = Array<string | number | null>;

function field(info: GroupInfo, name: string): string | number | null | undefined {
  const i = info.indexOf(name);
  return i < 0 ? undefined : info[i + 1];
}

export class EventsTrimmer {
  readonly stats: EventsStreamStats = { length: 0, groups: [], trims: 0 };
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private lastWarn = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly o: EventsTrimmerOptions,
    private readonly log: (level: 'warn', msg: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.tick().then(
        () => (this.busy = false),
        () => (this.busy = false), // Redis away: the next tick tries again
      );
    }, this.o.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass: read the groups' positions, trim below the lowest, report lag. */
  async tick(): Promise<void> {
    const key = this.keys.events();
    const [[e1, len], [e2, infos]] = ((await this.redis.pipeline().xlen(key).xinfo('GROUPS', key).exec()) ?? [[null, 0], [null, []]]) as Array<[Error | null, unknown]>;
    if (e1 !== null) return; // no stream yet
    this.stats.length = Number(len);
    const groups = e2 === null && Array.isArray(infos) ? (infos as GroupInfo[]) : [];
    let min = `${Math.max(0, this.now() - this.o.floorSec * 1000)}-0`;
    const seen: EventsStreamStats['groups'] = [];
    for (const g of groups) {
      const name = String(field(g, 'name'));
      const pending = Number(field(g, 'pending') ?? 0);
      const lagRaw = field(g, 'lag');
      let need = String(field(g, 'last-delivered-id') ?? '0-0');
      if (pending > 0) {
        const oldest = (await this.redis.xpending(key, name, '-', '+', 1)) as Array<[string, ...unknown[]]>;
        const id = oldest[0]?.[0];
        if (id !== undefined && compareStreamIds(id, need) < 0) need = id;
      }
      if (compareStreamIds(need, min) < 0) min = need;
      const lag = lagRaw === null || lagRaw === undefined ? 0 : Number(lagRaw);
      seen.push({ name, lag: lag + pending, pending });
    }
    this.stats.groups = seen;
    const behind = seen.filter((g) => g.lag > 0.8 * this.o.cap);
    if (behind.length > 0 && this.now() - this.lastWarn > 60_000) {
      this.lastWarn = this.now();
      this.log('warn', `events stream: ${behind.map((g) => `group ${g.name} is ${g.lag} entries behind`).join(', ')}; beyond ${this.o.cap} entries (messages.statusRetention) the oldest are trimmed unread`);
    }
    if (min === '0-0') return;
    const removed = Number(await this.redis.xtrim(key, 'MINID', '~', min));
    if (removed > 0) this.stats.trims += removed;
  }
}
