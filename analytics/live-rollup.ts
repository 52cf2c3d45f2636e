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

/** One second of one scope: cells per SMSC and per country. */
class Second {
  readonly smsc = new Map<string, Cell>();
  readonly country = new Map<string, Cell>();
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

  /** Frames of the seconds that are due, per scope, oldest first; they leave the rollup. */
  flush(now = Date.now()): Array<{ scope: string; frame: RollupFrame }> {
    const out: Array<{ scope: string; frame: RollupFrame }> = [];
    const due = now - this.o.graceMs;
    for (const [scope, m] of this.open) {
      const ts = [...m.keys()].filter((t) => t + 1000 <= due).sort((a, b) => a - b);
      for (const t of ts) {
        const s = m.get(t) as Second;
        m.delete(t);
        const view = (x: Map<string, Cell>) => Object.fromEntries([...x].map(([k, c]) => [k, c.view()]));
        out.push({ scope, frame: { op: 'rollup', t, smsc: view(s.smsc), country: view(s.country) } });
      }
      if (m.size === 0) this.open.delete(scope);
    }
    return out;
  }
}
