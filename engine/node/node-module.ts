/**
 * A feature of an engine node and the list that runs them.
 *
 * `startEngine` (engine/engine.ts) is a list of feature modules: each owns its
 * objects, its timers, its HTTP routes and WebSocket ops, and says how it starts
 * and stops. The engine creates them in list order (a module's constructor work
 * has no Redis side effects beyond defining scripts; what depends on another
 * module gets it, or a getter for it, as an argument), then starts them in list
 * order and stops them in the reverse order. Adding a feature is adding a file
 * and one line to the list (fastify's plugins; the shape `Lifecycle` already had).
 *
 * ```
 *   openNode() ──▶ NodeContext (config, Redis connections, keys, clock, log, fleet, metrics)
 *        │
 *        ▼ create, in list order           start, in list order ───▶ ingress listens last
 *   [ events, push, policy, lifecycle, actors, analytics, webhooks, routing, takeover, sweep, ops, ingress ]
 *        ▲ stop, in reverse order (ingress closes first) ◀───┘   then node.close(): leases, connections
 * ```
 *
 * A module's `stop` must be safe when its `start` never ran (a start that fails
 * stops every module that was created) and is awaited before the next one's.
 * A module that needs another gets it as an argument when it is created; one
 * created later (a cycle: the actors report to routing, routing reads the
 * actors) as a getter, read only once the modules run.
 */
import type uWS from 'uWebSockets.js';
import type { ApiAuth, AuthTenant } from '../http/http-kit.js';
import type { WsOp } from '../ingress/ingress-server.js';
import type { LogFn } from '../log.js';

/** What a module's routes authenticate with. */
export interface HttpScope {
  /** API keys → tenants, and the admin key. */
  readonly auth: ApiAuth<AuthTenant>;
  /** Whether the request carries the admin key (SWITCHYARD_ADMIN_KEY). */
  isAdmin(req: uWS.HttpRequest): boolean;
}

export interface NodeModule {
  /** Named in logs when its start or stop fails. */
  readonly name: string;
  /** Called in list order; if it throws the engine's start fails and every created module is stopped. */
  start?(): Promise<void> | void;
  /** Called in reverse list order, also when start never ran; a failure is logged, the rest still stop. */
  stop?(): Promise<void> | void;
  /** Registers the module's HTTP routes (called once, when the ingress builds its app). */
  routes?(app: uWS.TemplatedApp, http: HttpScope): void;
  /** WebSocket ops (`{"op": name, …}` frames) beside submit/batch/cancel/ping; read after `routes`. */
  wsOps?(): ReadonlyMap<string, WsOp>;
}

/** The engine's modules: created in order, started in order, stopped in reverse. */
export class NodeModules {
  private readonly list: NodeModule[] = [];

  constructor(private readonly log: LogFn) {}

  /** Adds a created module to the list (returned for the engine's wiring). */
  add<M extends NodeModule>(m: M): M {
    this.list.push(m);
    return m;
  }

  /** Starts every module in order; a failure is thrown as it is (the caller stops the list). */
  async start(): Promise<void> {
    for (const m of this.list) await m.start?.();
  }

  /** Stops every module in reverse order; one that fails is logged and the rest still stop. */
  async stop(): Promise<void> {
    for (const m of [...this.list].reverse()) {
      try {
        await m.stop?.();
      } catch (err) {
        this.log('warn', `stopping ${m.name} failed: ${(err as Error).message}`);
      }
    }
  }

  /** Every module's routes, and their WebSocket ops merged (an op name offered twice is a wiring bug). */
  routes(app: uWS.TemplatedApp, http: HttpScope): ReadonlyMap<string, WsOp> {
    const ops = new Map<string, WsOp>();
    for (const m of this.list) {
      m.routes?.(app, http);
      for (const [name, op] of m.wsOps?.() ?? []) {
        if (ops.has(name)) throw new Error(`WebSocket op ${name} offered by two modules (${m.name})`);
        ops.set(name, op);
      }
    }
    return ops;
  }
}
