/**
 * The router: number → network (MNP override, then the numbering plan, then
 * the country) → the tenant's route plan (MCC-MNC, then MCC, then "*") → the
 * cheapest eligible candidate SMSC. Pure: the numbering plan, the MNP table and
 * the SMSCs' health are handed in; a decision does no I/O and allocates only
 * its result.
 *
 * A candidate is not eligible when its SMSC is down (no bound session), its
 * queue lag is beyond the SMSC's limit, its circuit is open (repeated permanent
 * submit errors), its delivery rate over the quality window is below the
 * plan's floor, or the tenant blocked it. Price ties go to the candidate listed
 * first. `explain` runs the same steps and keeps every reason.
 */
import type { Network } from './numbering-plan.js';
import type { RouteHealth } from './route-health.js';

export interface CandidateConfig {
  readonly smsc: string;
  /** Price per segment, in the plan's currency. */
  readonly price: number;
}

export interface PlanRouteConfig {
  /** "MCC-MNC" (e.g. "242-01"), "MCC" (e.g. "242") or "*" (every other network). */
  readonly network: string;
  readonly candidates: ReadonlyArray<CandidateConfig>;
}

export interface RoutePlanConfig {
  readonly id: string;
  readonly currency: string;
  /** Candidates whose delivery rate over the quality window is below this are skipped; 0 = off. */
  readonly qualityFloor: number;
  readonly routes: ReadonlyArray<PlanRouteConfig>;
}

export interface TenantRoutingConfig {
  readonly id: string;
  readonly plan: string;
  /** Every message of this tenant goes to this SMSC (still subject to eligibility). */
  readonly forceSmsc?: string | undefined;
  /** "MCC-MNC" or "MCC": messages to these networks are refused. */
  readonly blockedNetworks: ReadonlyArray<string>;
  readonly blockedSmscs: ReadonlyArray<string>;
}

export interface SmscRoutingConfig {
  readonly id: string;
  /** Entries waiting in its queue beyond which it takes no new traffic. */
  readonly maxQueueLag: number;
}

export interface RouterConfig {
  readonly plans: ReadonlyArray<RoutePlanConfig>;
  readonly tenants: ReadonlyArray<TenantRoutingConfig>;
  readonly smscs: ReadonlyArray<SmscRoutingConfig>;
}

export interface RouteRequest {
  /** E.164 digits without '+'. */
  readonly e164: string;
  readonly tenant: string;
  /** ISO country from number validation, for numbers the plan does not know. */
  readonly country?: string | undefined;
  /** SMSCs this message may not go to, whatever their health (failover: an SMSC whose alphabet lacks a character of its text). */
  readonly skip?: (smsc: string) => boolean;
}

export interface RouteChoice {
  readonly ok: true;
  readonly smsc: string;
  readonly price: number;
  readonly currency: string;
  readonly plan: string;
  readonly network: Network;
  /** The network came from the MNP table (a ported number). */
  readonly ported: boolean;
}

export type RouteDecision = RouteChoice | { readonly ok: false; readonly code: 'NO_ROUTE'; readonly reason: string };

/** What the engine asks of any router. */
export interface Router {
  route(req: RouteRequest): RouteDecision;
}

/** Looks a number's network up in the numbering plan. */
export interface NetworkLookup {
  lookup(e164: string): Network | undefined;
  /** The MCC of a country (ISO alpha-2), for numbers in no known range. */
  mccOfCountry(country: string): string | undefined;
}

/** Ported numbers (the MNP table, the lookup hook's cache): E.164 digits → the network they now belong to. */
export interface MnpTable {
  get(e164: string): Network | undefined;
}

export interface CandidateExplanation {
  readonly smsc: string;
  readonly price: number;
  readonly eligible: boolean;
  readonly reasons: ReadonlyArray<string>;
}

export interface RouteExplanation {
  readonly e164: string;
  readonly tenant: string;
  readonly network: Network;
  readonly networkSource: 'mnp' | 'numbering plan' | 'country' | 'unknown';
  readonly plan: string | undefined;
  readonly currency: string | undefined;
  /** Which route of the plan matched: "242-01", "242" or "*". */
  readonly matchedRoute: string | undefined;
  readonly candidates: ReadonlyArray<CandidateExplanation>;
  readonly decision: RouteDecision;
}

