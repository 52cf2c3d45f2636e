/**
 * What reading the events streams costs Redis per event, by shard count S, on
 * a single Redis: `npm run bench:readers -- [--events N] [--rate R] [--shards 1,16,48]`.
 *
 * Against a private redis-server, reading Redis's own INFO commandstats
 * (microseconds of Redis CPU, the one core every message goes through). A
 * writer appends status entries at a steady rate (R a second, in ticks of 50
 * entries into one shard, the next tick into the next shard, as the ingress
 * fills shards), while one reader runs; each phase has fresh keys:
 *   live  the status dispatcher's live reader (engine/push/status-dispatcher.ts):
 *         one XREAD BLOCK over all S streams, ten live connections of the
 *         tenant, the cursor saved per push batch
 *   sink  the analytics sink's reads (engine/analytics/redis-event-source.ts,
 *         its collect loop as analytics/event-sink.ts runs it with the default
 *         batchMax 20,000 and flushMs 1,000): one XREADGROUP over all S
 *         streams, the batch description (SET), the acknowledgements (one
 *         MULTI of an XACK per shard)
 * The writer's XADDs are left out of the figures; EXEC's time includes the
 * XACKs it ran (counted once). The LAST line is one JSON object of the figures.
 */
import { parseArgs } from 'node:util';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startPrivateRedis } from '../engine/redis/private-redis.js';
import { Keys } from '../engine/queue/keys.js';
import { Shards } from '../engine/queue/shards.js';
import { StatusDispatcher, type StatusSink } from '../engine/push/status-dispatcher.js';
import { RedisEventSource } from '../engine/analytics/redis-event-source.js';

const { values: a } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '10000' },
    shards: { type: 'string', default: '1,16,48' },
  },
});
const total = Number(a.events);
const rate = Number(a.rate);
const shardCounts = String(a.shards).split(',').map(Number);
const TICK = 50;
const TENANT = 'acme';

interface Stat {
  readonly calls: number;
  readonly usec: number;
}

async function commandStats(r: Redis): Promise<Map<string, Stat>> {
  const out = new Map<string, Stat>();
  for (const m of (await r.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

function entry(i: number): string[] {
  const frame = `{"op":"status","id":"mxdi85z6yodd${String(i).padStart(6, '0')}04","ref":"r${i}","status":"delivered","at":1732290000123}`;
  return ['t', TENANT, 'f', frame, 'x', 'sim-a|4791234567|1|1732290000000|NO|242|01|0.032|EUR|812|'];
}

/** Appends `total` entries at `rate` a second, TICK per tick into one shard, round robin. */
async function write(r: Redis, keys: Keys): Promise<void> {
  const start = Date.now();
  let shard = 0;
  for (let i = 0; i < total; i += TICK) {
    const due = start + (i / rate) * 1000;
    if (due > Date.now()) await new Promise((ok) => setTimeout(ok, due - Date.now()));
    const p = r.pipeline();
    for (let j = i; j < Math.min(total, i + TICK); j++) p.xadd(keys.eventsOf(shard), '*', ...entry(j));
    await p.exec();
    shard = (shard + 1) % keys.shards.count;
  }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 5));
  }
}

interface Figure {
  readonly reader: 'live' | 'sink';
  readonly shards: number;
  readonly events: number;
  /** Redis CPU of the reader's commands per event (µs). */
  readonly usecPerEvent: number;
  /** Commands of the reader per 1,000 events. */
  readonly callsPer1000: number;
  /** Per command: [calls, usec]. */
  readonly commands: Record<string, [number, number]>;
}

function figure(reader: 'live' | 'sink', shards: number, before: Map<string, Stat>, after: Map<string, Stat>): Figure {
  const commands: Record<string, [number, number]> = {};
  let usec = 0;
  let calls = 0;
  for (const [name, s] of after) {
    if (name === 'xadd' || name === 'info') continue;
    const b = before.get(name) ?? { calls: 0, usec: 0 };
    const dc = s.calls - b.calls;
    if (dc === 0) continue;
    const du = s.usec - b.usec;
    commands[name] = [dc, du];
    calls += dc;
    // EXEC's time includes the commands it ran (the XACKs of the MULTI): counted once
    if (name !== 'xack' || !after.has('exec') || (after.get('exec') as Stat).calls === (before.get('exec')?.calls ?? 0)) usec += du;
  }
  return { reader, shards, events: total, usecPerEvent: usec / total, callsPer1000: (calls / total) * 1000, commands };
}

