/**
 * Pausing a tenant (admin key).
 *
 *   POST /v1/admin/tenants/ID/pause    answers once no operator actor will start a submit_sm for the
 *                                      tenant any more (engine/parking/pause-control.ts); new and queued
 *                                      messages become `paused`
 *   POST /v1/admin/tenants/ID/resume   parked messages go back to their SMSC queues (`queued`)
 *   GET  /v1/admin/tenants/ID/pause    {"tenant","paused","parked"}
 */
import type uWS from 'uWebSockets.js';
import type { PauseControl } from '../parking/pause-control.js';
import { z } from 'zod';
import { route, TenantId, type RouteSpec } from '../api-spec/route-spec.js';
import { guard, sendError, sendJson, type ApiAuth, type AuthTenant } from './http-kit.js';

export interface PauseRouteDeps {
  readonly control: PauseControl;
  readonly auth: ApiAuth<AuthTenant>;
  readonly tenants: ReadonlySet<string>;
}

export function registerPauseRoutes(app: uWS.TemplatedApp, d: PauseRouteDeps): void {
  const tenantOf = (res: uWS.HttpResponse, req: uWS.HttpRequest): string | undefined => {
    if (!d.auth.admin(res, req)) return undefined;
    const t = req.getParameter(0) ?? '';
    if (!d.tenants.has(t)) {
      sendError(res, 'NOT_FOUND', `no tenant "${t}"`);
      return undefined;
    }
    return t;
  };
  app.post('/v1/admin/tenants/:id/pause', (res, req) => {
    const t = tenantOf(res, req);
    if (t === undefined) return;
    const g = guard(res);
    return d.control.pause(t).then(
      (r) => void (g.alive() && sendJson(res, '200 OK', r)),
      (err: Error) => void (g.alive() && sendError(res, 'UNAVAILABLE', `pause not confirmed: ${err.message}`)),
    );
  });
  app.post('/v1/admin/tenants/:id/resume', (res, req) => {
    const t = tenantOf(res, req);
    if (t === undefined) return;
    const g = guard(res);
    return d.control.resume(t).then(
      (r) => void (g.alive() && sendJson(res, '200 OK', r)),
      (err: Error) => void (g.alive() && sendError(res, 'UNAVAILABLE', `resume failed: ${err.message}`)),
    );
  });
  app.get('/v1/admin/tenants/:id/pause', (res, req) => {
    const t = tenantOf(res, req);
    if (t === undefined) return;
    const g = guard(res);
    return Promise.all([d.control.isPaused(t), d.control.parked(t)]).then(
      ([paused, parked]) => void (g.alive() && sendJson(res, '200 OK', { tenant: t, paused, parked })),
      (err: Error) => void (g.alive() && sendError(res, 'UNAVAILABLE', err.message)),
    );
  });
}

const Tenant = z.object({ id: TenantId });
const Changed = z.object({ tenant: TenantId, paused: z.boolean(), confirmed: z.array(z.string()).describe('node:smsc of every actor that confirmed'), parked: z.number().int() });

/** The contracts of these routes (engine/api-spec/). */
export const PAUSE_ROUTES: readonly RouteSpec[] = [
  route({ method: 'post', path: '/v1/admin/tenants/:id/pause', summary: 'Pause a tenant: answers once no operator actor starts a submit for it', tags: ['admin'], auth: 'admin', params: Tenant, ok: { 200: Changed }, errors: ['NOT_FOUND', 'UNAVAILABLE'] }),
  route({ method: 'post', path: '/v1/admin/tenants/:id/resume', summary: "Resume a tenant: its parked messages go back to their SMSC queues", tags: ['admin'], auth: 'admin', params: Tenant, ok: { 200: Changed }, errors: ['NOT_FOUND', 'UNAVAILABLE'] }),
  route({ method: 'get', path: '/v1/admin/tenants/:id/pause', summary: 'Whether a tenant is paused, and how many messages are parked', tags: ['admin'], auth: 'admin', params: Tenant, ok: { 200: z.object({ tenant: TenantId, paused: z.boolean(), parked: z.number().int() }) }, errors: ['NOT_FOUND', 'UNAVAILABLE'] }),
];
