/**
 * What reading the events streams costs Redis per event, by shard count S, on
 * a single Redis: `npm run bench:readers -- [--events N] [--rate R] [--shards 1,16,48] [--nodes 1,2,4]`.
 *
 * Against a private redis-server, reading Redis's own INFO commandstats
 * (microseconds of Redis CPU, the one core every message goes through). A
 * writer appends status entries at a steady rate (R a second, in ticks of 50
 * entries into one shard, the next tick into the next shard, as the ingress
 * fills shards), while one reader runs; each phase has fresh keys:
 *   live  the status dispatcher's live reader (engine/push/status-dispatcher.ts):
 *         one XREAD BLOCK over all S streams, ten live connections of the
 *         tenant, the cursor saved per push batch; with --nodes, once per node
 *         count N: N dispatchers (N engine nodes, each with its own reader and
 *         its share of the ten connections: every node with a connection of a
 *         tenant reads every events stream), and the engine CPU they use in all
 *         per event (this process: the dispatchers only)
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
    nodes: { type: 'string', default: '1' },
  },
});
const nodeCounts = String(a.nodes).split(',').map(Number);
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
  /** Engine nodes each running a live reader (1 for the sink). */
  readonly nodes: number;
  /** Engine CPU per event of all the nodes' live readers (µs; live only). */
  readonly engineUsecPerEvent?: number;
  readonly events: number;
  /** Redis CPU of the reader's commands per event (µs). */
  readonly usecPerEvent: number;
  /** Commands of the reader per 1,000 events. */
  readonly callsPer1000: number;
  /** Per command: [calls, usec]. */
  readonly commands: Record<string, [number, number]>;
}

function figure(reader: 'live' | 'sink', shards: number, before: Map<string, Stat>, after: Map<string, Stat>, nodes = 1): Figure {
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
  return { reader, shards, nodes, events: total, usecPerEvent: usec / total, callsPer1000: (calls / total) * 1000, commands };
}

async function live(url: string, cmd: Redis, shards: number, nodes: number): Promise<Figure> {
  const keys = new Keys(`brl${shards}n${nodes}:`, new Shards(shards));
  const conns: Redis[] = [];
  const writer = new Redis(url);
  // One dispatcher per node, each with its own command and reader connections, as each engine has.
  const ds = Array.from({ length: nodes }, () => {
    const redis = new Redis(url);
    const reader = new Redis(url);
    conns.push(redis, reader);
    const d = new StatusDispatcher(redis, reader, keys);
    d.start();
    return d;
  });
  let frames = 0;
  const sinks: StatusSink[] = Array.from({ length: Math.max(10, nodes) }, () => ({
    tenant: TENANT,
    live: false,
    closed: false,
    push: () => (frames++, true),
    pushMany: (f: string[]) => ((frames += f.length), true),
  }));
  // the streams exist before the connections attach ('$' is after each stream's last entry)
  for (const k of keys.shards.all()) await writer.xadd(keys.eventsOf(k), '*', ...entry(-1));
  // The tenant's connections spread over the nodes (a load balancer's round robin).
  const nodeOf = (i: number) => ds[i % nodes] as StatusDispatcher;
  for (const [i, s] of sinks.entries()) await nodeOf(i).attach(s, '$');
  const before = await commandStats(cmd);
  const cpu = process.cpuUsage();
  await write(writer, keys);
  await until(() => frames === total * sinks.length, 60_000, 'every frame at every connection');
  const after = await commandStats(cmd);
  const used = process.cpuUsage(cpu);
  for (const [i, s] of sinks.entries()) nodeOf(i).detach(s);
  for (const d of ds) await d.stop();
  for (const c of [...conns, writer]) c.disconnect();
  // The writer's pipelines run in this process too: its share is the same at every node count.
  return { ...figure('live', shards, before, after, nodes), engineUsecPerEvent: (used.user + used.system) / total };
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
      const runs: Figure[] = [];
      for (const n of nodeCounts) runs.push(await live(server.url, cmd, s, n));
      runs.push(await sink(server.url, cmd, s));
      for (const f of runs) {
        figures.push(f);
        const engine = f.engineUsecPerEvent === undefined ? '' : `, ${f.engineUsecPerEvent.toFixed(1)} µs of engine CPU per event (all nodes' readers and the writer)`;
        console.log(`${f.reader} S=${String(f.shards).padStart(2)}${f.reader === 'live' ? ` nodes=${f.nodes}` : ''}: ${f.usecPerEvent.toFixed(3)} µs of Redis CPU per event${engine}, ${f.callsPer1000.toFixed(1)} commands per 1,000 events  ${JSON.stringify(f.commands)}`);
      }
    }
  } finally {
    cmd.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ events: total, rate, figures: figures.map(({ reader, shards, nodes, usecPerEvent, engineUsecPerEvent, callsPer1000 }) => ({ reader, shards, nodes, usecPerEvent: Number(usecPerEvent.toFixed(3)), ...(engineUsecPerEvent === undefined ? {} : { engineUsecPerEvent: Number(engineUsecPerEvent.toFixed(1)) }), callsPer1000: Number(callsPer1000.toFixed(1)) })) }));
}

await main();
