/**
 * The ingress's copy of the numbers bad-number detection flagged
 * (analytics/bad-numbers.ts), per tenant: the analytics process sends what
 * changed after each detection round, so the check on a submit is one Map and
 * one Set lookup — never a query per message. Used only for tenants that
 * refuse flagged numbers (analytics.badNumbers.refuse, tenants[].refuseFlaggedNumbers).
 */
export interface FlagDeltaMessage {
  /** True on the first round of an analytics process: the set is replaced, not patched. */
  readonly reset: boolean;
  readonly add: ReadonlyArray<readonly [tenant: string, e164: string]>;
  readonly remove: ReadonlyArray<readonly [tenant: string, e164: string]>;
}

export class FlaggedNumbers {
  private byTenant = new Map<string, Set<string>>();
  private count = 0;

  constructor(private readonly refusing: ReadonlySet<string>) {}

  apply(d: FlagDeltaMessage): void {
    if (d.reset) {
      this.byTenant = new Map();
      this.count = 0;
    }
    for (const [t, n] of d.add) {
      let s = this.byTenant.get(t);
      if (s === undefined) this.byTenant.set(t, (s = new Set()));
      if (!s.has(n)) this.count++;
      s.add(n);
    }
    for (const [t, n] of d.remove) if (this.byTenant.get(t)?.delete(n) === true) this.count--;
  }

  /** Whether a submit of this tenant to this number (E.164 digits) is refused. */
  refuses(tenant: string, e164: string): boolean {
    return this.refusing.has(tenant) && this.byTenant.get(tenant)?.has(e164) === true;
  }

  get size(): number {
    return this.count;
  }
}
