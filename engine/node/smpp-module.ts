/**
 * The SMPP server ingress (engine/smpp-server/): customers bind as ESMEs and
 * submit through the WebSocket submit path of the ingress module; receipts
 * and MO messages go back to them as deliver_sm. Idle unless
 * smppServer.enabled; its admin routes (GET /v1/admin/smpp/binds, POST
 * /v1/admin/smpp/binds/:id/kick) answer either way. Listed after the ingress:
 * it starts once the ingress listens and stops before it closes.
 */
import { resolveSecret } from '../../config/index.js';
import type { IngressServer } from '../ingress/ingress-server.js';
import { SmppIngress } from '../smpp-server/index.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface SmppModule extends NodeModule {
  readonly smpp: SmppIngress;
}

export function smppModule(ctx: NodeContext, o: { readonly ingress: () => IngressServer }): SmppModule {
  const { config } = ctx;
  const smpp = new SmppIngress({
    config: config.smppServer,
    tenants: config.tenants.flatMap((t) => (t.smpp === undefined ? [] : [{ tenant: t.id, systemId: t.smpp.systemId, password: resolveSecret(t.smpp.password, `tenants[${t.id}].smpp.password`, ctx.env), maxBinds: t.smpp.maxBinds, dataCoding0: t.smpp.dataCoding0 }])),
    redis: ctx.target,
    keys: ctx.keys,
    node: config.engine.nodeId,
    submit: { submit: (tenant, f, done) => o.ingress().submitAs(tenant, f, done), queueFull: () => o.ingress().pendingEnqueue >= config.server.maxPendingEnqueue },
    minValiditySec: config.messages.minValiditySec,
    maxValiditySec: config.messages.maxValiditySec,
    registry: config.engine.metrics ? ctx.metrics.registry : undefined,
    log: ctx.log,
  });
  return {
    name: 'smpp',
    smpp,
    start: () => smpp.start(),
    stop: () => smpp.stop(),
    routes: (app, http) => smpp.routes(app, (req) => http.isAdmin(req)),
  };
}
