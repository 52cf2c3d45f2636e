/**
 * Bad-number detection: a destination whose messages keep failing with a
 * permanent error (unknown subscriber, invalid destination address, ...) is
 * flagged, per tenant, with the failures that flagged it as evidence.
 *
 * Rule: within the last `windowSec`, at least `failures` events of that
 * tenant to that number are failures (undelivered or rejected) with one of the
 * `permanentCodes`, all after the number's last delivery (a delivery clears a
 * number: it works). Codes compare as written in `error_code`: receipt `err:`
 * values as 3 digits ("001"; "1" matches too), refused submits as their
 * command_status ("0x0000000b"; "0xb" matches too).
 *
 * Cost: the detector never scans the window each round. It starts with one
 * query over the window, then learns from the sink which numbers had a
 * permanent failure or (when flagged) a delivery since the last round, and
 * re-reads only those numbers' histories (bloom-filter index on destination).
 * Failures that age out of the window are dropped in memory. The flagged set
 * is kept here and handed to the ingress as deltas (an O(1) lookup there).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { chTime, type EventRow } from './event-sink.js';

export interface BadNumberOptions {
  /** Permanent failures that flag a number. */
  readonly failures: number;
  /** How far back failures count (s). */
  readonly windowSec: number;
  /** error_code values that are permanent. */
  readonly permanentCodes: ReadonlyArray<string>;
  /** Evidence kept per number (newest first). */
  readonly maxEvidence: number;
}

export interface Evidence {
  readonly at: number;
  readonly messageId: string;
  readonly smsc: string;
  readonly status: string;
  readonly errorCode: string;
  readonly errorText: string;
}

export interface FlaggedNumber {
  readonly tenant: string;
  /** E.164 with '+'. */
  readonly to: string;
  /** Permanent failures since the last delivery, within the window. */
  readonly failures: number;
  readonly firstFailureAt: number;
  readonly lastFailureAt: number;
  /** Newest first, at most maxEvidence. */
  readonly evidence: ReadonlyArray<Evidence>;
}

export interface FlagDelta {
  readonly add: ReadonlyArray<readonly [tenant: string, e164: string]>;
  readonly remove: ReadonlyArray<readonly [tenant: string, e164: string]>;
}

/**
 * Canonical form of a code: "001"/"1" → "001"; "0xb"/"0x0000000B" → "0x0000000b" (the form
 * the engine writes refused submits in, so the SQL side only pads receipt codes).
 */
export function canonicalCode(code: string): string {
  const c = code.trim().toLowerCase();
  if (/^0x[0-9a-f]+$/.test(c)) return '0x' + parseInt(c.slice(2), 16).toString(16).padStart(8, '0');
  if (/^[0-9]+$/.test(c)) return String(Number(c)).padStart(3, '0');
  return c;
}

/** The SQL term: a failure row with a permanent code (codes bound as {codes:Array(String)}). */
const PERMANENT = `status IN ('undelivered', 'rejected')
    AND if(match(error_code, '^[0-9]+$'), leftPad(toString(toUInt64OrZero(error_code)), 3, '0'), lower(error_code)) IN {codes:Array(String)}`;

interface NumberState {
  tenant: string;
  e164: string;
  /** Failures after the last delivery, newest first (all within the window once pruned). */
  failures: Evidence[];
  lastDelivered: number;
}

const key = (tenant: string, e164: string) => `${tenant}\u0000${e164}`;

export class BadNumberDetector {
  private readonly flagged = new Map<string, NumberState>();
  /** Numbers to re-read next round: a new permanent failure, or a delivery to a flagged one. */
  private readonly dirty = new Map<string, [string, string]>();
  private readonly codes: Set<string>;
  private started = false;
  /** Above this many dirty numbers a round re-reads the whole window instead. */
  private readonly maxDirty = 50_000;
  rounds = 0;

  constructor(
    private readonly ch: ClickHouseClient,
    private readonly o: BadNumberOptions,
  ) {
    this.codes = new Set(o.permanentCodes.map(canonicalCode));
  }

  /** From the sink: rows ClickHouse now has. Cheap per row (a Set lookup). */
  observe(rows: ReadonlyArray<EventRow>): void {
    for (const r of rows) {
      if (r.status === 'delivered') {
        const k = key(r.tenant, r.destination);
        if (this.flagged.has(k)) this.dirty.set(k, [r.tenant, r.destination]);
      } else if ((r.status === 'undelivered' || r.status === 'rejected') && this.codes.has(canonicalCode(r.error_code))) {
        this.dirty.set(key(r.tenant, r.destination), [r.tenant, r.destination]);
      }
    }
  }

  /** The flagged numbers of a tenant (undefined: all tenants), most failures first. */
  list(tenant?: string): FlaggedNumber[] {
    const out: FlaggedNumber[] = [];
    for (const s of this.flagged.values()) if (tenant === undefined || s.tenant === tenant) out.push(this.view(s));
    return out.sort((a, b) => b.failures - a.failures || b.lastFailureAt - a.lastFailureAt);
  }

