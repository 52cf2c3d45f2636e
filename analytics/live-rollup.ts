/**
 * Per-second rollups for the live feed (`/v1/analytics/ws`), computed in the
 * analytics process from the rows the sink reads — no query per second, and
 * the feed keeps going while ClickHouse is down (rows are counted when first
 * read, never again on a retried insert).
 *
 * Each event counts in the second of its own time (`at`), per SMSC and per
 * country, for its tenant and for the admin view ('*'). A second is sent once
 * `graceMs` has passed after it (events reach the sink within a batch
 * interval); an event later than that is sent in another frame for its
 * second — frames are increments, so a dashboard adds frames of the same
 * second. Events older than `horizonMs` are left to ClickHouse.
 *
 * Latency percentiles come from a log-scale histogram per cell (10 % wide
 * buckets, 1 ms to ~1 day): ±5 %, 200 counters, merged by addition.
 *
 * With several analytics nodes each sink reads a share of the events: a node
 * cannot add up percentiles of the others' frames, so the nodes exchange the
 * raw seconds instead (`flushRaw` → `addRaw`: counts and histograms, merged by
 * addition) and each node's feed is rendered from the merged seconds
 * (engine/analytics/sink-process.ts, README "Analytics with several nodes").
 */
import type { EventRow } from './event-sink.js';

export interface RollupCell {
  /** Messages handed to the SMSC (`sent`). */
  submitted: number;
  delivered: number;
  /** Failed outcomes: undelivered, expired, rejected, unknown. */
  undelivered: number;
  /** delivered / (delivered + undelivered); null without outcomes. */
  deliveryRate: number | null;
  /** sent → delivery receipt (ms), over this second's deliveries. */
  latencyMs: { p50: number | null; p90: number | null; p99: number | null };
}

export interface RollupFrame {
  readonly op: 'rollup';
  /** The second (ms since the epoch, a multiple of 1000). */
  readonly t: number;
  readonly smsc: Record<string, RollupCell>;
  readonly country: Record<string, RollupCell>;
}

/**
 * A cell's raw figures, as exchanged between nodes: submitted, delivered,
 * failed, latencies counted, and the latency histogram as flat
 * [bucket, count, …] pairs of its non-empty buckets.
 */
export type RawCell = [number, number, number, number, number[]];

/** One second of one scope, raw: what a node's rollup hands the others. */
export interface RawSecond {
  readonly scope: string;
  /** The second (ms since the epoch, a multiple of 1000). */
  readonly t: number;
  readonly smsc: Record<string, RawCell>;
  readonly country: Record<string, RawCell>;
}

const FAILED = new Set(['undelivered', 'expired', 'rejected', 'unknown']);
const BUCKETS = 200;
const GROWTH = Math.log(1.1);

function bucketOf(ms: number): number {
  return ms <= 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms) / GROWTH));
}

function valueOf(b: number): number {
  return b === 0 ? 1 : Math.round(Math.exp(b * GROWTH) / 1.05);
}

class Cell {
  submitted = 0;
  delivered = 0;
  failed = 0;
  hist: Uint32Array | undefined;
  latencies = 0;

  add(r: EventRow): void {
    if (r.status === 'sent') this.submitted++;
    else if (r.status === 'delivered') {
      this.delivered++;
      if (r.latency_ms !== null) {
        (this.hist ??= new Uint32Array(BUCKETS))[bucketOf(r.latency_ms)]++;
        this.latencies++;
      }
    } else if (FAILED.has(r.status)) this.failed++;
  }

  raw(): RawCell {
    const h: number[] = [];
    if (this.hist !== undefined) for (let b = 0; b < BUCKETS; b++) if ((this.hist[b] as number) > 0) h.push(b, this.hist[b] as number);
    return [this.submitted, this.delivered, this.failed, this.latencies, h];
  }

  /** Adds another node's raw figures of the same cell (anything malformed is skipped). */
  addRaw(r: RawCell): void {
    const [submitted, delivered, failed, , h] = r;
    this.submitted += count(submitted);
    this.delivered += count(delivered);
    this.failed += count(failed);
    let added = 0;
    if (Array.isArray(h)) {
      for (let i = 0; i + 1 < h.length; i += 2) {
        const b = h[i] as number;
        const n = count(h[i + 1]);
        if (!Number.isInteger(b) || b < 0 || b >= BUCKETS || n === 0) continue;
        (this.hist ??= new Uint32Array(BUCKETS))[b] = (this.hist[b] as number) + n;
        added += n;
      }
    }
    // The histogram is the truth for the percentiles: the latencies counted are what it holds.
    this.latencies += added;
  }

