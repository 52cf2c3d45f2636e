/**
 * Analytics benchmark: `npm run bench:analytics -- [--events N] [--rate R] [--seconds S] [--rows M]`.
 *
 * 1. Table of M events (default 10 million) generated inside ClickHouse
 *    (INSERT ... SELECT FROM numbers(), materialized views included): a day
 *    of traffic over 3 tenants, 4 SMSCs, 4 countries, a status mix and
 *    latencies.
 * 2. Ingest, through the real analytics process (engine/analytics/, embedded
 *    chdb): N events (default 300,000) already in the Redis stream are drained
 *    as fast as the sink goes (eventsPerSec); then the stream is fed at R
 *    events/s (default 20,000 — the receipts and sent events of 10,000 msg/s)
 *    for S seconds while the sink's backlog and lag are sampled (bounded lag =
 *    the backlog does not grow), and the RSS of the analytics process.
 * 3. The dashboard's queries over the M events, through the analytics
 *    process's query service (the path /v1/analytics/* takes): p50/p99 each;
 *    queryP99Ms is the worst p99.
 * The LAST line is one JSON object of the figures.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { openClickHouse } from '../analytics/clickhouse.js';
import { migrate } from '../analytics/schema.js';
import { AnalyticsHost } from '../engine/analytics/analytics-host.js';
import { startPrivateRedis } from '../engine/redis/private-redis.js';
import { DEFAULTS } from '../config/schema.js';

const { values: a } = parseArgs({
  options: {
    events: { type: 'string', default: '300000' },
    rate: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '15' },
    rows: { type: 'string', default: '10000000' },
    iterations: { type: 'string', default: '15' },
    'batch-max': { type: 'string', default: String(DEFAULTS.analytics.batchMax) },
    'flush-ms': { type: 'string', default: String(DEFAULTS.analytics.flushMs) },
  },
});
const N = Number(a.events);
const RATE = Number(a.rate);
const SECONDS = Number(a.seconds);
const ROWS = Number(a.rows);
const ITER = Number(a.iterations);
const MB = 2 ** 20;

/** CPU time of a process (user + system, ms). */
function cpuMs(pid: number): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

const SMSCS = ['sim-0', 'sim-1', 'sim-2', 'sim-3'];
const NETS = [['NO', '242', '01', 0.032], ['DE', '262', '01', 0.045], ['FR', '208', '01', 0.038], ['SE', '240', '01', 0.05]] as const;

/** A stream entry as the state scripts write it: sent, or a final status with receipt latency. */
function entry(i: number, now: number): string[] {
  const net = NETS[i % 4] as (typeof NETS)[number];
  const final = i % 2 === 1;
  const r = i % 100;
  const status = !final ? 'sent' : r < 90 ? 'delivered' : r < 96 ? 'undelivered' : 'expired';
  const frame = { op: 'status', id: `b${(i >> 1).toString(36)}`, ref: `r${i}`, status, at: now, ...(status === 'undelivered' ? { error: { code: '001', text: 'UNDELIV' } } : status === 'expired' ? { error: { code: '000', text: 'EXPIRED' } } : {}) };
  const raw = status === 'delivered' || status === 'sent' ? '' : `id:${i} sub:001 dlvrd:000 submit date:2611231200 done date:2611231201 stat:${status === 'expired' ? 'EXPIRED' : 'UNDELIV'} err:001 text:`;
  const x = `${SMSCS[i % 4]}|${net[1]}${String(90000000 + (i % 500000))}|1|${now - 200}|${net[0]}|${net[1]}|${net[2]}|${net[3]}|EUR|${final ? 150 + (i % 300) : ''}|${raw}`;
  return ['t', `t${i % 3}`, 'f', JSON.stringify(frame), 'x', x];
}

async function xadd(r: Redis, key: string, from: number, n: number): Promise<void> {
  const now = Date.now();
  const p = r.pipeline();
  for (let i = from; i < from + n; i++) p.xadd(key, '*', ...entry(i, now));
  await p.exec();
}

async function groupLag(r: Redis, key: string): Promise<{ lag: number; pending: number }> {
  const groups = (await r.call('XINFO', 'GROUPS', key)) as Array<Array<string | number | null>>;
  for (const g of groups) {
    if (g[g.indexOf('name') + 1] !== 'analytics') continue;
    return { lag: Number(g[g.indexOf('lag') + 1] ?? 0), pending: Number(g[g.indexOf('pending') + 1] ?? 0) };
  }
  return { lag: -1, pending: -1 };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
}

