/**
 * The fleet's records over time (engine/fleet/): leader leases carry a fencing
 * epoch and the takeover leader's work refuses a stale one (a leader deposed
 * while paused, acting late); dead nodes' `{c}nodes` records are deleted after
 * fleet.deadNodeRetentionMs once their work is taken over, and kept while their
 * analytics consumer still has entries; the default node id's refusal says what to do.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ANALYTICS_GROUP } from '../../analytics/event-sink.js';
import { Fleet, fleetKeys, type FleetOptions } from '../../engine/fleet/fleet.js';
import { ADOPT_LISTS, FORGET_NODE, Takeover, takeoverFence } from '../../engine/fleet/takeover.js';
import { eventStreamKeys } from '../../engine/queue/event-streams.js';
import { Keys } from '../../engine/queue/keys.js';
import { Shards } from '../../engine/queue/shards.js';
import type { RedisClient } from '../../engine/redis/connect-redis.js';
import { connectTarget, dropPrefix, redisTargets } from '../helpers/redis-targets.js';

const quiet = (): void => undefined;

describe.each(redisTargets())('fleet records on $name Redis', (t) => {
  const prefix = `fleetrec:${randomBytes(3).toString('hex')}:`;
  const keys = new Keys(prefix, new Shards(4));
  const k = fleetKeys(keys);
  const clients: RedisClient[] = [];
  const fleets: Fleet[] = [];
  const r = connectTarget(t, 'fleet-records');
  afterAll(async () => {
    for (const f of fleets) await f.stop();
    await dropPrefix(r, prefix);
    r.disconnect();
    for (const c of clients) c.disconnect();
  });

  /**
   * A node that ticks only when the test says so (register, then tick()): no timer to race with.
   * Its leases are long (60 s): a lease trusted locally must not run out between a tick and the
   * check after it on a loaded machine; a "pause" is made by expiring the record in Redis.
   */
  async function node(nodeId: string, o: Partial<FleetOptions> = {}): Promise<Fleet> {
    const c = connectTarget(t, `fleet-${nodeId}`);
    clients.push(c);
    const f = new Fleet(c, keys, { nodeId, addr: `127.0.0.1:${nodeId.length}`, heartbeatTtlMs: 3000, leaseTtlMs: 60_000, leaseMarginMs: 1000, smscs: [], log: quiet, ...o });
    fleets.push(f);
    await f.register();
    return f;
  }

  const redisNow = async (): Promise<number> => {
    const [s, us] = await r.time();
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  };
  const adopt = (tenant: string, from: string, to: string, epoch: number) =>
    r.eval(ADOPT_LISTS.lua, ADOPT_LISTS.numberOfKeys, keys.webhookQueue(tenant, from), keys.webhookQueue(tenant, to), takeoverFence(keys, tenant), 100, epoch) as Promise<[number, number]>;

  it("a leader lease taken over gets a higher epoch, and the deposed leader's late action is refused", async () => {
    const a = await node('la');
    a.isLeader('takeover'); // asked for: contended from the next tick
    await a.tick();
    expect(a.isLeader('takeover')).toBe(true);
    const ea = a.leaderEpoch('takeover') as number;
    expect(ea).toBeGreaterThan(0);
    await a.tick();
    expect(a.leaderEpoch('takeover')).toBe(ea); // a renewal keeps the epoch
    await r.rpush(keys.webhookQueue('acme', 'dead1'), 'e1', 'e2');
    expect(await adopt('acme', 'dead1', 'la', ea)).toEqual([2, 0]);

    // a is paused past its lease (its record runs out in Redis); b takes the duty with a new epoch.
    const rec = (await r.hget(k.lead, 'takeover')) as string;
    await r.hset(k.lead, 'takeover', rec.replace(/\|\d+$/, `|${(await redisNow()) - 1}`));
    const b = await node('lb');
    b.isLeader('takeover');
    await b.tick();
    expect(b.isLeader('takeover')).toBe(true);
    const eb = b.leaderEpoch('takeover') as number;
    expect(eb).toBeGreaterThan(ea);
    await r.rpush(keys.webhookQueue('acme', 'dead2'), 'e3');
    expect(await adopt('acme', 'dead2', 'lb', eb)).toEqual([1, 0]);

    // a wakes up and acts with the epoch it last knew (no tick since): refused.
    await r.rpush(keys.webhookQueue('acme', 'dead3'), 'e4');
    expect(await adopt('acme', 'dead3', 'la', ea)).toEqual([-1, 0]);
    expect(await r.lrange(keys.webhookQueue('acme', 'dead3'), 0, -1)).toEqual(['e4']);
    // Deleting a record is checked against the lease itself: a's epoch is not the holder's.
    const forget = (f: Fleet, epoch: number) => r.eval(FORGET_NODE.lua, FORGET_NODE.numberOfKeys, k.nodes, k.figs, k.lead, 'ghost', 'boot', 0, f.nodeId, f.boot, epoch);
    expect(await forget(a, ea)).toBe(-1);
    // At its next tick a learns it was deposed.
    await a.tick();
    expect(a.isLeader('takeover')).toBe(false);
    expect(a.leaderEpoch('takeover')).toBeUndefined();
    expect(await forget(b, eb)).toBe(0); // no such node: nothing to delete
  });

  it("a dead node's record is deleted after the retention once its work is taken over, not before, and not while its analytics consumer has entries", async () => {
    await r.hdel(k.lead, 'takeover'); // the last test's leader
    const leader = await node('keeper');
    const now = await redisNow();
    // Three dead nodes: one dead long ago, one dead just now, one dead long ago with analytics entries pending.
    await r.hset(k.nodes, 'old', `b1|${now - 120_000}|127.0.0.1:1`, 'recent', `b2|${now - 500}|127.0.0.1:2`, 'busy', `b3|${now - 120_000}|127.0.0.1:3`);
    await r.hset(k.figs, 'old', '{}', 'recent', '{}', 'busy', '{}');
    const ev = eventStreamKeys(keys)[1] as string;
    await r.xgroup('CREATE', ev, ANALYTICS_GROUP, '$', 'MKSTREAM');
    await r.xadd(ev, '*', 't', 'acme', 'f', '{}');
    await r.xreadgroup('GROUP', ANALYTICS_GROUP, 'sink-busy', 'COUNT', 10, 'STREAMS', ev, '>');
    const takeover = new Takeover({ fleet: leader, redis: r, keys, webhookTenants: [], webhooks: undefined, analytics: undefined, deadNodeRetentionMs: 60_000, log: quiet });
    leader.isLeader('takeover');
    await leader.tick();
    expect(leader.isLeader('takeover')).toBe(true);
    const mine = ['busy', 'old', 'recent'];
    const dead = () => leader.deadNodes().map((n) => n.id).filter((id) => mine.includes(id)).sort();
    expect(dead()).toEqual(['busy', 'old', 'recent']);
    await takeover.tick();
    expect(takeover.counts.forgotten).toBe(1);
    expect(await Promise.all(mine.map((id) => r.hexists(k.nodes, id)))).toEqual([1, 0, 1]);
    expect(await r.hexists(k.figs, 'old')).toBe(0);
    await leader.tick();
    expect(dead()).toEqual(['busy', 'recent']);
  });

  it('a duplicate of the default node id is refused with what to do', async () => {
    // A live node1 (its heartbeat renewed every second); a second one is refused once it sees it renewed.
    const first = await node('node1');
    await first.start();
    const err = await node('node1').then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe('NODE_ID_IN_USE');
    expect(err?.message).toMatch(/node1 is the default: every node of a fleet needs its own engine\.nodeId/);
  });
});
