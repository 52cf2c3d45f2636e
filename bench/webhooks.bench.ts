/**
 * Webhook dispatcher cost: `npm run bench:webhooks -- [options]`.
 *
 *   producer (child process) ─XADD at --rate─▶ Redis ev stream (N status events of one tenant)
 *     → WebhookDispatcher (this process, alone: its CPU is process.cpuUsage)
 *     → signed POSTs → receiver (child process, checks every signature)
 *
 * Measures what the end-to-end benchmark cannot separate on a shared
 * machine: dispatcher CPU and Redis time per event, events per POST, while
 * the receiver keeps up (posted from memory). With --backlog the stream is
 * filled first and the receiver is down while it is read (everything goes to
 * the Redis lists), then up (drained from the lists): the cost of the queued
 * path and how fast a backlog drains. Ends with one JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Keys } from '../engine/queue/keys.js';
import { startPrivateRedis } from '../engine/redis/private-redis.js';
import { WEBHOOK_GROUP, WebhookDispatcher } from '../engine/webhooks/webhook-dispatcher.js';

const { values: a } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    rate: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '500' },
    lanes: { type: 'string', default: '4' },
    'linger-ms': { type: 'string', default: '20' },
    'receiver-delay-ms': { type: 'string', default: '0' },
    backlog: { type: 'boolean', default: false },
  },
});
const N = Number(a.events);

/** The receiver in its own process: prints its port, then the distinct events it accepted, every 100 ms. */
const RECEIVER = `
import { WebhookReceiver } from './dist/engine/loadgen/webhook-receiver.js';
const r = new WebhookReceiver({ secret: process.env.SY_WB_SECRET, keep: false });
r.delayMs = Number(process.env.SY_WB_DELAY);
await r.up();
if (process.env.SY_WB_DOWN === '1') await r.down();
console.log('port ' + new URL(r.url).port);
process.stdin.on('data', async (d) => { if (String(d).includes('up')) { await r.up(); console.log('up'); } });
setInterval(() => console.log('got ' + r.eids.size + ' ' + r.duplicates + ' ' + r.badSignatures + ' ' + r.postCount), 100);
`;

/** N status events of one tenant, as the state scripts write them (frame + analytics fields), at SY_WB_RATE per second (0: at once). */
const PRODUCER = `
import { Redis } from 'ioredis';
const r = new Redis(process.env.SY_WB_REDIS);
const n = Number(process.env.SY_WB_N), rate = Number(process.env.SY_WB_RATE);
const t0 = Date.now();
for (let i = 0; i < n; ) {
  const due = rate === 0 ? n : Math.min(n, Math.floor(((Date.now() - t0) / 1000) * rate) + 1);
  if (due <= i) { await new Promise((ok) => setTimeout(ok, 5)); continue; }
  const p = r.pipeline();
  for (; i < due && (rate > 0 || p.length < 1000); i++) {
    const f = '{"op":"status","id":"01JD' + i.toString(36).padStart(8, '0') + 'QWERTYUIOPAS","ref":"r' + i + '","status":"' + (i % 2 ? 'delivered' : 'sent') + '","at":' + Date.now() + '}';
    p.xadd(process.env.SY_WB_KEY, '*', 't', 'bench', 'f', f, 'x', 'sim-0|4791234567|1|1732290000000|NO|242|01|0.032|EUR');
  }
  await p.exec();
}
r.disconnect();
`;

