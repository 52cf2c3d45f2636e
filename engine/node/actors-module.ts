/**
 * The operator actors (engine/actors/): one per SMSC in a worker thread, under
 * the supervisor. Each learns after every fleet tick which bind slots this
 * node holds (a drained slot is handed back to the fleet), and its figures go
 * out with the tick for the other nodes' health view.
 */
import { resolveSecret } from '../../config/index.js';
import type { ActorSmscConfig, ActorStats } from '../actors/messages.js';
import { Supervisor } from '../actors/supervisor.js';
import { inboundKey } from '../mo/read-mo.js';
import type { RoutingService } from '../routing/routing-service.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface ActorsModule extends NodeModule {
  readonly supervisor: Supervisor;
}

export function actorsModule(ctx: NodeContext, d: { readonly routing: () => RoutingService }): ActorsModule {
  const { config, fleet, log } = ctx;
  const smscs: ActorSmscConfig[] = config.smscs.map((s) => ({ ...s, password: resolveSecret(s.password, `smscs[${s.id}].password`, ctx.env) }));
  const supervisor = new Supervisor({
    actors: smscs.length,
    redis: ctx.target,
    keyPrefix: config.redis.keyPrefix,
    shards: config.redis.shards,
    nodeId: config.engine.nodeId,
    reclaimIdleMs: config.fleet.reclaimAfterMs,
    leased: true,
    drainMs: config.fleet.drainMs,
    stateFlushMs: config.engine.stateFlushMs,
    metrics: config.engine.metrics,
    receiptGraceSec: config.messages.receiptGraceSec,
    eventsMaxLen: ctx.eventsMaxLen,
    finalRetentionSec: config.messages.finalRetentionSec,
    restartBackoffMs: config.engine.restartBackoffMs,
    mo: {
      inbound: Object.fromEntries(config.tenants.flatMap((t) => t.inboundNumbers.map((n) => [inboundKey(n), t.id]))),
      defaultTenant: config.mo.defaultTenant,
      stopKeywords: config.mo.stopKeywords,
      startKeywords: config.mo.startKeywords,
      unattributedStop: config.mo.unattributedStop,
    },
    optOutHorizonSec: config.messages.maxValiditySec,
  });
  supervisor.on('log', (level: 'info' | 'warn' | 'error', smsc: string, msg: string) => log(level, `[${smsc}] ${msg}`));
  supervisor.on('stats', (s: ActorStats) => d.routing().onBindChange(s, supervisor.actorState(s.smsc)?.running ?? false));
  supervisor.on('crash', (smsc: string, err: Error, delay: number) => log('error', `[${smsc}] actor crashed (${err.message}); restarting in ${delay} ms`));
  supervisor.on('restart', (smsc: string) => ctx.metrics.actorRestarted(smsc));
  ctx.metricFeeds.threads.push(() => supervisor.metricsParts());
  // This node's SMSC figures go out with every fleet tick: the other nodes' health feeds add them up.
  fleet.onTick(() => ctx.figures.setHealth(supervisor.stats()));
  // Bind leases: after each fleet tick every actor learns the slots this node holds; a drained one goes back.
  const passLeases = (): void => {
    for (const s of config.smscs) {
      const l = fleet.leases(s.id);
      if (l !== undefined) supervisor.setLeases(s.id, l);
    }
  };
  passLeases();
  fleet.onTick(passLeases);
  fleet.onSuperseded(passLeases);
  supervisor.on('released', (smsc: string, index: number) => fleet.release(smsc, index));
  return {
    name: 'actors',
    supervisor,
    async start() {
      for (const s of config.smscs) await ctx.store.ensureGroups(s.id);
      supervisor.start(smscs);
    },
    stop: () => supervisor.stop(),
  };
}
