/**
 * The fleet: what one engine node knows of the others and holds against them
 * (issue 14; README "Many nodes"). Started first and stopped last by the engine.
 *
 * API (kept small: the health view, leader duties and takeover build on it):
 *   nodeId, boot          this node's id (engine.nodeId) and this process's random boot id
 *   liveNodes()           the nodes whose heartbeat is live at the last tick, with their address and figures
 *   deadNodes()           the nodes registered whose heartbeat ran out (their work may be taken over)
 *   isLeader(duty)        true while this node holds the duty's leader lease (`{c}lead`, field duty);
 *                         a duty first asked for is contended from the next tick on
 *   leaderEpoch(duty)     the fencing epoch of the duty's lease while this node holds it: passed to
 *                         the scripts of the duty's work, which refuse a lower epoch than they have seen
 *   onTick(cb)            called after every successful tick with the fleet view
 *   publish(figures)      an opaque JSON string stored with the next tick and returned for every live node
 *   leases(smsc)          the bind slots this node holds of an SMSC, with their fencing epochs (bind-leases)
 *   release(smsc, index)  gives a drained slot back at the next tick
 *
 * Everything lives in the control slot {c}: `{c}nodes` (node id ->
 * "boot|expiresAtMs|addr"), `{c}figs` (node id -> figures), `{c}leases`
 * ("smsc#i" -> "node|boot|epoch|expiresAtMs"), `{c}lease:epoch`, `{c}lead`
 * (duty -> "node|boot|epoch|expiresAtMs"). One Lua script (lua/tick.lua) a second
 * renews the heartbeat, stores the figures, renews and takes leader and bind
 * leases and returns the whole view; Redis TIME is the clock of every expiry.
 * No script touches another slot (the queue shards live elsewhere on a cluster).
 *
 *   start ─ register (lua/register.lua) ─▶ tick every second ──▶ stop: leave (lua/leave.lua)
 *             │ id live with another boot:         │ renew REQUEST sent at t (monotonic):
 *             │ wait it out if it stops renewing,   │   a lease held is trusted until
 *             │ refuse (NODE_ID_IN_USE) if not      │   t + leaseTtl − leaseMargin
 *
 * Self-fencing: the expiry Redis writes is (Redis time when the script ran) +
 * leaseTtl, and the script ran after the request was sent; so a lease trusted
 * until (monotonic time the request was SENT) + leaseTtl − margin ends before
 * Redis lets anyone else take it, whatever the reply's delay, as long as the
 * two clocks' rates differ by less than margin / leaseTtl. A reply that comes
 * late extends nothing beyond that; no reply, no extension.
 *
 * A node id whose holder is live is refused; a start whose predecessor with
 * that id crashed waits for the record to run out (at most
 * fleet.heartbeatTtlMs) rather than failing: the record is watched, and a
 * holder that renews it is a live duplicate. A node that finds at a tick that
 * another boot holds its id (it was paused past its heartbeat and replaced)
 * holds nothing from then on and reports it (onSuperseded).
 */
import { randomBytes } from 'node:crypto';
import { DEFAULTS } from '../../config/index.js';
import { SwitchyardError } from '../errors.js';
import type { RedisClient } from '../redis/connect-redis.js';
import { defineLuaCommand, loadLuaScript, luaPath } from '../redis/lua-loader.js';
import type { Keys } from '../queue/keys.js';
import { monoMs } from './mono-clock.js';

const REGISTER = loadLuaScript(luaPath(import.meta.url, './lua/register.lua'));
const TICK = loadLuaScript(luaPath(import.meta.url, './lua/tick.lua'));
const LEAVE = loadLuaScript(luaPath(import.meta.url, './lua/leave.lua'));

/** How often a node ticks (ms): heartbeat, leases, figures. */
export const TICK_MS = 1000;