interface Candidate {
  readonly smsc: string;
  readonly idx: number;
  readonly price: number;
}

interface CompiledRoute {
  readonly key: string;
  readonly candidates: ReadonlyArray<Candidate>;
}

interface CompiledPlan {
  readonly id: string;
  readonly currency: string;
  readonly qualityFloor: number;
  readonly routes: ReadonlyMap<string, CompiledRoute>;
  /** Network → its route (null: none), filled as networks are seen. */
  readonly byNetwork: Map<Network, CompiledRoute | null>;
}

interface CompiledTenant {
  readonly id: string;
  readonly plan: CompiledPlan;
  readonly force: number; // SMSC index, -1 = none
  readonly blockedNetworks: ReadonlySet<string>;
  readonly blockedSmscs: Uint8Array;
}

/** Why a candidate is not eligible (0 = eligible). */
const enum Ineligible {
  No = 0,
  Down,
  Lag,
  Circuit,
  Quality,
  Blocked,
}

export class RouterConfigError extends Error {}

export class PlanRouter implements Router {
  private readonly plans = new Map<string, CompiledPlan>();
  private readonly tenants = new Map<string, CompiledTenant>();
  private readonly maxLag: Float64Array;
  private readonly unknownByCountry = new Map<string, Network>();

  constructor(
    config: RouterConfig,
    private readonly numbering: NetworkLookup,
    private readonly health: RouteHealth,
    private readonly mnp: () => MnpTable | undefined = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    const problems: string[] = [];
    const smscIndex = health.index;
    this.maxLag = new Float64Array(health.smscs.length).fill(Infinity);
    for (const s of config.smscs) {
      const i = smscIndex.get(s.id);
      if (i !== undefined) this.maxLag[i] = s.maxQueueLag;
    }
    config.plans.forEach((p, pi) => {
      const routes = new Map<string, CompiledRoute>();
      p.routes.forEach((r, ri) => {
        const at = `routing.plans[${pi}].routes[${ri}]`;
        if (!/^(\*|[0-9]{3}(-[0-9]{2,3})?)$/.test(r.network)) problems.push(`${at}.network: "${r.network}" must be "MCC-MNC" (e.g. "242-01"), "MCC" (e.g. "242") or "*"`);
        if (routes.has(r.network)) problems.push(`${at}.network: "${r.network}" appears twice in plan "${p.id}"`);
        const candidates: Candidate[] = [];
        r.candidates.forEach((c, ci) => {
          const idx = smscIndex.get(c.smsc);
          if (idx === undefined) problems.push(`${at}.candidates[${ci}].smsc: no SMSC with id "${c.smsc}" is configured`);
          else candidates.push({ smsc: c.smsc, idx, price: c.price });
        });
        // Cheapest first; the sort is stable, so ties keep the order they were listed in.
        candidates.sort((a, b) => a.price - b.price);
        routes.set(r.network, { key: r.network, candidates });
      });
      if (this.plans.has(p.id)) problems.push(`routing.plans[${pi}].id: duplicate plan "${p.id}"`);
      this.plans.set(p.id, { id: p.id, currency: p.currency, qualityFloor: p.qualityFloor, routes, byNetwork: new Map() });
    });
    for (const t of config.tenants) {
      const plan = this.plans.get(t.plan);
      if (plan === undefined) {
        problems.push(`tenants: "${t.id}" is assigned plan "${t.plan}", which is not in routing.plans`);
        continue;
      }
      const force = t.forceSmsc === undefined ? -1 : (smscIndex.get(t.forceSmsc) ?? -2);
      if (force === -2) problems.push(`tenants: "${t.id}" forces SMSC "${t.forceSmsc}", which is not configured`);
      const blockedSmscs = new Uint8Array(health.smscs.length);
      for (const s of t.blockedSmscs) {
        const i = smscIndex.get(s);
        if (i === undefined) problems.push(`tenants: "${t.id}" blocks SMSC "${s}", which is not configured`);
        else blockedSmscs[i] = 1;
      }
      for (const n of t.blockedNetworks)
        if (!/^[0-9]{3}(-[0-9]{2,3})?$/.test(n)) problems.push(`tenants: "${t.id}" blocks network "${n}": must be "MCC-MNC" or "MCC"`);
      this.tenants.set(t.id, { id: t.id, plan, force, blockedNetworks: new Set(t.blockedNetworks), blockedSmscs });
    }
    if (problems.length > 0) throw new RouterConfigError(problems.join('\n'));
  }