async function main(): Promise<void> {
  const dir = 'data/bench-analytics';
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dataDir = `${dir}/chdb`;
  const clickhouse = { dataDir, maxMemoryBytes: 1024 * MB, serverMemoryBytes: 2048 * MB };

  // 1. ROWS events generated in ClickHouse (this process opens chdb, then leaves it to the analytics process).
  let t0 = performance.now();
  {
    const ch = openClickHouse(clickhouse);
    await migrate(ch);
    const day = 86_400_000;
    const start = Date.now() - day;
    const step = Math.max(1, Math.floor(day / ROWS));
    // In slices of a million: one INSERT of all of them would pass the per-query memory cap (which holds).
    for (let off = 0; off < ROWS; off += 1_000_000) await ch.command({
      query: `INSERT INTO events (time, eid, message_id, tenant, client_ref, status, error_code, error_text, smsc, destination, country, mcc, mnc, operator, price, currency, parts, accepted_at, smpp_stat, raw_reply, latency_ms)
        SELECT fromUnixTimestamp64Milli(toInt64(${start} + number * ${step})) AS time, concat(toString(${start} + number * ${step}), '-', toString(number % 1000)) AS eid,
          concat('g', toString(intDiv(number, 2))) AS message_id, concat('t', toString(number % 3)) AS tenant, '' AS client_ref,
          multiIf(number % 2 = 0, 'sent', number % 100 < 91, 'delivered', number % 100 < 97, 'undelivered', number % 100 < 99, 'expired', 'unknown') AS status,
          if(status = 'undelivered', ['001', '011', '034'][number % 3 + 1], '') AS error_code, if(status = 'undelivered', 'UNDELIV', '') AS error_text,
          concat('sim-', toString(number % 4)) AS smsc, concat(['47', '49', '33', '46'][number % 4 + 1], toString(90000000 + number % 1000000)) AS destination,
          ['NO', 'DE', 'FR', 'SE'][number % 4 + 1] AS country, ['242', '262', '208', '240'][number % 4 + 1] AS mcc, '01' AS mnc,
          ['Telenor', 'Telekom', 'Orange', 'Telia'][number % 4 + 1] AS operator, 0.04 AS price, 'EUR' AS currency, 1 AS parts, time AS accepted_at,
          if(status IN ('delivered', 'undelivered'), if(status = 'delivered', 'DELIVRD', 'UNDELIV'), '') AS smpp_stat, '' AS raw_reply,
          if(status = 'delivered', toUInt32(100 + (number * 7919) % 5000), NULL) AS latency_ms
        FROM numbers(${off}, ${Math.min(1_000_000, ROWS - off)})`,
    });
    await ch.close();
  }
  const generateS = (performance.now() - t0) / 1000;
  console.log(`generated ${ROWS} events (and their per-minute aggregates) in ${generateS.toFixed(1)} s`);

  // 2. Ingest through the real analytics process.
  const redisSrv = process.env.REDIS_URL ? undefined : await startPrivateRedis({ dir: `${dir}/redis` });
  cleanup.push(async () => redisSrv?.stop());
  const redisUrl = process.env.REDIS_URL ?? (redisSrv as NonNullable<typeof redisSrv>).url;
  const r = new Redis(redisUrl);
  const key = `bench-an:${Date.now()}:ev`;
  for (let i = 0; i < N; i += 5000) await xadd(r, key, i, Math.min(5000, N - i));
  const host = new AnalyticsHost({
    redis: { kind: 'single', url: redisUrl }, streamKey: key, consumer: 'bench', clickhouse, batchMax: Number(a['batch-max']), flushMs: Number(a['flush-ms']), badNumbers: undefined, reportPageRows: 20_000,
    routing: { rangeFiles: [] }, baseDir: process.cwd(),
  }, (level, msg) => level !== 'info' && console.error(`[analytics ${level}] ${msg}`));
  host.start();
  cleanup.push(() => host.stop());
  while (!host.state.ready) await new Promise((ok) => setTimeout(ok, 50));
  const pid = host.pid as number;
  let peakRss = 0;
  t0 = performance.now();
  for (;;) {
    const g = await groupLag(r, key);
    peakRss = Math.max(peakRss, rssMb(pid));
    if (g.lag === 0 && g.pending === 0) break;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  const drainS = (performance.now() - t0) / 1000;
  const eventsPerSec = Math.round(N / drainS);
  console.log(`drained ${N} events in ${drainS.toFixed(2)} s → ${eventsPerSec} events/s; analytics process RSS ${peakRss.toFixed(0)} MB`);

  // Sustained: RATE events/s for SECONDS, fed every 50 ms.
  let fed = N;
  const lags: number[] = [];
  const backlogs: number[] = [];
  let sustainedRss = 0;
  const tick = RATE / 20;
  const feedStart = performance.now();
  const cpu0 = cpuMs(pid);
  let nextSample = feedStart + 500;
  while (performance.now() - feedStart < SECONDS * 1000) {
    const due = Math.floor(((performance.now() - feedStart) / 1000) * RATE) + N;
    if (due > fed) {
      const n = Math.min(due - fed, tick * 4);
      await xadd(r, key, fed, n);
      fed += n;
    }
    if (performance.now() >= nextSample) {
      nextSample += 500;
      const g = await groupLag(r, key);
      backlogs.push(g.lag + g.pending);
      lags.push(host.state.lagMs);
      sustainedRss = Math.max(sustainedRss, rssMb(pid));
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
  const feedS = (performance.now() - feedStart) / 1000;
  const fedRate = Math.round((fed - N) / feedS);
  const sinkCores = (cpuMs(pid) - cpu0) / 1000 / feedS;
  // Drain the tail: how long after the feed stops until the sink has everything.
  t0 = performance.now();
  for (;;) {
    const g = await groupLag(r, key);
    if (g.lag === 0 && g.pending === 0) break;
    await new Promise((ok) => setTimeout(ok, 20));
  }
  const tailMs = performance.now() - t0;
  const half = backlogs.slice(Math.floor(backlogs.length / 2));
  // The sink's own lag (age of the newest event it inserted), second half: the first samples still show the drain above.
  const lagHalf = lags.slice(Math.floor(lags.length / 2));
  console.log(`sustained ${fedRate} events/s for ${SECONDS} s: backlog p50 ${pct(backlogs, 0.5)} max ${Math.max(...backlogs)} (second half max ${Math.max(...half)}), sink lag p50 ${pct(lagHalf, 0.5)} ms max ${Math.max(...lagHalf)} ms (second half), tail drained in ${tailMs.toFixed(0)} ms; RSS ${sustainedRss.toFixed(0)} MB; CPU ${sinkCores.toFixed(2)} cores`);

  // 3. Dashboard queries over the generated day, through the query service.
  const from = Date.now() - 86_400_000;
  const to = Date.now();
  const queries: Record<string, string> = {
    deliveryBySmsc: `/delivery?by=smsc&from=${from}&to=${to}`,
    deliveryByCountryHourly: `/delivery?by=country&bucket=hour&from=${from}&to=${to}`,
    deliveryByOperatorTenant: `/delivery?by=operator,tenant&from=${from}&to=${to}`,
    failuresBySmsc: `/failures?by=smsc&from=${from}&to=${to}`,
    statuses: `/statuses?by=smsc&from=${from}&to=${to}`,
    lastHourByMinute: `/delivery?by=smsc&bucket=minute&from=${to - 3_600_000}&to=${to}`,
    messageHistory: `/messages/g${Math.floor(ROWS / 4)}`,
    // a German number of the generated day (prefix 49 goes with number % 4 = 1)
    numberHistory: `/numbers/4990123457?from=${from}&to=${to}`,
  };
  const lat: Record<string, { p50Ms: number; p99Ms: number }> = {};
  for (const [name, path] of Object.entries(queries)) {
    const ms: number[] = [];
    for (let i = 0; i < ITER; i++) {
      const q0 = performance.now();
      const res = await host.request(path, 'admin');
      let body = '';
      for await (const c of res) body += String(c);
      if (res.statusCode !== 200) throw new Error(`${name}: HTTP ${res.statusCode} ${body}`);
      ms.push(performance.now() - q0);
    }
    lat[name] = { p50Ms: +pct(ms, 0.5).toFixed(1), p99Ms: +pct(ms, 0.99).toFixed(1) };
    console.log(`${name.padEnd(26)} p50 ${lat[name].p50Ms} ms  p99 ${lat[name].p99Ms} ms`);
  }
  // A CSV report of an hour of traffic (streamed page by page).
  t0 = performance.now();
  const rep = await host.request(`/reports/events.csv?from=${to - 3_600_000}&to=${to}&tenant=t1`, 'admin');
  let lines = 0;
  for await (const c of rep) for (const b of c as Buffer) if (b === 10) lines++;
  const reportS = (performance.now() - t0) / 1000;
  console.log(`report: ${lines - 1} rows in ${reportS.toFixed(2)} s (${Math.round((lines - 1) / reportS)} rows/s)`);
  const queryRss = rssMb(pid);
  r.disconnect();

  const figures = {
    bench: 'analytics',
    eventsPerSec,
    drainEvents: N,
    batchMax: Number(a['batch-max']),
    flushMs: Number(a['flush-ms']),
    sustainedRate: fedRate,
    sustainedSeconds: SECONDS,
    backlogP50: pct(backlogs, 0.5),
    backlogMax: Math.max(...backlogs),
    backlogMaxSecondHalf: Math.max(...half),
    sinkLagP50Ms: pct(lagHalf, 0.5),
    sinkLagMaxMs: Math.max(...lagHalf),
    tailDrainMs: Math.round(tailMs),
    sinkCpuCores: +sinkCores.toFixed(2),
    rows: ROWS,
    generateS: +generateS.toFixed(1),
    queryP99Ms: Math.max(...Object.values(lat).map((x) => x.p99Ms)),
    queries: lat,
    reportRowsPerSec: Math.round((lines - 1) / reportS),
    sinkRssMb: Math.round(Math.max(peakRss, sustainedRss)),
    queryRssMb: Math.round(queryRss),
    serverMemoryCapMb: 2048,
    machine: `${cpus().length} cores ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  };
  console.log(JSON.stringify(figures));
}

/** Stops what the run started (the analytics process, Redis), also when it fails. */
const cleanup: Array<() => Promise<unknown>> = [];

main()
  .catch((err: Error) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
  });
