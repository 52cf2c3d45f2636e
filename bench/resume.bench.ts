/**
 * What a status resume (catch-up) costs Redis, and what a per-tenant index of
 * the events stream would cost the hot path instead:
 * `npm run bench:resume -- [--events N] [--tenants T]`.
 *
 * Against a private redis-server, reading Redis's own INFO commandstats
 * (microseconds of Redis CPU, the one core every message goes through):
 *   xrange    a catch-up as it was: XRANGE pages of 1,000 over the shared
 *             events stream, filtered by tenant in the engine (Redis serialises
 *             every tenant's entries; the ingress thread parses them all)
 *   xrangeBuffer  the same with Buffer replies, only the tenant field compared
 *   filtered  the catch-up script (CATCH_UP_LUA): the same pages filtered in
 *             Redis, only the wanted tenants' frames come back
 *   index     the alternative: a bounded per-tenant stream written next to
 *             every event (one more XADD ... MAXLEN ~ per status change, inside
 *             the state scripts), so that a catch-up reads only its tenant's
 *   shared    one filtered scan serving 50 connections of 50 tenants at once
 * The LAST line is one JSON object of the figures.
 */
import { parseArgs } from 'node:util';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startPrivateRedis } from '../engine/redis/private-redis.js';
import { CATCH_UP_LUA } from '../engine/push/status-dispatcher.js';

const { values: a } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    tenants: { type: 'string', default: '200' },
  },
});
const total = Number(a.events);
const tenants = Number(a.tenants);
const PAGE = 500;

async function usec(r: Redis, cmd: string): Promise<{ calls: number; usec: number }> {
  const m = new RegExp(`^cmdstat_${cmd}:calls=(\\d+),usec=(\\d+)`, 'm').exec(await r.info('commandstats'));
  return m === null ? { calls: 0, usec: 0 } : { calls: Number(m[1]), usec: Number(m[2]) };
}

/** Adds events as the state scripts do (one script call per 200), optionally with a per-tenant index stream. */
const ADD_LUA = `
local ev = KEYS[1]
local withIndex = ARGV[1] == '1'
local n = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local tenants = tonumber(ARGV[4])
for i = 0, n - 1 do
  local seq = base + i
  local t = 't' .. (seq % tenants)
  local frame = '{"op":"status","id":"01JD' .. string.format('%022d', seq) .. '","ref":"r' .. seq .. '","status":"delivered","at":1732290000123}'
  local id = redis.call('XADD', ev, '*', 't', t, 'f', frame, 'x', 'sim-a|4791234567|1|1732290000000|NO|242|01|0.032|EUR|812|')
  if withIndex then redis.call('XADD', ev .. ':{' .. t .. '}', 'MAXLEN', '~', 100000, '*', 'e', id) end
end
return n
`;

