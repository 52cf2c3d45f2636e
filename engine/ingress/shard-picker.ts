/**
 * Which shard a newly accepted message goes to (issue 13; queue/shards.ts).
 * The ingress fills one shard per tick, so that a tick's enqueue is one
 * section (one script call on a cluster), and moves round-robin to the next
 * shard every tick and after FILL messages in one tick, so that load spreads
 * evenly over the shards (and the masters) whatever the traffic mix: no
 * tenant, number or SMSC decides a shard. Each node starts at a random shard,
 * so that several nodes do not fill the same shard in step.
 *
 *   tick 1: s5 s5 … (64) s6 s6 …   tick 2: s7 …   tick 3: s8 …
 */
import { randomInt } from 'node:crypto';

/** Messages one tick puts in a shard before moving to the next (a bigger tick spans shards). */
export const FILL = 64;

export class ShardPicker {
  private current: number;
  private used = 0;
  private armed = false;

  constructor(
    readonly count: number,
    start = randomInt(count),
  ) {
    this.current = start % count;
  }

  /** The shard of the next message accepted. */
  next(): number {
    if (this.used >= FILL) this.advance();
    if (!this.armed) {
      this.armed = true;
      // The next tick starts a new shard.
      setImmediate(this.newTick);
    }
    this.used++;
    return this.current;
  }

  private advance(): void {
    this.current = (this.current + 1) % this.count;
    this.used = 0;
  }

  private readonly newTick = (): void => {
    this.armed = false;
    if (this.used > 0) this.advance();
  };
}
