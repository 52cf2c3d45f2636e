/**
 * The routing contract between the engine and the router, and the static
 * prefix router that serves until the MCC/MNC + price router lands (issue 3).
 * Pure: no I/O in the decision path.
 *
 * The static table is compiled at start-up into one Map per prefix length, so a
 * decision is at most 16 Map look-ups of string slices (longest prefix first).
 */
export interface RouteRequest {
  /** E.164 digits without '+'. */
  readonly e164: string;
  readonly tenant: string;
}

export type RouteDecision =
  | { readonly ok: true; readonly smsc: string }
  | { readonly ok: false; readonly code: 'NO_ROUTE'; readonly reason: string };

/** What the engine asks of any router. */
export interface Router {
  route(req: RouteRequest): RouteDecision;
}

export interface StaticRoute {
  readonly prefix: string;
  readonly smsc: string;
}

export class StaticPrefixRouter implements Router {
  /** byLength[n] maps an n-digit prefix to its decision. */
  private readonly byLength: Array<Map<string, RouteDecision> | undefined> = [];
  private readonly lengths: number[];

  constructor(routes: ReadonlyArray<StaticRoute>) {
    for (const r of routes) {
      let m = this.byLength[r.prefix.length];
      if (m === undefined) this.byLength[r.prefix.length] = m = new Map();
      m.set(r.prefix, Object.freeze({ ok: true as const, smsc: r.smsc }));
    }
    this.lengths = [];
    for (let n = this.byLength.length - 1; n >= 0; n--) if (this.byLength[n] !== undefined) this.lengths.push(n);
  }

  route(req: RouteRequest): RouteDecision {
    const digits = req.e164;
    for (const n of this.lengths) {
      if (n > digits.length) continue;
      const hit = (this.byLength[n] as Map<string, RouteDecision>).get(n === digits.length ? digits : digits.slice(0, n));
      if (hit !== undefined) return hit;
    }
    return { ok: false, code: 'NO_ROUTE', reason: `no route matches +${digits}` };
  }
}
