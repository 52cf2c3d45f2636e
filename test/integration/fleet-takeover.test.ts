/**
 * Takeover of a dead node's work (issue 14: "a dead node's webhook queues and
 * its analytics consumer's pending entries stay stranded until a node with the
 * same id starts; the stranded entry also stops the events stream from
 * trimming"). What a node that died leaves in Redis is laid down as it would
 * leave it — its record with an expired heartbeat, webhook events queued in
 * its lists, events its webhook dispatcher and its analytics sink had read and
 * not acknowledged — then a survivor starts: its receiver gets every webhook
 * event, its ClickHouse every analytics event, and the dead consumers are gone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../config/index.js';
import { startEngine, type Engine } from '../../engine/engine.js';
import { fleetKeys } from '../../engine/fleet/fleet.js';
import { Keys } from '../../engine/queue/keys.js';
import { Shards } from '../../engine/queue/shards.js';
import { webhookEvent } from '../../engine/webhooks/webhook-batch.js';
import { WEBHOOK_GROUP } from '../../engine/webhooks/webhook-dispatcher.js';
import { ANALYTICS_GROUP } from '../../analytics/event-sink.js';
import { api } from '../helpers/http.js';
import { rawEngineConfig, rawEngineEnv } from '../helpers/raw-engine.js';
import { startReceiver, waitForEvents, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/wait-for.js';

const redisUrl = inject('redisUrl');
const redis = new Redis(redisUrl);
const DEAD = 'node-dead';
const SHARDS = 4;

describe('fleet takeover', () => {
  let engine: Engine | undefined;
  let receiver: WebhookReceiver | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sy-takeover-'));
  afterAll(async () => {
    await engine?.stop();
    await receiver?.down();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the survivor delivers a dead node's webhook backlog and its pending webhook and analytics entries, and deletes its consumers", async () => {
    const prefix = `tko:${randomBytes(3).toString('hex')}:`;
    const keys = new Keys(prefix, new Shards(SHARDS));
    const streams = keys.shards.all().map((k) => keys.eventsOf(k));
    for (const s of streams) {
      await redis.xgroup('CREATE', s, ANALYTICS_GROUP, '0', 'MKSTREAM');
      await redis.xgroup('CREATE', s, WEBHOOK_GROUP, '0', 'MKSTREAM');
    }
    // 1. Events the dead node's consumers read and never acknowledged: 8 per shard.
    const ids: string[] = [];
    for (const [k, s] of streams.entries()) {
      for (let i = 0; i < 8; i++) {
        const id = `dead${k}x${i}`;
        ids.push(id);
        const at = Date.now();
        await redis.xadd(s, '*', 't', 'acme', 'f', `{"op":"status","id":"${id}","status":"delivered","at":${at}}`, 'x', `smsc-a|4791234567|1|${at}|NO|242|01|0.05|EUR||`);
      }
      await redis.xreadgroup('GROUP', WEBHOOK_GROUP, `webhooks-${DEAD}`, 'COUNT', 100, 'STREAMS', s, '>');
      await redis.xreadgroup('GROUP', ANALYTICS_GROUP, `sink-${DEAD}`, 'COUNT', 100, 'STREAMS', s, '>');
    }
    // 2. Webhook events it had queued for acme's receiver (lane 0 and lane 1).
    const queued = Array.from({ length: 30 }, (_, i) => webhookEvent(`s0-1-${i}`, `{"op":"status","id":"queued${i}","status":"delivered"}`));
    await redis.rpush(keys.webhookQueue('acme', DEAD, 0), ...queued.slice(0, 20));
    await redis.rpush(keys.webhookQueue('acme', DEAD, 1), ...queued.slice(20));
    // 3. Its record, its heartbeat run out.
    const [sec] = await redis.time();
    await redis.hset(fleetKeys(keys).nodes, DEAD, `oldboot|${Number(sec) * 1000 - 60_000}|127.0.0.1:1`);

    const r = await startReceiver();
    receiver = r.receiver;
    const env = { ...rawEngineEnv(), SY_HOOK_SECRET: r.secret };
    const raw = rawEngineConfig(
      {
        smscs: [{ port: 1 }],
        configOverrides: (c) => {
          (c.engine as Record<string, unknown>).nodeId = 'survivor';
          (c.redis as Record<string, unknown>).shards = SHARDS;
          c.fleet = { heartbeatTtlMs: 3000, leaseTtlMs: 2000 };
          c.analytics = { enabled: true, dataDir: dir, badNumbers: { enabled: false } };
          const t = (c.tenants as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
          t.webhook = { url: r.receiver.url, secret: { env: 'SY_HOOK_SECRET' }, backoffMs: { min: 50, max: 400 }, concurrency: 2 };
        },
      },
      prefix,
    );
    engine = await startEngine(parseConfig(raw, 'survivor'), { redisUrl, env, log: () => undefined });
    const e = engine;

    // Every webhook event: the 30 it had queued and the 32 its dispatcher had read.
    await waitForEvents(r.receiver, 30 + ids.length, 60_000);
    for (const id of ids) expect(r.receiver.events.some((ev) => ev.id === id)).toBe(true);
    for (let i = 0; i < 30; i++) expect(r.receiver.events.some((ev) => ev.id === `queued${i}`)).toBe(true);
    // Every analytics event in ClickHouse (the survivor's query service answers for it).
    await waitFor(() => e.takeover.counts.analyticsPending === ids.length, 60_000, "the dead sink's batch");
    const admin = (env as NodeJS.ProcessEnv).SWITCHYARD_ADMIN_KEY as string;
    for (const id of [ids[0], ids[ids.length - 1]] as string[]) {
      const res = await api(e.port, admin, 'GET', `/v1/analytics/messages/${id}`);
      expect(res.status).toBe(200);
      expect((res.body.events as Array<{ status: string }>).map((x) => x.status)).toEqual(['delivered']);
    }
    // The dead node's lists are empty and its consumers gone: nothing holds the streams' trimming back.
    expect(await redis.exists(keys.webhookQueue('acme', DEAD, 0), keys.webhookQueue('acme', DEAD, 1))).toBe(0);
    for (const s of streams) {
      for (const g of [WEBHOOK_GROUP, ANALYTICS_GROUP]) {
        const consumers = (await redis.xinfo('CONSUMERS', s, g)) as unknown[][];
        expect(consumers.map((c) => c[c.indexOf('name') + 1])).not.toContain(g === WEBHOOK_GROUP ? `webhooks-${DEAD}` : `sink-${DEAD}`);
      }
      const pending = (await redis.xpending(s, WEBHOOK_GROUP)) as [number];
      expect(pending[0]).toBe(0);
    }
    expect(e.takeover.counts).toMatchObject({ webhookEvents: 30, webhookPending: ids.length, analyticsPending: ids.length });

    // A second node with analytics on embedded chdb is refused at start: it would split the history.
    const second = structuredClone(raw) as Record<string, unknown>;
    (second.engine as Record<string, unknown>).nodeId = 'second';
    (second.analytics as Record<string, unknown>).dataDir = join(dir, 'second');
    await expect(startEngine(parseConfig(second, 'second'), { redisUrl, env, log: () => undefined })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/node "survivor" runs analytics on embedded chdb/),
    });
  }, 120_000);
});
