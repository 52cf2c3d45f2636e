/**
 * Opt-out list management, over HTTP and as WebSocket ops (same operations,
 * same answers). A tenant's key manages its own list; the admin key manages
 * the global list (or, with ?tenant=ID, a tenant's).
 *
 *   GET    /v1/optouts?after=DIGITS&limit=N      a page, ordered by number
 *   POST   /v1/optouts   {"numbers":["+47…"]}     add (at most 1000 per call)
 *   GET    /v1/optouts/+4791234567                 check one number (own list, then the global one)
 *   DELETE /v1/optouts/+4791234567                 remove
 *   … and the same under /v1/admin/optouts (global list; ?tenant=ID for a tenant's)
 *
 *   WS: {"op":"optout_add","ref","numbers":[…]} · optout_remove · optout_check {"number"} · optout_list {"after","limit"}
 *       → {"op":"optout_result","ref",…the HTTP body…} or {"op":"error","ref","code","error"}
 */
import type uWS from 'uWebSockets.js';
import type { ErrorCode } from '../errors.js';
import { normalizeNumber } from '../ingress/normalize-number.js';
import { GLOBAL, type OptOutSource, type OptOutStore } from '../optout/optout-store.js';
import type { WsOp } from '../ingress/ingress-server.js';
import { z } from 'zod';
import { E164, QueryInt, route, TenantId, type RouteSpec } from '../api-spec/route-spec.js';
import { decodeParam, errorFrame, guard, readJsonBody, sendError, sendJson, type ApiAuth, type AuthTenant } from './http-kit.js';

const MAX_NUMBERS = 1000;
const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

type Outcome = { ok: true; status: string; body: Record<string, unknown> } | { ok: false; code: ErrorCode; error: string };

const fail = (code: ErrorCode, error: string): Outcome => ({ ok: false, code, error });

function numberOf(input: unknown): { e164: string } | { error: string } {
  if (typeof input !== 'string' || input === '') return { error: 'a number is required, e.g. "+4791234567"' };
  const n = normalizeNumber(input);
  return n.ok ? { e164: n.e164 } : { error: n.error };
}

/** The operations, for one list (`tenant` '*' = global); `viewer` is the tenant asking (checks fall back to the global list). */
export class OptOutService {
  constructor(
    private readonly store: OptOutStore,
    /** Resolves once no operator actor sends on a view without this opt-out change (PauseControl.confirmed). */
    private readonly confirm: (eventId: string) => Promise<unknown>,
  ) {}

  async add(list: string, numbers: unknown, source: OptOutSource): Promise<Outcome> {
    if (!Array.isArray(numbers) || numbers.length === 0) return fail('INVALID_FIELD', '"numbers" must be a non-empty array of numbers');
    if (numbers.length > MAX_NUMBERS) return fail('INVALID_FIELD', `at most ${MAX_NUMBERS} numbers per call, got ${numbers.length}`);
    const out: string[] = [];
    for (let i = 0; i < numbers.length; i++) {
      const n = numberOf(numbers[i]);
      if ('error' in n) return fail('INVALID_NUMBER', `numbers[${i}]: ${n.error}; nothing was added`);
      out.push(n.e164);
    }
    const { changed: added, eventId } = await this.store.add(list, out, source);
    // Messages already queued to these numbers are not sent from here on: every actor has the change.
    if (added > 0) await this.confirm(eventId);
    return { ok: true, status: '200 OK', body: { scope: list === GLOBAL ? 'global' : 'tenant', added, numbers: out.map((n) => '+' + n) } };
  }

  async remove(list: string, number: unknown): Promise<Outcome> {
    const n = numberOf(number);
    if ('error' in n) return fail('INVALID_NUMBER', n.error);
    const removed = await this.store.remove(list, [n.e164]);
    if (removed === 0) return fail('NOT_FOUND', `+${n.e164} is not on the ${list === GLOBAL ? 'global' : "tenant's"} opt-out list`);
    return { ok: true, status: '200 OK', body: { number: '+' + n.e164, removed } };
  }

  async check(list: string, number: unknown): Promise<Outcome> {
    const n = numberOf(number);
    if ('error' in n) return fail('INVALID_NUMBER', n.error);
    const r = await this.store.check(list === GLOBAL ? undefined : list, n.e164);
    return { ok: true, status: '200 OK', body: { number: '+' + n.e164, optedOut: r.optedOut, scope: r.scope ?? null, at: r.record?.at ?? null, source: r.record?.source ?? null } };
  }