  get size(): number {
    return this.flagged.size;
  }

  /** One round: re-evaluates what changed (everything, the first time); returns what was flagged and cleared. */
  async refresh(now = Date.now()): Promise<FlagDelta> {
    const add: Array<[string, string]> = [];
    const remove: Array<[string, string]> = [];
    const since = now - this.o.windowSec * 1000;
    let states: Map<string, NumberState>;
    // The numbers to look at are taken out of `dirty` now (new failures during the round mark them
    // again) and put back if the round fails, so a failed query loses no number's new evidence.
    const todo = [...this.dirty.values()];
    this.dirty.clear();
    const restore = () => {
      for (const [t, n] of todo) if (!this.dirty.has(key(t, n))) this.dirty.set(key(t, n), [t, n]);
    };
    try {
      if (!this.started || todo.length > this.maxDirty) {
        states = await this.read(since, now, undefined);
        for (const k of this.flagged.keys()) if (!states.has(k)) states.set(k, this.emptyOf(k));
        this.started = true;
      } else {
        states = new Map();
        // In slices: the IN list stays small.
        for (let i = 0; i < todo.length; i += 1000) {
          const slice = todo.slice(i, i + 1000);
          const got = await this.read(since, now, slice);
          for (const [t, n] of slice) states.set(key(t, n), got.get(key(t, n)) ?? { tenant: t, e164: n, failures: [], lastDelivered: 0 });
        }
      }
    } catch (err) {
      restore();
      throw err;
    }
    for (const [k, s] of states) this.apply(k, s, add, remove);
    // Failures that left the window.
    for (const [k, s] of this.flagged) {
      const kept = s.failures.filter((e) => e.at >= since);
      if (kept.length !== s.failures.length) this.apply(k, { ...s, failures: kept }, add, remove);
    }
    this.rounds++;
    return { add, remove };
  }

  private emptyOf(k: string): NumberState {
    const s = this.flagged.get(k) as NumberState;
    return { tenant: s.tenant, e164: s.e164, failures: [], lastDelivered: 0 };
  }

  private apply(k: string, s: NumberState, add: Array<[string, string]>, remove: Array<[string, string]>): void {
    const was = this.flagged.has(k);
    const is = s.failures.length >= this.o.failures;
    if (is) this.flagged.set(k, s);
    else this.flagged.delete(k);
    if (is && !was) add.push([s.tenant, s.e164]);
    if (!is && was) remove.push([s.tenant, s.e164]);
  }

  /** Permanent failures after the last delivery within [since, now), per (tenant, number); `only`: just these numbers. */
  private async read(since: number, now: number, only: ReadonlyArray<[string, string]> | undefined): Promise<Map<string, NumberState>> {
    const params: Record<string, unknown> = { since: chTime(since), now: chTime(now), codes: [...this.codes], n: this.o.failures, ev: this.o.maxEvidence };
    let filter = '';
    if (only !== undefined) {
      params.numbers = [...new Set(only.map(([, n]) => n))];
      params.tenants = [...new Set(only.map(([t]) => t))];
      filter = 'AND destination IN {numbers:Array(String)} AND tenant IN {tenants:Array(String)}';
    }
    const sql = `SELECT tenant, destination,
        maxIf(toUnixTimestamp64Milli(time), status = 'delivered') AS last_ok,
        arrayFilter(x -> x.1 > last_ok, arrayReverseSort(x -> (x.1, x.2), groupArrayIf((toUnixTimestamp64Milli(time), eid, message_id, smsc, status, error_code, error_text), ${PERMANENT}))) AS fails
      FROM (SELECT * FROM events WHERE time >= {since:DateTime64(3)} AND time < {now:DateTime64(3)} ${filter}
              AND (status = 'delivered' OR (${PERMANENT})) LIMIT 1 BY eid)
      GROUP BY tenant, destination
      HAVING length(fails) > 0 ${only === undefined ? 'AND length(fails) >= {n:UInt32}' : ''}`;
    const rs = await this.ch.query({ query: sql, query_params: params, format: 'JSONEachRow' });
    type Raw = { tenant: string; destination: string; last_ok: string | number; fails: Array<[string | number, string, string, string, string, string, string]> };
    const out = new Map<string, NumberState>();
    for (const r of (await rs.json()) as Raw[]) {
      out.set(key(r.tenant, r.destination), {
        tenant: r.tenant,
        e164: r.destination,
        lastDelivered: Number(r.last_ok),
        failures: r.fails.map((f) => ({ at: Number(f[0]), messageId: f[2], smsc: f[3], status: f[4], errorCode: f[5], errorText: f[6] })),
      });
    }
    return out;
  }

  private view(s: NumberState): FlaggedNumber {
    const f = s.failures;
    return {
      tenant: s.tenant,
      to: '+' + s.e164,
      failures: f.length,
      firstFailureAt: f[f.length - 1]?.at ?? 0,
      lastFailureAt: f[0]?.at ?? 0,
      evidence: f.slice(0, this.o.maxEvidence),
    };
  }
}
