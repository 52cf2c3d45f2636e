/**
 * Frames say what happened, nothing else (issue 12, item 6), against a real
 * Redis: a delivered status has no error (it carried 000/DELIVRD); a lookup of
 * a multipart message in flight has no error (it showed `sent` with the error
 * of a finished part); an expiry the engine decides has a stable code (it had
 * a text only); and a message whose validity ends while nobody can send it
 * ends `expired` at its validity (it stayed `queued` until validity + grace).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lookupMessage } from '../../engine/lifecycle/message-query.js';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { RedisStore, type NewMessage, type QueueEntry } from '../../engine/queue/redis-store.js';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { harnessSession } from '../helpers/harness-session.js';
import { noReadInFlight } from '../helpers/no-read-in-flight.js';
import { waitFor } from '../helpers/wait-for.js';

let redis: Redis;
let store: RedisStore;
const prefix = `t:${randomBytes(3).toString('hex')}:`;
const CONSUMER = 'test:c1';
const GRACE_SEC = 6 * 3600;

/** Test names → message ids of this deployment (one shard here). */
const ids = new Map<string, string>();
function sid(name: string): string {
  let v = ids.get(name);
  if (v === undefined) ids.set(name, (v = newShardedMessageId(0)));
  return v;
}

function message(name: string, o: { parts?: number; validMs?: number } = {}): NewMessage {
  const id = sid(name);
  const now = Date.now();
  const parts = o.parts ?? 1;
  const validUntil = now + (o.validMs ?? 3600_000);
  return {
    id, tenant: 'acme', ref: 'ref-' + name, to: '4791234567', from: 'Acme', smsc: 'a',
    dataCoding: 0, esmClass: parts > 1 ? 0x40 : 0,
    parts: Array.from({ length: parts }, (_, i) => ({ shortMessage: Buffer.from([0x05, 0x00, 0x03, 0x01, parts, i + 1, 0x48, 0x00]) })),
    acceptedAt: now, validUntil, ttlSec: Math.ceil((validUntil - now) / 1000) + GRACE_SEC + 600, pushStatus: true, route: 'NO|242|01|0.031|EUR',
  };
}

async function readAll(n: number): Promise<QueueEntry[]> {
  const out: QueueEntry[] = [];
  for (let i = 0; i < 20 && out.length < n; i++) out.push(...(await store.read(CONSUMER, store.keys.queuesOf('a'), n - out.length, '>')).entries);
  return out;
}

/** The status frames of a message, in order. */
async function framesOf(name: string): Promise<Array<Record<string, unknown>>> {
  const id = sid(name);
  const entries = await redis.xrange(store.keys.eventsOf(0), '-', '+');
  return entries.flatMap(([, f]) => {
    const frame = JSON.parse(f[f.indexOf('f') + 1] as string) as Record<string, unknown>;
    return frame.id === id ? [frame] : [];
  });
}

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'));
  store = new RedisStore(redis, prefix, { eventsMaxLen: 100_000, finalRetentionSec: 3600 });
  await store.ensureGroups('a');
});