  async list(list: string, after: unknown, limit: unknown): Promise<Outcome> {
    const lim = limit === undefined || limit === null || limit === '' ? DEFAULT_PAGE : Number(limit);
    if (!Number.isInteger(lim) || lim < 1 || lim > MAX_PAGE) return fail('INVALID_FIELD', `"limit" must be a whole number from 1 to ${MAX_PAGE}`);
    if (after !== undefined && after !== null && (typeof after !== 'string' || !/^\+?[0-9]{0,20}$/.test(after))) return fail('INVALID_FIELD', '"after" must be the "next" value of the previous page');
    const a = typeof after === 'string' ? after.replace(/^\+/, '') : undefined;
    const page = await this.store.list(list, a, lim);
    return { ok: true, status: '200 OK', body: { scope: list === GLOBAL ? 'global' : 'tenant', items: page.items, next: page.next ?? null, total: page.total } };
  }
}

function reply(res: uWS.HttpResponse, alive: () => boolean, o: Outcome): void {
  if (!alive()) return;
  if (o.ok) sendJson(res, o.status, o.body);
  else sendError(res, o.code, o.error);
}

/** Runs an operation and answers; the promise is the handler's (the route guard catches what it throws). */
function run(res: uWS.HttpResponse, alive: () => boolean, work: () => Promise<Outcome>): Promise<void> {
  return work().then(
    (o) => reply(res, alive, o),
    (err: Error) => void (alive() && sendError(res, 'UNAVAILABLE', `opt-out store unavailable: ${err.message}`)),
  );
}

export interface OptOutRouteDeps {
  readonly store: OptOutStore;
  readonly auth: ApiAuth<AuthTenant>;
  readonly tenants: ReadonlySet<string>;
  readonly maxBodyBytes: number;
  readonly confirm: (eventId: string) => Promise<unknown>;
}

/** The number in the path, percent-decoded; undefined after answering 400 when it cannot be decoded. */
function numberParam(res: uWS.HttpResponse, req: uWS.HttpRequest): string | undefined {
  const raw = req.getParameter(0) ?? '';
  const n = decodeParam(raw);
  if (n === undefined) sendError(res, 'INVALID_NUMBER', `the number in the path is not valid percent-encoding (%XX escapes of UTF-8): ${JSON.stringify(raw.slice(0, 40))}`);
  return n;
}

/** Registers the HTTP routes; returns the WebSocket ops for the ingress. */
export function registerOptOutRoutes(app: uWS.TemplatedApp, d: OptOutRouteDeps): ReadonlyMap<string, WsOp> {
  const svc = new OptOutService(d.store, d.confirm);
  // Which list a request manages: the tenant's own (tenant key), or for the admin the global one / ?tenant=ID.
  const scope = (res: uWS.HttpResponse, req: uWS.HttpRequest, admin: boolean): string | undefined => {
    if (!admin) return d.auth.tenant(res, req)?.id;
    if (!d.auth.admin(res, req)) return undefined;
    const t = req.getQuery('tenant');
    if (t === undefined || t === '') return GLOBAL;
    if (!d.tenants.has(t)) {
      sendError(res, 'NOT_FOUND', `no tenant "${t}"`);
      return undefined;
    }
    return t;
  };
  for (const [base, admin] of [['/v1/optouts', false], ['/v1/admin/optouts', true]] as const) {
    app.get(base, (res, req) => {
      const list = scope(res, req, admin);
      if (list === undefined) return;
      const after = req.getQuery('after');
      const limit = req.getQuery('limit');
      const g = guard(res);
      return run(res, g.alive, () => svc.list(list, after, limit));
    });
    app.post(base, (res, req) => {
      const list = scope(res, req, admin);
      if (list === undefined) return;
      return readJsonBody(res, d.maxBodyBytes, (body, alive) => {
        if (body === null || typeof body !== 'object' || Array.isArray(body)) return void (alive() && sendError(res, 'BAD_FRAME', 'body must be a JSON object: {"numbers":["+4791234567"]}'));
        const b = body as Record<string, unknown>;
        return run(res, alive, () => svc.add(list, b.numbers ?? (b.number === undefined ? undefined : [b.number]), admin ? 'admin' : 'api'));
      });
    });
    app.get(`${base}/:number`, (res, req) => {
      const list = scope(res, req, admin);
      if (list === undefined) return;
      // A malformed percent-escape (`%`, `%E0%A4%A`) threw URIError here and ended the process (issue 11).
      const number = numberParam(res, req);
      if (number === undefined) return;
      const g = guard(res);
      return run(res, g.alive, () => svc.check(list, number));
    });
    app.del(`${base}/:number`, (res, req) => {
      const list = scope(res, req, admin);
      if (list === undefined) return;
      // A malformed percent-escape (`%`, `%E0%A4%A`) threw URIError here and ended the process (issue 11).
      const number = numberParam(res, req);
      if (number === undefined) return;
      const g = guard(res);
      return run(res, g.alive, () => svc.remove(list, number));
    });
  }
  const ws = (work: (tenant: string, f: Record<string, unknown>) => Promise<Outcome>): WsOp => (tenant, f, send) => {
    const ref = typeof f.ref === 'string' ? f.ref : '';
    const refField = `,"ref":${JSON.stringify(ref)}`;
    work(tenant, f).then(
      (o) => send(o.ok ? JSON.stringify({ op: 'optout_result', ref, ...o.body }) : errorFrame(o.code, o.error, refField)),
      (err: Error) => send(errorFrame('UNAVAILABLE', `opt-out store unavailable: ${err.message}`, refField)),
    );
  };
  return new Map<string, WsOp>([
    ['optout_add', ws((t, f) => svc.add(t, f.numbers ?? (f.number === undefined ? undefined : [f.number]), 'api'))],
    ['optout_remove', ws((t, f) => svc.remove(t, f.number))],
    ['optout_check', ws((t, f) => svc.check(t, f.number))],
    ['optout_list', ws((t, f) => svc.list(t, f.after, f.limit))],
  ]);
}