async function main(): Promise<void> {
  const dir = 'data/bench-webhooks';
  rmSync(dir, { recursive: true, force: true });
  const redis = await startPrivateRedis({ dir: `${dir}/redis` });
  const r = new Redis(redis.url);
  const cmd = new Redis(redis.url, { maxRetriesPerRequest: 2 });
  const reader = new Redis(redis.url);
  const keys = new Keys('sywb:');
  const secret = randomBytes(24).toString('hex');
  const rx: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', RECEIVER], { env: { ...process.env, SY_WB_SECRET: secret, SY_WB_DELAY: a['receiver-delay-ms'], SY_WB_DOWN: a.backlog ? '1' : '0' }, stdio: ['pipe', 'pipe', 'inherit'] });
  let port = 0;
  let got = { events: 0, duplicates: 0, bad: 0, posts: 0 };
  let upAck = false;
  const portKnown = new Promise<void>((ok) =>
    createInterface({ input: rx.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const [k, ...v] = line.split(' ');
      if (k === 'port') {
        port = Number(v[0]);
        ok();
      } else if (k === 'up') upAck = true;
      else if (k === 'got') got = { events: Number(v[0]), duplicates: Number(v[1]), bad: Number(v[2]), posts: Number(v[3]) };
    }),
  );
  await portKnown;

  // One shard: the dispatcher's cost per event (bench:readers compares shard counts).
  const evKey = keys.eventsOf(0);
  await r.xgroup('CREATE', evKey, WEBHOOK_GROUP, '0', 'MKSTREAM');
  if (a.backlog) {
    const p = spawn(process.execPath, ['--input-type=module', '-e', PRODUCER], { env: { ...process.env, SY_WB_REDIS: redis.url, SY_WB_KEY: evKey, SY_WB_N: String(N), SY_WB_RATE: '0' }, stdio: 'inherit' });
    await new Promise((ok) => p.once('exit', ok));
  }
  await r.config('RESETSTAT');
  const d = new WebhookDispatcher({
    redis: cmd,
    reader,
    keys,
    node: 'bench',
    tenants: [{ id: 'bench', url: `http://127.0.0.1:${port}/hook`, secret, timeoutMs: 10_000, maxBatch: Number(a.batch), lingerMs: Number(a['linger-ms']), concurrency: Number(a.lanes), retryForSec: 86_400, backoffMs: { min: 100, max: 500 }, maxQueued: 10_000_000, maxDeadLetters: 1_000_000 }],
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await d.start();
  if (!a.backlog) spawn(process.execPath, ['--input-type=module', '-e', PRODUCER], { env: { ...process.env, SY_WB_REDIS: redis.url, SY_WB_KEY: evKey, SY_WB_N: String(N), SY_WB_RATE: a.rate }, stdio: 'inherit' });
  let readS = 0;
  if (a.backlog) {
    // Everything read and moved to the lists while the receiver is down; then it comes up.
    await waitUntil(() => d.state()[0]?.queued === N, 120_000);
    readS = (performance.now() - t0) / 1000;
    rx.stdin?.write('up\n');
    await waitUntil(() => upAck, 10_000);
    d.kick('bench', true);
  }
  await waitUntil(() => got.events >= N, 120_000);
  const wallS = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  await d.stop();
  const stats = (await r.info('commandstats')).split('\n').flatMap((line) => {
    const m = /^cmdstat_(\w+):calls=(\d+),usec=(\d+)/.exec(line);
    return m ? [{ cmd: m[1] as string, calls: Number(m[2]), usec: Number(m[3]) }] : [];
  });
  const redisUsec = stats.filter((s) => !['config', 'info', 'llen', 'client', 'xadd'].includes(s.cmd)).reduce((n, s) => n + s.usec, 0);
  console.log('redis time by command (ms):', stats.sort((x, y) => y.usec - x.usec).slice(0, 8).map((s) => `${s.cmd}=${Math.round(s.usec / 1000)} (${s.calls} calls)`).join(' '));
  rx.kill();
  r.disconnect();
  cmd.disconnect();
  reader.disconnect();
  await redis.stop();
  const figures = {
    bench: a.backlog ? 'webhooks-backlog' : 'webhooks',
    events: N,
    lanes: Number(a.lanes),
    maxBatch: Number(a.batch),
    receiverDelayMs: Number(a['receiver-delay-ms']),
    ...(a.backlog ? {} : { rate: Number(a.rate) }),
    seconds: +wallS.toFixed(2),
    eventsPerSec: Math.round(N / (wallS - readS)),
    ...(a.backlog ? { spillSeconds: +readS.toFixed(2) } : {}),
    dispatcherCpuUsPerEvent: +((c.user + c.system) / N).toFixed(2),
    dispatcherUserUsPerEvent: +(c.user / N).toFixed(2),
    dispatcherCores: +((c.user + c.system) / 1e6 / wallS).toFixed(2),
    redisUsecPerEvent: +(redisUsec / N).toFixed(2),
    posts: got.posts,
    eventsPerPost: Math.round(N / Math.max(1, got.posts)),
    duplicates: got.duplicates,
    badSignatures: got.bad,
  };
  console.log(JSON.stringify(figures));
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
