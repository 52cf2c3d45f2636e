/**
 * Feeds the router's view of each SMSC (RouteHealth) from what the engine
 * sees: bind states and counters from the actors, queue lengths from Redis.
 * Runs once a second (and on every bind change the supervisor reports):
 *   up            any bind of the SMSC is bound, or none has been for less than
 *                 `routing.downAfterMs` (a bind flap does not turn traffic away:
 *                 messages wait in the queue meanwhile); at engine start an SMSC
 *                 is up until its binds had their first chance (every bind bound
 *                 or its first attempt failed, or the actor died), and only then
 *                 does the grace start. Counting it from the feed's creation
 *                 made a start on a busy machine (accept-path warm-up, worker
 *                 threads loading, the first bind) refuse thousands of submits
 *                 NO_ROUTE for an SMSC that was merely not bound yet.
 *   queue lag     entries in its queue streams, one per shard (waiting or in
 *                 flight; sent entries are deleted, so XLEN is exactly that)
 *   circuit       within `circuit.windowSec`, at least `circuit.errors` permanent
 *                 submit errors that are at least `circuit.errorRate` of the
 *                 submits open it for `circuit.openSec` (a share, not a count:
 *                 a busy route always has some refused numbers)
 *   delivery rate delivered / final receipts over `qualityWindowSec`, judged
 *                 only with at least `qualityMinReceipts` receipts
 * Counters restart from zero when an actor restarts; a counter that went
 * backwards is taken as a restart, never as a negative count.
 *
 * One view for the fleet (issue 14): with other live nodes (a FleetHealthPort,
 * their figures published with the fleet tick, engine/fleet/node-figures.ts),
 * an SMSC is up when bound on ANY live node, and the circuit and delivery rate
 * come from the fleet's sums: each node's counters are kept as a series of
 * their own (a restart of one is a reset of its series, not of the sum) and
 * the increases are added. Every node sees the same figures (a tick, ~1 s,
 * apart), so a message gets the same route and price whatever node accepts
 * it, and no node fails over traffic off an SMSC another node serves. A node
 * holding no bind slot of an SMSC (more nodes than binds) routes to it all the
 * same: its queue is shared.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import { perKey, type Reply } from '../redis/node-pipelines.js';
import type { Config } from '../../config/index.js';
import type { RouteHealth } from '../../router/index.js';
import type { ActorStats, BindState } from '../actors/messages.js';
import type { Keys } from '../queue/keys.js';
import type { FleetHealthPort } from '../fleet/node-figures.js';

interface Sample {
  readonly at: number;
  readonly submitted: number;
  readonly rejected: number;
  readonly delivered: number;
  readonly failed: number;
}

/** The samples covering [from, now]: the last one at or before `from` is the baseline. */
function since(samples: ReadonlyArray<Sample>, from: number): ReadonlyArray<Sample> {
  let i = samples.length - 1;
  while (i > 0 && (samples[i] as Sample).at > from) i--;
  return samples.slice(i);
}

/** Sums of a counter over the samples of a window, robust to counter resets. */
function increase(samples: ReadonlyArray<Sample>, pick: (s: Sample) => number): number {
  let sum = 0;
  for (let i = 1; i < samples.length; i++) {
    const d = pick(samples[i] as Sample) - pick(samples[i - 1] as Sample);
    sum += d >= 0 ? d : pick(samples[i] as Sample);
  }
  return sum;
}

/** This node's series in `samples` (other nodes by their node id). */
const SELF = '';

export class HealthFeed {
  /** SMSC → node ('' this one) → samples of its counters. */
  private readonly samples = new Map<string, Map<string, Sample[]>>();
  /** When each SMSC lost its last bind (0 while bound, and while starting). */
  private readonly unboundSince = new Map<string, number>();
  /** SMSCs whose binds have not had their first chance yet: up, their traffic waits in their queue. */
  private readonly starting = new Set<string>();

  constructor(
    private readonly health: RouteHealth,
    private readonly routing: Config['routing'],
    private readonly smscs: ReadonlyArray<{ readonly id: string }>,
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly now: () => number = Date.now,
    /** Told when an SMSC loses its last bound session or gets one back. */
    private readonly onBoundChange: (smsc: string, bound: boolean, why: string) => void = () => undefined,
    /** The other live nodes' published figures (undefined: a node alone). */
    private readonly fleet?: FleetHealthPort,
  ) {
    for (const s of smscs) {
      this.unboundSince.set(s.id, 0);
      this.starting.add(s.id);
    }
  }

  /** SMSCs whose binds have not had their first chance yet (/readyz is not ready while there are any). */
  get startingSmscs(): string[] {
    return [...this.starting];
  }

  /**
   * An SMSC's bind state. While it is starting it stays up until every bind is
   * bound or has failed its first attempt (or its actor stopped running); then
   * the down grace starts from that moment.
   */
  private observe(smsc: string, binds: ReadonlyArray<BindState> | undefined, running: boolean, now: number, why: string): void {
    const remote = this.boundElsewhere(smsc);
    const bound = (running && binds !== undefined && binds.some((b) => b.up)) || remote !== undefined;
    if (remote !== undefined && why !== 'binds') why = `bound on node ${remote}`;
    if (this.starting.has(smsc)) {
      if (!bound && running && (binds === undefined || !binds.every((b) => b.tried))) {
        this.health.setUp(smsc, true, 0);
        return;
      }
      this.starting.delete(smsc);
      if (bound) this.onBoundChange(smsc, true, why);
      else {
        this.unboundSince.set(smsc, now);
        this.onBoundChange(smsc, false, running ? 'first bind attempts failed' : why);
      }
    }
    this.setBound(smsc, bound, now, why);
  }