  route(req: RouteRequest): RouteDecision {
    const t = this.tenants.get(req.tenant);
    if (t === undefined) return { ok: false, code: 'NO_ROUTE', reason: `tenant "${req.tenant}" has no route plan` };
    const ported = this.mnp()?.get(req.e164);
    const network = ported ?? this.numbering.lookup(req.e164) ?? this.unknownNetwork(req.country);
    if (t.blockedNetworks.size > 0 && this.blocked(t, network))
      return { ok: false, code: 'NO_ROUTE', reason: `network ${networkName(network)} is blocked for tenant "${t.id}"` };
    const route = this.routeOf(t.plan, network);
    // The refusal's reasons are worked out only when there is a refusal.
    return this.decide(t, network, ported !== undefined, route, req.skip) ?? this.explain(req).decision;
  }

  /** The same steps as `route`, keeping every candidate and every reason. */
  explain(req: RouteRequest): RouteExplanation {
    const t = this.tenants.get(req.tenant);
    const ported = this.mnp()?.get(req.e164);
    const planned = ported === undefined ? this.numbering.lookup(req.e164) : undefined;
    const network = ported ?? planned ?? this.unknownNetwork(req.country);
    const networkSource = ported !== undefined ? 'mnp' : planned !== undefined ? 'numbering plan' : network.mcc !== '' ? 'country' : 'unknown';
    const base = { e164: req.e164, tenant: req.tenant, network, networkSource } as const;
    if (t === undefined) return { ...base, plan: undefined, currency: undefined, matchedRoute: undefined, candidates: [], decision: { ok: false, code: 'NO_ROUTE', reason: `tenant "${req.tenant}" has no route plan` } };
    const route = this.routeOf(t.plan, network);
    const candidates: CandidateExplanation[] = [];
    for (const c of route?.candidates ?? []) {
      const reasons: string[] = [];
      if (t.force >= 0 && c.idx !== t.force) reasons.push(`tenant forces SMSC ${this.health.smscs[t.force]}`);
      if (req.skip?.(c.smsc) === true) reasons.push('excluded for this message (its alphabet lacks a character of the text)');
      const why = this.ineligible(c.idx, t);
      if (why !== Ineligible.No) reasons.push(this.reasonText(why, c.idx, t.plan));
      candidates.push({ smsc: c.smsc, price: c.price, eligible: reasons.length === 0, reasons });
    }
    let decision: RouteDecision | undefined;
    if (t.blockedNetworks.size > 0 && this.blocked(t, network)) decision = { ok: false, code: 'NO_ROUTE', reason: `network ${networkName(network)} is blocked for tenant "${t.id}"` };
    else if (route === null) decision = { ok: false, code: 'NO_ROUTE', reason: `plan "${t.plan.id}" has no route for network ${networkName(network)} and no "*" route` };
    else {
      decision = this.decide(t, network, ported !== undefined, route, req.skip);
      if (decision === undefined) {
        let reason = `no eligible SMSC for ${networkName(network)} in plan "${t.plan.id}": ${candidates.map((c) => `${c.smsc} ${c.reasons.join('; ')}`).join(', ')}`;
        if (t.force >= 0 && !route.candidates.some((c) => c.idx === t.force)) reason += `; forced SMSC ${this.health.smscs[t.force]} ${this.reasonText(this.ineligible(t.force, t), t.force, t.plan)}`;
        decision = { ok: false, code: 'NO_ROUTE', reason };
      }
    }
    return { ...base, plan: t.plan.id, currency: t.plan.currency, matchedRoute: route?.key, candidates, decision };
  }