async function live(url: string, cmd: Redis, shards: number): Promise<Figure> {
  const keys = new Keys(`brl${shards}:`, new Shards(shards));
  const redis = new Redis(url);
  const reader = new Redis(url);
  const writer = new Redis(url);
  const d = new StatusDispatcher(redis, reader, keys);
  d.start();
  let frames = 0;
  const sinks: StatusSink[] = Array.from({ length: 10 }, () => ({
    tenant: TENANT,
    live: false,
    closed: false,
    push: () => (frames++, true),
    pushMany: (f: string[]) => ((frames += f.length), true),
  }));
  // the streams exist before the connections attach ('$' is after each stream's last entry)
  for (const k of keys.shards.all()) await writer.xadd(keys.eventsOf(k), '*', ...entry(-1));
  for (const s of sinks) await d.attach(s, '$');
  const before = await commandStats(cmd);
  await write(writer, keys);
  await until(() => frames === total * sinks.length, 60_000, 'every frame at every connection');
  const after = await commandStats(cmd);
  for (const s of sinks) d.detach(s);
  await d.stop();
  for (const c of [redis, reader, writer]) c.disconnect();
  return figure('live', shards, before, after);
}

async function sink(url: string, cmd: Redis, shards: number): Promise<Figure> {
  const keys = new Keys(`brs${shards}:`, new Shards(shards));
  const redis = new Redis(url);
  const reader = new Redis(url);
  const writer = new Redis(url);
  const source = new RedisEventSource(reader, redis, keys, 'bench');
  await source.ensureGroup();
  const batchMax = 20_000;
  const flushMs = 1_000;
  let acked = 0;
  let running = true;
  const before = await commandStats(cmd);
  // the sink's collect loop (analytics/event-sink.ts), the insert left out
  const loop = (async () => {
    while (running) {
      const out = await source.read(batchMax, flushMs);
      const end = Date.now() + flushMs;
      while (out.length > 0 && out.length < batchMax && Date.now() < end && running) {
        const more = await source.read(batchMax - out.length, Math.max(1, end - Date.now()));
        if (more.length === 0) break;
        out.push(...more);
      }
      if (out.length === 0) continue;
      await source.saveBatch(`${out.length}`);
      await source.ack(out);
      acked += out.length;
    }
  })();
  await write(writer, keys);
  await until(() => acked === total, 60_000, 'every event acknowledged');
  const after = await commandStats(cmd);
  running = false;
  await writer.xadd(keys.eventsOf(0), '*', ...entry(-1)); // ends the blocking read
  await loop;
  for (const c of [redis, reader, writer]) c.disconnect();
  return figure('sink', shards, before, after);
}

async function main(): Promise<void> {
  const dir = 'data/bench-readers';
  rmSync(dir, { recursive: true, force: true });
  const server = await startPrivateRedis({ dir });
  const cmd = new Redis(server.url);
  const figures: Figure[] = [];
  try {
    for (const s of shardCounts) {
      for (const f of [await live(server.url, cmd, s), await sink(server.url, cmd, s)]) {
        figures.push(f);
        console.log(`${f.reader} S=${String(f.shards).padStart(2)}: ${f.usecPerEvent.toFixed(3)} µs of Redis CPU per event, ${f.callsPer1000.toFixed(1)} commands per 1,000 events  ${JSON.stringify(f.commands)}`);
      }
    }
  } finally {
    cmd.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ events: total, rate, figures: figures.map(({ reader, shards, usecPerEvent, callsPer1000 }) => ({ reader, shards, usecPerEvent: Number(usecPerEvent.toFixed(3)), callsPer1000: Number(callsPer1000.toFixed(1)) })) }));
}

await main();