const Scope = z.enum(['tenant', 'global']);
const NumberParam = z.object({ number: z.string().describe('the number, E.164 (percent-encode the +: %2B)') });
const AdminTenant = z.object({ tenant: TenantId.optional().describe("a tenant's list instead of the global one") });

/** The four operations, for a tenant's own list or (admin) the global one / ?tenant=ID. */
function optOutRoutes(base: string, admin: boolean): RouteSpec[] {
  const auth = admin ? 'admin' : 'tenant';
  const tags = ['opt-out'];
  const errors = admin ? (['NOT_FOUND'] as const) : ([] as const);
  return [
    route({
      method: 'get',
      path: base,
      summary: admin ? 'A page of the global (or a tenant\'s) opt-out list' : "A page of the tenant's opt-out list, ordered by number",
      tags,
      auth,
      query: z.object({ after: z.string().optional().describe('"next" of the previous page'), limit: QueryInt.optional().describe(`1 to ${MAX_PAGE}, default ${DEFAULT_PAGE}`), ...(admin ? AdminTenant.shape : {}) }),
      ok: { 200: z.object({ scope: Scope, items: z.array(z.looseObject({ number: z.string(), at: z.number(), source: z.string() })), next: z.string().nullable(), total: z.number().int() }) },
      errors: [...errors, 'INVALID_FIELD', 'UNAVAILABLE'],
    }),
    route({
      method: 'post',
      path: base,
      summary: `Adds numbers (at most ${MAX_NUMBERS}); answers once every operator actor has the change`,
      tags,
      auth,
      ...(admin ? { query: AdminTenant } : {}),
      body: z.union([z.object({ numbers: z.array(z.string()).min(1).max(MAX_NUMBERS) }), z.object({ number: z.string() })]),
      ok: { 200: z.object({ scope: Scope, added: z.number().int(), numbers: z.array(E164) }) },
      errors: [...errors, 'INVALID_FIELD', 'INVALID_NUMBER', 'UNAVAILABLE'],
    }),
    route({
      method: 'get',
      path: `${base}/:number`,
      summary: 'Whether a number opted out (the tenant\'s list, then the global one)',
      tags,
      auth,
      params: NumberParam,
      ...(admin ? { query: AdminTenant } : {}),
      ok: { 200: z.object({ number: E164, optedOut: z.boolean(), scope: Scope.nullable(), at: z.number().nullable(), source: z.string().nullable() }) },
      errors: [...errors, 'INVALID_NUMBER', 'UNAVAILABLE'],
    }),
    route({
      method: 'delete',
      path: `${base}/:number`,
      summary: 'Removes a number from the list',
      tags,
      auth,
      params: NumberParam,
      ...(admin ? { query: AdminTenant } : {}),
      ok: { 200: z.object({ number: E164, removed: z.number().int() }) },
      errors: ['NOT_FOUND', 'INVALID_NUMBER', 'UNAVAILABLE'],
    }),
  ];
}

/** The contracts of these routes (engine/api-spec/). */
export const OPTOUT_ROUTES: readonly RouteSpec[] = [...optOutRoutes('/v1/optouts', false), ...optOutRoutes('/v1/admin/optouts', true)];