  view(): RollupCell {
    const q = (p: number): number | null => {
      if (this.hist === undefined || this.latencies === 0) return null;
      const want = Math.ceil(p * this.latencies);
      let seen = 0;
      for (let b = 0; b < BUCKETS; b++) {
        seen += this.hist[b] as number;
        if (seen >= want) return valueOf(b);
      }
      return null;
    };
    const outcomes = this.delivered + this.failed;
    return {
      submitted: this.submitted,
      delivered: this.delivered,
      undelivered: this.failed,
      deliveryRate: outcomes > 0 ? this.delivered / outcomes : null,
      latencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99) },
    };
  }
}

/** A non-negative integer count from a raw cell (anything else counts 0). */
function count(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : 0;
}

/** One second of one scope: cells per SMSC and per country. */
class Second {
  readonly smsc = new Map<string, Cell>();
  readonly country = new Map<string, Cell>();
  addRaw(dim: 'smsc' | 'country', cells: Record<string, RawCell>): void {
    const m = this[dim];
    for (const [k, r] of Object.entries(cells)) {
      if (!Array.isArray(r)) continue;
      let c = m.get(k);
      if (c === undefined) m.set(k, (c = new Cell()));
      c.addRaw(r);
    }
  }
  add(r: EventRow): void {
    let c = this.smsc.get(r.smsc);
    if (c === undefined) this.smsc.set(r.smsc, (c = new Cell()));
    c.add(r);
    const k = r.country === '' ? '-' : r.country;
    let d = this.country.get(k);
    if (d === undefined) this.country.set(k, (d = new Cell()));
    d.add(r);
  }
}

export class LiveRollup {
  /** scope ('*' or a tenant) → second → cells. */
  private readonly open = new Map<string, Map<number, Second>>();

  constructor(private readonly o: { graceMs: number; horizonMs: number } = { graceMs: 1500, horizonMs: 120_000 }) {}

  add(rows: ReadonlyArray<EventRow>, now = Date.now()): void {
    const oldest = now - this.o.horizonMs;
    for (const r of rows) {
      if (r.atMs < oldest) continue;
      const t = r.atMs - (r.atMs % 1000);
      this.second('*', t).add(r);
      this.second(r.tenant, t).add(r);
    }
  }

  private second(scope: string, t: number): Second {
    let m = this.open.get(scope);
    if (m === undefined) this.open.set(scope, (m = new Map()));
    let s = m.get(t);
    if (s === undefined) m.set(t, (s = new Second()));
    return s;
  }

  /**
   * Adds raw seconds (another node's, or this node's own from `flushRaw`); seconds older
   * than the horizon and malformed entries are skipped (they come over Redis).
   */
  addRaw(seconds: ReadonlyArray<RawSecond>, now = Date.now()): void {
    const oldest = now - this.o.horizonMs;
    for (const r of seconds) {
      if (typeof r !== 'object' || r === null || typeof r.scope !== 'string' || !Number.isInteger(r.t) || r.t % 1000 !== 0 || r.t < oldest) continue;
      const s = this.second(r.scope, r.t);
      if (typeof r.smsc === 'object' && r.smsc !== null) s.addRaw('smsc', r.smsc);
      if (typeof r.country === 'object' && r.country !== null) s.addRaw('country', r.country);
    }
  }

  /** Frames of the seconds that are due, per scope, oldest first; they leave the rollup. */
  flush(now = Date.now()): Array<{ scope: string; frame: RollupFrame }> {
    const view = (x: Map<string, Cell>) => Object.fromEntries([...x].map(([k, c]) => [k, c.view()]));
    return this.due(now).map(({ scope, t, s }) => ({ scope, frame: { op: 'rollup', t, smsc: view(s.smsc), country: view(s.country) } }));
  }

  /** The seconds that are due, raw (for the other nodes' feeds); they leave the rollup. */
  flushRaw(now = Date.now()): RawSecond[] {
    const raw = (x: Map<string, Cell>) => Object.fromEntries([...x].map(([k, c]) => [k, c.raw()]));
    return this.due(now).map(({ scope, t, s }) => ({ scope, t, smsc: raw(s.smsc), country: raw(s.country) }));
  }

  private due(now: number): Array<{ scope: string; t: number; s: Second }> {
    const out: Array<{ scope: string; t: number; s: Second }> = [];
    const due = now - this.o.graceMs;
    for (const [scope, m] of this.open) {
      const ts = [...m.keys()].filter((t) => t + 1000 <= due).sort((a, b) => a - b);
      for (const t of ts) {
        out.push({ scope, t, s: m.get(t) as Second });
        m.delete(t);
      }
      if (m.size === 0) this.open.delete(scope);
    }
    return out;
  }
}
