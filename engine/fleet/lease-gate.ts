/**
 * The actor thread's side of the bind leases (engine/fleet/fleet.ts): the
 * BindLeasePort of one SMSC's operator actor, fed with the fleet's view of
 * this node's slots after every tick (through the supervisor's message port).
 *
 * Whether a slot may be used is decided here, on the monotonic clock shared
 * by every thread (mono-clock.ts), at the moment of asking: the actor asks
 * before each submit and the SMPP connection before it writes its output. A
 * stale view only errs one way: its validUntil is an instant that has passed
 * or will, never one pushed later than the fleet vouched for.
 *
 * A slot the actor gives back (released) stays unusable until the fleet's
 * view no longer lists it with the same epoch: a view sent before the release
 * reached Redis must not hand it back to the actor.
 */
import type { BindLeasePort } from '../actors/operator-actor.js';
import type { SmscLeases } from './fleet.js';
import { monoMs } from './mono-clock.js';

export class LeaseGate implements BindLeasePort {
  private slots = new Map<number, number>();
  private drain = new Set<number>();
  private validUntil = 0;
  private live: ReadonlySet<string> | undefined;
  private readonly givenBack = new Map<number, number>();
  private readonly listeners: Array<() => void> = [];

  constructor(
    /** Tells the main thread a slot's bind is closed: the fleet gives it back at its next tick. */
    private readonly report: (index: number) => void,
  ) {}

  update(l: SmscLeases): void {
    const held = new Map<number, number>();
    for (const h of l.held) {
      if (this.givenBack.get(h.index) === h.epoch) continue;
      held.set(h.index, h.epoch);
    }
    for (const i of [...this.givenBack.keys()]) if (!l.held.some((h) => h.index === i && h.epoch === this.givenBack.get(i))) this.givenBack.delete(i);
    this.slots = held;
    this.drain = new Set(l.drain);
    this.validUntil = l.validUntil;
    this.live = new Set(l.liveNodes);
    for (const cb of this.listeners) cb();
  }

  usable(index: number): boolean {
    return this.slots.has(index) && !this.drain.has(index) && monoMs() < this.validUntil;
  }

  draining(index: number): boolean {
    return this.slots.has(index) && this.drain.has(index);
  }

  held(index: number): boolean {
    return this.slots.has(index);
  }

  released(index: number): void {
    const epoch = this.slots.get(index);
    if (epoch === undefined) return;
    this.givenBack.set(index, epoch);
    this.slots.delete(index);
    this.drain.delete(index);
    this.report(index);
  }

  usableCount(): number {
    if (monoMs() >= this.validUntil) return 0;
    let n = 0;
    for (const i of this.slots.keys()) if (!this.drain.has(i)) n++;
    return n;
  }

  onChange(cb: () => void): void {
    this.listeners.push(cb);
  }

  /** The live node ids of a view still fresh (its leases not run out); undefined otherwise: reclaim takes nothing from other nodes then. */
  liveNodes(): ReadonlySet<string> | undefined {
    return monoMs() < this.validUntil ? this.live : undefined;
  }

  /** Whether a slot's lease is valid at all (held, draining or not): the SMPP connection's fence. */
  mayWrite(index: number): boolean {
    return this.slots.has(index) && monoMs() < this.validUntil;
  }
}