afterAll(async () => {
  const keys = await redis.keys(prefix + '*');
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('honest frames', () => {
  it('a delivered frame carried error 000/DELIVRD: delivered frames and lookups have no error', async () => {
    await store.enqueue([message('d1')]);
    const [e] = (await readAll(1)) as [QueueEntry];
    await store.submitted('a', 3600, [{ entry: e, normId: 'kd1', rawId: 'KD1' }]);
    expect(await store.receipts('a', 3600, [{ state: 'D', errCode: '000', errText: 'DELIVRD', key: 'kd1', raw: '' }])).toEqual([1]);
    const frames = await framesOf('d1');
    expect(frames.map((f) => f.status)).toEqual(['sent', 'delivered']);
    expect(frames[1]).not.toHaveProperty('error');
    const m = await lookupMessage(redis, store.keys, 'acme', sid('d1'));
    expect(m?.status).toBe('delivered');
    expect(m).not.toHaveProperty('error');
    expect(m?.events.at(-1)).toEqual({ status: 'delivered', at: expect.any(Number) as number });
  });

  it('a lookup showed status sent with an error while other parts were pending: the error comes with the final failure', async () => {
    await store.enqueue([message('s2', { parts: 2 })]);
    const [p1, p2] = (await readAll(2)) as [QueueEntry, QueueEntry];
    await store.submitted('a', 3600, [{ entry: p1, normId: 'ks1', rawId: 'KS1' }, { entry: p2, normId: 'ks2', rawId: 'KS2' }]);
    await store.receipts('a', 3600, [{ state: 'U', errCode: '011', errText: 'UNDELIV', key: 'ks1', raw: 'stat:UNDELIV err:011' }]);
    const pending = await lookupMessage(redis, store.keys, 'acme', sid('s2'));
    expect(pending?.status).toBe('sent');
    expect(pending).not.toHaveProperty('error');
    expect(pending?.partStates.map((p) => p.state)).toEqual(['undelivered', 'sent']);
    await store.receipts('a', 3600, [{ state: 'D', errCode: '000', errText: 'DELIVRD', key: 'ks2', raw: '' }]);
    const final = await lookupMessage(redis, store.keys, 'acme', sid('s2'));
    expect(final).toMatchObject({ status: 'undelivered', error: { code: '011', text: 'UNDELIV' } });
    expect((await framesOf('s2')).at(-1)).toMatchObject({ status: 'undelivered', error: { code: '011', text: 'UNDELIV' } });
  });

  it('a message whose validity ended while its SMSC read nothing stayed queued until validity + grace: it ends expired (VALIDITY_EXPIRED) at its validity', async () => {
    await store.enqueue([message('v1', { validMs: 1000, parts: 2 })]);
    expect(await redis.xlen(store.keys.queueOf('a', 0))).toBe(2);
    // before its validity ends: nothing
    expect(await store.sweepExpired(Date.now(), 1000, GRACE_SEC)).toBe(0);
    expect(await store.sweepExpired(Date.now() + 1500, 1000, GRACE_SEC)).toBe(1);
    expect(await redis.hget(store.keys.msg(sid('v1')), 's')).toBe('expired');
    const frames = await framesOf('v1');
    expect(frames).toEqual([expect.objectContaining({ status: 'expired', error: { code: 'VALIDITY_EXPIRED', text: 'validity period ran out before the message could be sent' } })]);
    // its entries are gone from the queue (no actor will read them) and it left the expiry index
    expect(await redis.xlen(store.keys.queueOf('a', 0))).toBe(0);
    expect(await redis.zscore(store.keys.expiryOf(0), sid('v1'))).toBeNull();
    expect(await lookupMessage(redis, store.keys, 'acme', sid('v1'))).toMatchObject({ status: 'expired', error: { code: 'VALIDITY_EXPIRED' } });
  });

  it('at its validity end a message an actor holds or sent waits for validity + grace: a late receipt still counts', async () => {
    await store.enqueue([message('r1', { validMs: 1000 }), message('r2', { validMs: 1000 })]);
    const [e1] = (await readAll(2)) as [QueueEntry, QueueEntry];
    await store.submitted('a', 3600, [{ entry: e1, normId: 'kr1', rawId: 'KR1' }]);
    // r1 sent, r2 read by an actor (it may be on the wire): both re-scored to validity + grace
    expect(await store.sweepExpired(Date.now() + 1500, 1000, GRACE_SEC)).toBe(2);
    expect(await redis.hget(store.keys.msg(sid('r1')), 's')).toBe('sent');
    expect(await redis.hget(store.keys.msg(sid('r2')), 's')).toBe('queued');
    expect(Number(await redis.zscore(store.keys.expiryOf(0), sid('r1')))).toBeGreaterThan(Date.now() + (GRACE_SEC - 60) * 1000);
    expect(await store.sweepExpired(Date.now() + 2000, 1000, GRACE_SEC)).toBe(0);
    expect(await store.receipts('a', 3600, [{ state: 'D', errCode: '000', errText: 'DELIVRD', key: 'kr1', raw: '' }])).toEqual([1]);
    expect(await redis.hget(store.keys.msg(sid('r1')), 's')).toBe('delivered');
    // at validity + grace: r2 ends expired with its code
    expect(await store.sweepExpired(Date.now() + 1000 + GRACE_SEC * 1000 + 500, 1000, GRACE_SEC)).toBe(1);
    expect((await framesOf('r2')).at(-1)).toMatchObject({ status: 'expired', error: { code: 'VALIDITY_EXPIRED' } });
  });
});

/** Forwards to the SMSC until frozen (bytes held both ways, connections open), then cut (closed, refused). */
class FreezingRelay {
  private readonly server: Server = createServer((s) => this.onConnection(s));
  private readonly sockets: Socket[] = [];
  private frozen = false;
  target = 0;
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.port = (this.server.address() as { port: number }).port;
  }

  private onConnection(client: Socket): void {
    const up = createConnection({ host: '127.0.0.1', port: this.target });
    this.sockets.push(client, up);
    for (const s of [client, up]) s.on('error', () => undefined);
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.on('data', (d) => !this.frozen && up.write(d));
    up.on('data', (d) => !this.frozen && client.write(d));
  }

  freeze(): void {
    this.frozen = true;
  }

  cut(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }
}

describe('honest frames, end to end', () => {
  const session = harnessSession();
  const downAndShortLived = (raw: Record<string, unknown>) => {
    // the SMSC stays eligible while down (its messages queue), validity can be short, grace is long
    (raw.routing as Record<string, unknown>).downAfterMs = 600_000;
    raw.messages = { minValiditySec: 1, receiptGraceSec: 3600 };
  };

  it('a message whose validity ends while its only SMSC is down ends expired at its validity, not at validity + grace', async () => {
    const h = await session.start({ smscs: 1, configOverrides: downAndShortLived });
    await waitFor(() => h.engine.actorStats().some((s) => s.binds.some((b) => b.up)), 20_000, 'a bind up');
    await h.sims[0]?.stop();
    await waitFor(() => h.engine.actorStats().every((s) => s.binds.every((b) => !b.up)), 20_000, 'the SMSC down');
    // no read of the actor still in flight: the message stays unread in its queue (the sweep's case)
    await noReadInFlight(h, 'sim-a');
    const c = await session.client();
    c.send({ op: 'submit', ref: 'v', to: '+4791234567', from: 'Acme', text: 'soon stale', validity: 2 });
    const ack = await c.next((f) => f.op === 'ack' || f.op === 'nack');
    expect(ack).toMatchObject({ op: 'ack', status: 'queued' });
    const expired = await c.next((f) => f.op === 'status', 20_000);
    expect(expired).toMatchObject({ id: ack.id, status: 'expired', error: { code: 'VALIDITY_EXPIRED' } });
    let queued = 0;
    for (const q of h.engine.store.keys.queuesOf('sim-a')) queued += await h.engine.store.redis.xlen(q);
    expect(queued).toBe(0);
  });

  it('a message its actor holds when the SMSC goes away (on the wire, bind lost) ends expired at its validity, not at validity + grace', async () => {
    const relay = new FreezingRelay();
    await relay.start();
    try {
      const h = await session.start({
        smscs: 1,
        binds: 1,
        configOverrides: (raw) => {
          downAndShortLived(raw);
          const smsc = (raw.smscs as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
          relay.target = smsc.port as number;
          smsc.port = relay.port;
        },
      });
      await waitFor(() => h.engine.actorStats().some((s) => s.binds.some((b) => b.up)), 20_000, 'a bind up');
      const c = await session.client();
      // the SMSC stops answering: the submit goes out and hangs, then the connection is lost
      relay.freeze();
      c.send({ op: 'submit', ref: 'held', to: '+4791234567', from: 'Acme', text: 'on the wire', validity: 2 });
      const ack = await c.next((f) => f.op === 'ack' || f.op === 'nack');
      expect(ack).toMatchObject({ op: 'ack', status: 'queued' });
      await waitFor(() => h.engine.actorStats().some((s) => s.binds.some((b) => b.inFlight > 0)), 20_000, 'the submit on the wire');
      relay.cut();
      await waitFor(() => h.engine.actorStats().every((s) => s.binds.every((b) => !b.up)), 20_000, 'the bind lost');
      const expired = await c.next((f) => f.op === 'status', 20_000);
      expect(expired).toMatchObject({ id: ack.id, status: 'expired', error: { code: 'VALIDITY_EXPIRED' } });
      expect(h.sims[0]?.stats.submitsAccepted).toBe(0);
    } finally {
      relay.cut();
    }
  });
});
