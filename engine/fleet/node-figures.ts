/**
 * What a node publishes with its fleet tick (Fleet.publish: one JSON string
 * per node, returned to every node with the fleet view), and the others'
 * figures read back. Named parts, so features publish side by side:
 *
 *   {"h":{"<smsc>":[boundBinds, submitted, rejected, delivered, failed], …}}
 *      h  SMSC health (routing/health-feed.ts sums it over the live nodes):
 *         binds bound now and the actor's cumulative counters since it started
 *         (they restart from 0 with the actor or the node; the feed takes a
 *         counter that went back as a restart)
 *
 * A part a node does not know is ignored; a node whose figures cannot be read
 * counts as publishing nothing (an older or newer node in a rolling upgrade).
 */
import type { Fleet, FleetView } from './fleet.js';

/** One SMSC's figures as a node publishes them. */
export interface SmscFigures {
  readonly bound: number;
  readonly submitted: number;
  readonly rejected: number;
  readonly delivered: number;
  readonly failed: number;
}

type HealthPart = Record<string, [number, number, number, number, number]>;

/** Reads one node's published health part; an unreadable one is empty. */
export function parseHealth(figures: string): ReadonlyMap<string, SmscFigures> {
  const out = new Map<string, SmscFigures>();
  if (figures === '') return out;
  let h: unknown;
  try {
    h = (JSON.parse(figures) as { h?: unknown }).h;
  } catch {
    return out;
  }
  if (typeof h !== 'object' || h === null) return out;
  for (const [smsc, v] of Object.entries(h as Record<string, unknown>)) {
    if (!Array.isArray(v) || v.length < 5 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) continue;
    const [bound, submitted, rejected, delivered, failed] = v as number[];
    out.set(smsc, { bound: bound as number, submitted: submitted as number, rejected: rejected as number, delivered: delivered as number, failed: failed as number });
  }
  return out;
}

/** The other live nodes' SMSC health, as of the last tick. */
export interface FleetHealthPort {
  /** Node id → its SMSCs' figures (this node excluded). */
  others(): ReadonlyMap<string, ReadonlyMap<string, SmscFigures>>;
}

/**
 * Publishes this node's parts and keeps the others' health as of each tick
 * (parsed once per tick, not per routing decision).
 */
export class NodeFigures implements FleetHealthPort {
  private readonly parts: Record<string, unknown> = {};
  private view: ReadonlyMap<string, ReadonlyMap<string, SmscFigures>> = new Map();
  private live = 1;

  constructor(private readonly fleet: Fleet) {
    // The view of the tick Fleet.start ran, then every tick's.
    this.onTick(fleet.lastView);
    fleet.onTick((v) => this.onTick(v));
  }

  /** Sets one part; the whole goes out with the next tick. */
  set(part: string, value: unknown): void {
    this.parts[part] = value;
    this.fleet.publish(JSON.stringify(this.parts));
  }

  /** This node's health part, from its actors' stats. */
  setHealth(stats: ReadonlyArray<{ smsc: string; binds: ReadonlyArray<{ up: boolean }>; submitted: number; rejected: number; receiptsDelivered: number; receiptsFailed: number }>): void {
    const h: HealthPart = {};
    for (const s of stats) h[s.smsc] = [s.binds.filter((b) => b.up).length, s.submitted, s.rejected, s.receiptsDelivered, s.receiptsFailed];
    this.set('h', h);
  }

  others(): ReadonlyMap<string, ReadonlyMap<string, SmscFigures>> {
    return this.view;
  }

  /** Live nodes at the last tick, this one included (at least 1). */
  get liveNodes(): number {
    return this.live;
  }

  private onTick(v: FleetView): void {
    const m = new Map<string, ReadonlyMap<string, SmscFigures>>();
    let live = 0;
    for (const n of v.nodes) {
      if (n.expiresAtMs <= v.redisNowMs) continue;
      live++;
      if (!n.self) m.set(n.id, parseHealth(n.figures));
    }
    this.view = m;
    this.live = Math.max(1, live);
  }
}