export interface FleetOptions {
  readonly nodeId: string;
  /** "host:port" others may reach this node at (updated once it listens: setAddress). */
  readonly addr: string;
  readonly heartbeatTtlMs: number;
  readonly leaseTtlMs: number;
  readonly leaseMarginMs: number;
  /** SMSCs whose bind slots are leased: their configured binds are the account's total across the fleet. */
  readonly smscs: ReadonlyArray<{ readonly id: string; readonly binds: number }>;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export interface FleetNode {
  readonly id: string;
  readonly boot: string;
  readonly addr: string;
  /** What the node published last ('' nothing yet). */
  readonly figures: string;
  /** Redis time its heartbeat runs out. */
  readonly expiresAtMs: number;
  readonly self: boolean;
}

/** The bind slots this node holds of one SMSC. */
export interface SmscLeases {
  readonly smsc: string;
  /** The configured binds: the account's total. */
  readonly binds: number;
  /** Slots held, with the fencing epoch of their acquisition. */
  readonly held: ReadonlyArray<{ readonly index: number; readonly epoch: number }>;
  /** Held slots beyond this node's fair share: drain them and give them back (release). */
  readonly drain: ReadonlyArray<number>;
  /** Monotonic ms (mono-clock.ts) until which the held slots may be used: send nothing on them after it. */
  readonly validUntil: number;
  /** Live node ids at the tick (fenced reclaim takes entries of the others' consumers only). */
  readonly liveNodes: ReadonlyArray<string>;
  /** Monotonic ms the tick's request was sent. */
  readonly at: number;
}

export interface FleetView {
  readonly redisNowMs: number;
  readonly nodes: ReadonlyArray<FleetNode>;
  readonly leases: ReadonlyMap<string, SmscLeases>;
}

interface Scripted {
  syFleetRegister(nodes: string, nodeId: string, boot: string, ttl: number, addr: string): Promise<[number, number, string?]>;
  syFleetTick(...args: Array<string | number>): Promise<[number, number, unknown, unknown, unknown]>;
  syFleetLeave(nodes: string, leases: string, leaders: string, figs: string, nodeId: string, boot: string): Promise<number>;
}

/** The control-slot keys of the fleet. */
export function fleetKeys(keys: Keys): { nodes: string; figs: string; leases: string; epoch: string; lead: string } {
  return { nodes: keys.control('nodes'), figs: keys.control('figs'), leases: keys.control('leases'), epoch: keys.control('lease:epoch'), lead: keys.control('lead') };
}

export class Fleet {
  readonly nodeId: string;
  /** Random per process start: tells this process from an earlier one with the same node id. */
  readonly boot = randomBytes(6).toString('hex');
  private readonly s: Scripted;
  private readonly k: ReturnType<typeof fleetKeys>;
  private addr: string;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private figures = '';
  private figuresSent = '';
  private readonly duties = new Set<string>();
  private leaderOf = new Map<string, { holder: string; epoch: number; validUntil: number }>();
  private view: FleetView = { redisNowMs: 0, nodes: [], leases: new Map() };
  private readonly releasing = new Map<string, Set<number>>();
  private readonly tickListeners: Array<(v: FleetView) => void> = [];
  private readonly supersededListeners: Array<(holder: string) => void> = [];
  private superseded = false;
  private started = false;
  /** Ticks that failed in a row (logged once per streak). */
  private failures = 0;

  constructor(
    redis: RedisClient,
    keys: Keys,
    private readonly o: FleetOptions,
  ) {
    this.nodeId = o.nodeId;
    this.addr = o.addr;
    this.k = fleetKeys(keys);
    defineLuaCommand(redis, 'syFleetRegister', REGISTER);
    defineLuaCommand(redis, 'syFleetTick', TICK);
    defineLuaCommand(redis, 'syFleetLeave', LEAVE);
    this.s = redis as unknown as Scripted;
  }

  /**
   * Registers this node (unless register() did) and starts ticking. Throws NODE_ID_IN_USE when a
   * live node holds the id; waits (at most heartbeatTtlMs and a tick) for a
   * dead predecessor's record to run out.
   */
  async start(): Promise<void> {
    if (!this.started) await this.register();
    if (this.timer !== undefined) return;
    await this.tick();
    this.timer = setInterval(() => void this.tick(), TICK_MS);
  }