  private setBound(smsc: string, bound: boolean, now: number, why: string): void {
    const was = (this.unboundSince.get(smsc) ?? 0) === 0;
    if (bound) this.unboundSince.set(smsc, 0);
    else if (was) this.unboundSince.set(smsc, now);
    if (was !== bound) this.onBoundChange(smsc, bound, why);
    const since = this.unboundSince.get(smsc) as number;
    this.health.setUp(smsc, bound || now - since < this.routing.downAfterMs, since);
  }

  /** A live node other than this one with a bound session of the SMSC (undefined: none). */
  private boundElsewhere(smsc: string): string | undefined {
    if (this.fleet === undefined) return undefined;
    for (const [node, figs] of this.fleet.others()) if ((figs.get(smsc)?.bound ?? 0) > 0) return node;
    return undefined;
  }

  /** Adds one sample to a node's series of an SMSC and drops what every window has left behind. */
  private record(smsc: string, node: string, sample: Sample, keepFrom: number): void {
    let byNode = this.samples.get(smsc);
    if (byNode === undefined) this.samples.set(smsc, (byNode = new Map()));
    const list = byNode.get(node) ?? [];
    list.push(sample);
    // Keep one sample at or before the longest window's start as its baseline.
    while (list.length > 2 && (list[1] as Sample).at <= keepFrom) list.shift();
    byNode.set(node, list);
  }

  /** The fleet's increase of a counter over [from, now]: each node's series on its own, added. */
  private fleetIncrease(smsc: string, from: number, pick: (s: Sample) => number): number {
    let sum = 0;
    for (const list of this.samples.get(smsc)?.values() ?? []) sum += increase(since(list, from), pick);
    return sum;
  }

  /** Bind states and counters from the actors' latest stats (and the other live nodes' published figures). */
  applyStats(stats: ReadonlyArray<ActorStats>, running: (smsc: string) => boolean): void {
    const now = this.now();
    const keepFrom = now - Math.max(this.routing.qualityWindowSec, this.routing.circuit.windowSec) * 1000;
    const others = this.fleet?.others();
    if (others !== undefined) {
      for (const smsc of this.health.smscs) {
        // A node gone from the fleet: its series is dropped once its last sample is out of every window.
        const byNode = this.samples.get(smsc);
        for (const [node, list] of byNode ?? []) if (node !== SELF && !others.has(node) && (list[list.length - 1] as Sample).at <= keepFrom) byNode?.delete(node);
        for (const [node, figs] of others) {
          const f = figs.get(smsc);
          if (f !== undefined) this.record(smsc, node, { at: now, submitted: f.submitted, rejected: f.rejected, delivered: f.delivered, failed: f.failed }, keepFrom);
        }
      }
    }
    const seen = new Set<string>();
    for (const s of stats) {
      if (!this.health.index.has(s.smsc)) continue;
      seen.add(s.smsc);
      this.observe(s.smsc, s.binds, running(s.smsc), now, running(s.smsc) ? 'binds' : 'actor not running');
      this.record(s.smsc, SELF, { at: now, submitted: s.submitted, rejected: s.rejected, delivered: s.receiptsDelivered, failed: s.receiptsFailed }, keepFrom);

      const c = this.routing.circuit;
      const from = now - c.windowSec * 1000;
      const errors = this.fleetIncrease(s.smsc, from, (x) => x.rejected);
      const rate = errors / Math.max(1, errors + this.fleetIncrease(s.smsc, from, (x) => x.submitted));
      if (errors >= c.errors && rate >= c.errorRate && (this.health.circuitOpenUntil[this.health.index.get(s.smsc) as number] as number) <= now) {
        this.health.openCircuit(s.smsc, now + c.openSec * 1000);
        // The errors that opened it are spent: after openSec the SMSC gets traffic again (half-open).
        for (const [node, list] of this.samples.get(s.smsc) ?? []) this.samples.get(s.smsc)?.set(node, [list[list.length - 1] as Sample]);
      }
      const qFrom = now - this.routing.qualityWindowSec * 1000;
      const delivered = this.fleetIncrease(s.smsc, qFrom, (x) => x.delivered);
      const finals = delivered + this.fleetIncrease(s.smsc, qFrom, (x) => x.failed);
      this.health.setDeliveryRate(s.smsc, finals >= this.routing.qualityMinReceipts ? delivered / finals : NaN, finals);
    }
    // An SMSC without an actor reporting is not up (unless its actor is still starting: its first report is on its way).
    for (const id of this.health.smscs) if (!seen.has(id)) this.observe(id, undefined, running(id), now, 'no report from its actor');
  }

  /** One actor's bind state, as soon as it changes. */
  applyBinds(s: ActorStats, running: boolean): void {
    if (this.health.index.has(s.smsc)) this.observe(s.smsc, s.binds, running, this.now(), running ? 'bind change' : 'actor not running');
  }

  /**
   * Queue lengths from Redis: XLEN of each SMSC's S queue streams (one per
   * shard), one pipeline per master. A master that does not answer leaves its
   * SMSCs' last figures (a failover is no reason to route around them).
   */
  async refreshQueues(): Promise<void> {
    const shards = this.keys.shards.count;
    const res = await perKey(this.redis, this.smscs.flatMap((s) => this.keys.queuesOf(s.id)), (p, key) => p.xlen(key));
    let k = 0;
    for (const s of this.smscs) {
      let lag = 0;
      let complete = true;
      for (let i = 0; i < shards; i++) {
        const [err, n] = (res[k++] as Reply[])[0] as Reply;
        if (err !== null) complete = false;
        else lag += Number(n);
      }
      if (complete) this.health.setQueueLag(s.id, lag);
    }
  }
}