  /** The cheapest eligible candidate of the route, or undefined when there is none. */
  private decide(t: CompiledTenant, network: Network, ported: boolean, route: CompiledRoute | null, skip?: (smsc: string) => boolean): RouteChoice | undefined {
    if (route === null) return undefined;
    const cs = route.candidates;
    for (let k = 0; k < cs.length; k++) {
      const c = cs[k] as Candidate;
      if (t.force >= 0 && c.idx !== t.force) continue;
      if (skip !== undefined && skip(c.smsc)) continue;
      if (this.ineligible(c.idx, t) === Ineligible.No) return { ok: true, smsc: c.smsc, price: c.price, currency: t.plan.currency, plan: t.plan.id, network, ported };
    }
    // A forced SMSC that is not a candidate of the route is charged the route's best price.
    if (t.force >= 0 && cs.length > 0 && !cs.some((c) => c.idx === t.force) && skip?.(this.health.smscs[t.force] as string) !== true && this.ineligible(t.force, t) === Ineligible.No)
      return { ok: true, smsc: this.health.smscs[t.force] as string, price: (cs[0] as Candidate).price, currency: t.plan.currency, plan: t.plan.id, network, ported };
    return undefined;
  }

  private routeOf(plan: CompiledPlan, network: Network): CompiledRoute | null {
    let r = plan.byNetwork.get(network);
    if (r === undefined) {
      r = (network.mnc !== '' ? plan.routes.get(`${network.mcc}-${network.mnc}`) : undefined) ?? (network.mcc !== '' ? plan.routes.get(network.mcc) : undefined) ?? plan.routes.get('*') ?? null;
      // Bounded: one entry per distinct Network object (the plan's networks plus one per country).
      plan.byNetwork.set(network, r);
    }
    return r;
  }

  private blocked(t: CompiledTenant, n: Network): boolean {
    return t.blockedNetworks.has(n.mcc) || (n.mnc !== '' && t.blockedNetworks.has(`${n.mcc}-${n.mnc}`));
  }

  private ineligible(i: number, t: CompiledTenant): Ineligible {
    const h = this.health;
    if (h.up[i] === 0) return Ineligible.Down;
    if ((h.queueLag[i] as number) > (this.maxLag[i] as number)) return Ineligible.Lag;
    if ((h.circuitOpenUntil[i] as number) > 0 && (h.circuitOpenUntil[i] as number) > this.now()) return Ineligible.Circuit;
    if (t.plan.qualityFloor > 0 && (h.deliveryRate[i] as number) < t.plan.qualityFloor) return Ineligible.Quality;
    if (t.blockedSmscs[i] === 1) return Ineligible.Blocked;
    return Ineligible.No;
  }

  private reasonText(why: Ineligible, i: number, plan: CompiledPlan): string {
    const h = this.health;
    switch (why) {
      case Ineligible.Down:
        return `down: no bound session${(h.downSince[i] as number) > 0 ? ` since ${new Date(h.downSince[i] as number).toISOString()}` : ''}`;
      case Ineligible.Lag:
        return `queue lag ${h.queueLag[i]} is beyond its limit of ${this.maxLag[i]}`;
      case Ineligible.Circuit:
        return `circuit open until ${new Date(h.circuitOpenUntil[i] as number).toISOString()} after repeated permanent submit errors`;
      case Ineligible.Quality:
        return `delivery rate ${((h.deliveryRate[i] as number) * 100).toFixed(1)} % over the last ${h.receiptsInWindow[i]} receipts is below the plan's floor of ${(plan.qualityFloor * 100).toFixed(1)} %`;
      case Ineligible.Blocked:
        return 'blocked for this tenant';
      default:
        return '';
    }
  }

  private unknownNetwork(country: string | undefined): Network {
    const key = country ?? '';
    let n = this.unknownByCountry.get(key);
    if (n === undefined) {
      n = Object.freeze({ country: key, mcc: country === undefined ? '' : (this.numbering.mccOfCountry(country) ?? ''), mnc: '', operator: '' });
      this.unknownByCountry.set(key, n);
    }
    return n;
  }
}

export function networkName(n: Network): string {
  const id = n.mnc !== '' ? `${n.mcc}-${n.mnc}` : n.mcc !== '' ? n.mcc : 'unknown';
  return `${id}${n.operator ? ` (${n.operator}${n.country ? ', ' + n.country : ''})` : n.country ? ` (${n.country})` : ''}`;
}