  /**
   * Registers this node (the duplicate check) without ticking yet: the engine
   * registers first and starts ticking (start) once its main thread is done
   * with the synchronous work of starting (the accept path's warm-up blocks it
   * for seconds on a loaded machine: leases taken before would run out unrenewed).
   */
  async register(): Promise<void> {
    const deadline = monoMs() + this.o.heartbeatTtlMs + 2 * TICK_MS;
    let seen: string | undefined;
    for (;;) {
      const [ok, , holder] = await this.s.syFleetRegister(this.k.nodes, this.nodeId, this.boot, this.o.heartbeatTtlMs, this.addr);
      if (ok === 1) break;
      const rec = String(holder);
      const addr = rec.split('|')[2] ?? '?';
      // The holder renewed its record since we looked: it is alive.
      if ((seen !== undefined && seen !== rec) || monoMs() > deadline) {
        // The default id is kept (not derived from the host): see README "Many nodes" → node identity.
        const hint = this.nodeId === DEFAULTS.engine.nodeId ? ` (${this.nodeId} is the default: every node of a fleet needs its own engine.nodeId, stable across its restarts)` : '';
        throw new SwitchyardError('NODE_ID_IN_USE', `node id ${this.nodeId} is running at ${addr}; give this one its own engine.nodeId${hint}`);
      }
      if (seen === undefined) this.o.log('warn', `node id ${this.nodeId} is registered by another process (${addr}); waiting for its heartbeat to run out (up to ${this.o.heartbeatTtlMs} ms) in case it died`);
      seen = rec;
      await new Promise((ok) => setTimeout(ok, 250));
    }
    this.started = true;
  }

  /** Gives back every lease and the heartbeat: the others take the slots at their next tick. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearInterval(this.timer);
    this.timer = undefined;
    for (let i = 0; i < 100 && this.ticking; i++) await new Promise((ok) => setTimeout(ok, 10));
    this.view = { ...this.view, leases: new Map() };
    if (this.superseded) return;
    try {
      await this.s.syFleetLeave(this.k.nodes, this.k.leases, this.k.lead, this.k.figs, this.nodeId, this.boot);
    } catch (err) {
      this.o.log('warn', `fleet: could not give back the leases (they run out in ${this.o.leaseTtlMs} ms): ${(err as Error).message}`);
    }
  }

  /** The address others reach this node at, once it listens. */
  setAddress(addr: string): void {
    this.addr = addr;
  }

  liveNodes(): ReadonlyArray<FleetNode> {
    return this.view.nodes.filter((n) => n.expiresAtMs > this.view.redisNowMs);
  }

  deadNodes(): ReadonlyArray<FleetNode> {
    return this.view.nodes.filter((n) => n.expiresAtMs <= this.view.redisNowMs);
  }

  isLeader(duty: string): boolean {
    this.duties.add(duty);
    const l = this.leaderOf.get(duty);
    return l !== undefined && l.holder === this.nodeId && monoMs() < l.validUntil;
  }

  /**
   * The fencing epoch of the duty's leader lease while this node holds it (undefined when it does
   * not): every taking of a leader lease gets a higher one, so a script that records the highest
   * epoch it has seen refuses the late action of a leader deposed since (paused past its lease).
   */
  leaderEpoch(duty: string): number | undefined {
    return this.isLeader(duty) ? this.leaderOf.get(duty)?.epoch : undefined;
  }

  /** The node holding a duty's leader lease at the last tick (undefined: none yet). */
  leaderOfDuty(duty: string): string | undefined {
    this.duties.add(duty);
    return this.leaderOf.get(duty)?.holder;
  }

  onTick(cb: (v: FleetView) => void): void {
    this.tickListeners.push(cb);
  }

  /** Called once if another process takes this node's id (this one was paused past its heartbeat). */
  onSuperseded(cb: (holder: string) => void): void {
    this.supersededListeners.push(cb);
  }

  publish(figures: string): void {
    this.figures = figures;
  }

  leases(smsc: string): SmscLeases | undefined {
    return this.view.leases.get(smsc);
  }

  /** A drained slot to give back at the next tick. */
  release(smsc: string, index: number): void {
    let set = this.releasing.get(smsc);
    if (set === undefined) this.releasing.set(smsc, (set = new Set()));
    set.add(index);
  }

  get lastView(): FleetView {
    return this.view;
  }