async function main(): Promise<void> {
  const dir = 'data/bench-resume';
  rmSync(dir, { recursive: true, force: true });
  const server = await startPrivateRedis({ dir });
  const redis = new Redis(server.url);
  try {
    const ev = 'br:ev';
    // Hot path: events written with and without a per-tenant index stream.
    const perEvent: Record<string, number> = {};
    for (const withIndex of ['0', '1']) {
      await redis.del(ev);
      const keys = await redis.keys('br:ev:*');
      if (keys.length > 0) await redis.del(...keys);
      await redis.config('RESETSTAT');
      for (let seq = 0; seq < total; seq += 200) await redis.eval(ADD_LUA, 1, ev, withIndex, Math.min(200, total - seq), seq, tenants);
      perEvent[withIndex === '1' ? 'withIndex' : 'plain'] = (await usec(redis, 'eval')).usec / total;
    }
    // The stream now holds `total` events of `tenants` tenants (and the index streams).
    const scan = async (kind: 'xrange' | 'xrangeBuffer' | 'filtered', wanted: string[]): Promise<{ redisUsec: number; clientMs: number; cpuUsec: number; frames: number }> => {
      await redis.config('RESETSTAT');
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      let last = '0-0';
      let frames = 0;
      const want = new Set(wanted);
      for (;;) {
        if (kind === 'xrange') {
          const page = (await redis.xrange(ev, '(' + last, '+', 'COUNT', PAGE)) as Array<[string, string[]]>;
          if (page.length === 0) break;
          for (const [id, f] of page) {
            last = id;
            if (want.has(f[1] as string)) frames++;
          }
          if (page.length < PAGE) break;
        } else if (kind === 'xrangeBuffer') {
          // Replies as Buffers: only the tenant field is looked at, only matching frames are decoded.
          const page = (await redis.xrangeBuffer(ev, '(' + last, '+', 'COUNT', PAGE)) as unknown as Array<[Buffer, Buffer[]]>;
          if (page.length === 0) break;
          const wantBuf = wanted.map((t) => Buffer.from(t));
          for (const [id, f] of page) {
            const t = f[1] as Buffer;
            if (wantBuf.some((w) => w.equals(t))) {
              frames++;
              (f[3] as Buffer).toString('utf8');
            }
            last = id.toString('latin1');
          }
          if (page.length < PAGE) break;
        } else {
          const r = (await redis.eval(CATCH_UP_LUA, 1, ev, last, PAGE, ...wanted)) as [number, string, ...string[]];
          last = r[1];
          frames += (r.length - 2) / 3;
          if (r[0] < PAGE) break;
        }
      }
      const clientMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      return { redisUsec: (await usec(redis, kind === 'filtered' ? 'eval' : 'xrange')).usec, clientMs, cpuUsec: cpu.user + cpu.system, frames };
    };
    const xr = await scan('xrange', ['t7']);
    const xb = await scan('xrangeBuffer', ['t7']);
    const fl = await scan('filtered', ['t7']);
    const shared = await scan('filtered', Array.from({ length: 50 }, (_, i) => 't' + i));
    // With the index: the tenant's ids, then its entries (XRANGE each id: a point read).
    await redis.config('RESETSTAT');
    const ti0 = performance.now();
    const ids = (await redis.xrange(`${ev}:{t7}`, '-', '+')) as Array<[string, string[]]>;
    const p = redis.pipeline();
    for (const [, f] of ids) p.xrange(ev, f[1] as string, f[1] as string);
    await p.exec();
    const indexMs = performance.now() - ti0;
    const indexUsec = (await usec(redis, 'xrange')).usec;
    const out = {
      events: total,
      tenants,
      hotPathUsecPerEvent: { plain: +(perEvent.plain ?? 0).toFixed(2), withTenantIndex: +(perEvent.withIndex ?? 0).toFixed(2) },
      catchUpOneTenant: {
        xrange: { redisUsecPerEntryScanned: +(xr.redisUsec / total).toFixed(3), redisMs: +(xr.redisUsec / 1000).toFixed(1), engineMs: +xr.clientMs.toFixed(1), engineCpuUsecPerEntry: +(xr.cpuUsec / total).toFixed(2), frames: xr.frames },
        xrangeBuffer: { redisUsecPerEntryScanned: +(xb.redisUsec / total).toFixed(3), redisMs: +(xb.redisUsec / 1000).toFixed(1), engineMs: +xb.clientMs.toFixed(1), engineCpuUsecPerEntry: +(xb.cpuUsec / total).toFixed(2), frames: xb.frames },
        filtered: { redisUsecPerEntryScanned: +(fl.redisUsec / total).toFixed(3), redisMs: +(fl.redisUsec / 1000).toFixed(1), engineMs: +fl.clientMs.toFixed(1), engineCpuUsecPerEntry: +(fl.cpuUsec / total).toFixed(2), frames: fl.frames },
        tenantIndex: { redisMs: +(indexUsec / 1000).toFixed(1), engineMs: +indexMs.toFixed(1), frames: ids.length },
      },
      filteredFor50Tenants: { redisMs: +(shared.redisUsec / 1000).toFixed(1), engineMs: +shared.clientMs.toFixed(1), frames: shared.frames },
    };
    console.log('hot path: Redis µs per event without / with a per-tenant index stream:', out.hotPathUsecPerEvent);
    console.log('one catch-up over', total, 'events:', out.catchUpOneTenant);
    console.log(JSON.stringify(out));
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

await main();