  /** One tick now (the timer runs them every TICK_MS; tests call it to move on without waiting). */
  async tick(): Promise<void> {
    if (this.ticking || !this.started || this.superseded) return;
    this.ticking = true;
    const duties = [...this.duties];
    const released = new Map([...this.releasing].map(([s, set]) => [s, [...set]]));
    const figures = this.figures !== this.figuresSent ? this.figures : '';
    const args: Array<string | number> = [
      this.k.nodes, this.k.figs, this.k.leases, this.k.epoch, this.k.lead,
      this.nodeId, this.boot, this.addr, this.o.heartbeatTtlMs, this.o.leaseTtlMs, figures, duties.length, this.o.smscs.length,
      ...duties,
    ];
    for (const s of this.o.smscs) args.push(s.id, s.binds, (released.get(s.id) ?? []).join(','));
    // The moment the request goes: what a held lease is trusted from (see the header).
    const sentAt = monoMs();
    try {
      const reply = await this.s.syFleetTick(...args);
      if (this.failures > 0) this.o.log('info', `fleet: ticks work again after ${this.failures} failed`);
      this.failures = 0;
      if (reply[0] === 0) {
        this.superseded = true;
        this.view = { ...this.view, leases: new Map() };
        this.leaderOf = new Map();
        const addr = String(reply[2]).split('|')[2] ?? '?';
        this.o.log('error', `fleet: node id ${this.nodeId} was taken by another process (at ${addr}) while this one could not renew its heartbeat (paused?): this process holds no lease any more and must stop`);
        for (const cb of this.supersededListeners) cb(addr);
        return;
      }
      if (figures !== '') this.figuresSent = figures;
      for (const [s, idx] of released) {
        const set = this.releasing.get(s);
        for (const i of idx) set?.delete(i);
      }
      this.view = this.parse(reply, sentAt, this.o.smscs);
      const validUntil = sentAt + this.o.leaseTtlMs - this.o.leaseMarginMs;
      const flat = reply[4] as string[];
      const leaderOf = new Map<string, { holder: string; epoch: number; validUntil: number }>();
      for (let i = 0; i + 2 < flat.length; i += 3) leaderOf.set(String(flat[i]), { holder: String(flat[i + 1]), epoch: Number(flat[i + 2]), validUntil });
      this.leaderOf = leaderOf;
      for (const cb of this.tickListeners) {
        try {
          cb(this.view);
        } catch (err) {
          this.o.log('error', `fleet: a tick listener failed: ${(err as Error).message}`);
        }
      }
    } catch (err) {
      if (this.failures++ === 0) this.o.log('warn', `fleet: tick failed (leases are trusted until they run out locally): ${(err as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }

  private parse(reply: [number, number, unknown, unknown, unknown], sentAt: number, smscs: FleetOptions['smscs']): FleetView {
    const redisNowMs = Number(reply[1]);
    const flat = reply[2] as string[];
    const nodes: FleetNode[] = [];
    for (let i = 0; i + 4 < flat.length; i += 5) {
      const id = String(flat[i]);
      const boot = String(flat[i + 1]);
      nodes.push({ id, boot, expiresAtMs: Number(flat[i + 2]), addr: String(flat[i + 3]), figures: String(flat[i + 4]), self: id === this.nodeId && boot === this.boot });
    }
    nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const live = nodes.filter((n) => n.expiresAtMs > redisNowMs).map((n) => n.id);
    const validUntil = sentAt + this.o.leaseTtlMs - this.o.leaseMarginMs;
    const leases = new Map<string, SmscLeases>();
    const per = reply[3] as Array<[Array<number | string>, Array<number | string>]>;
    smscs.forEach((s, k) => {
      const [heldFlat, extra] = per[k] ?? [[], []];
      const held: Array<{ index: number; epoch: number }> = [];
      for (let i = 0; i + 2 < heldFlat.length; i += 3) held.push({ index: Number(heldFlat[i]), epoch: Number(heldFlat[i + 1]) });
      leases.set(s.id, { smsc: s.id, binds: s.binds, held, drain: extra.map(Number), validUntil, liveNodes: live, at: sentAt });
    });
    return { redisNowMs, nodes, leases };
  }
}
