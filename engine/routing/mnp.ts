/**
 * Number portability: ported numbers and the network they now belong to, kept
 * in Redis (hash `{P}{c}:mnp`: E.164 digits → "MCC-MNC", loaded from CSV by
 * `switchyard mnp load FILE`) and copied into each engine's memory, where the
 * router reads it synchronously. A load bumps `{P}{c}:mnp:ver`; engines poll that
 * version and reload their copy when it changes, so a decision never waits on
 * Redis. The table, its version and the load's temporary key share the control
 * slot `{c}`, so the swap (RENAME + INCR in one MULTI) works on a Redis Cluster.
 * Memory: ~150 bytes per ported number in the engine (a few million numbers
 * fit; a national MNP database of tens of millions would need the lookup-hook
 * design instead, see README "Routing").
 */
import type { RedisClient } from '../redis/connect-redis.js';
import type { MnpTable, Network } from '../../router/index.js';
import { SwitchyardError } from '../errors.js';
import type { Keys } from '../queue/keys.js';

export interface MnpRow {
  readonly e164: string;
  readonly network: string; // "MCC-MNC"
}

/** Parses "number,mcc,mnc" lines (header optional, '#' comments); errors name source:line. */
export function parseMnpCsv(text: string, source: string): MnpRow[] {
  const rows: MnpRow[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const l = line.trim();
    if (l === '' || l.startsWith('#') || (i === 0 && /^[a-z]/i.test(l))) return;
    const [num = '', mcc = '', mnc = '', ...rest] = l.split(',').map((c) => c.trim());
    const at = `${source}:${i + 1}`;
    if (rest.length > 0) problems.push(`${at}: expected 3 columns (number,mcc,mnc), found ${3 + rest.length}`);
    else if (!/^\+?[0-9]{6,15}$/.test(num)) problems.push(`${at}: "${num}" is not an E.164 number`);
    else if (!/^[0-9]{3}$/.test(mcc)) problems.push(`${at}: MCC "${mcc}" must be 3 digits`);
    else if (!/^[0-9]{2,3}$/.test(mnc)) problems.push(`${at}: MNC "${mnc}" must be 2 or 3 digits`);
    else rows.push({ e164: num.replace(/^\+/, ''), network: `${mcc}-${mnc}` });
  });
  if (problems.length > 0) throw new SwitchyardError('BAD_REQUEST', problems.slice(0, 20).join('\n') + (problems.length > 20 ? `\n… and ${problems.length - 20} more` : ''));
  return rows;
}

/**
 * Replaces the MNP table in Redis atomically (written to a temporary key, then
 * RENAME) and bumps its version. Returns how many numbers it holds.
 */
export async function storeMnp(redis: RedisClient, keys: Keys, rows: ReadonlyArray<MnpRow>): Promise<number> {
  const tmp = keys.control('mnp:tmp');
  await redis.del(tmp);
  for (let i = 0; i < rows.length; i += 5000) {
    const args: string[] = [];
    for (const r of rows.slice(i, i + 5000)) args.push(r.e164, r.network);
    await redis.hset(tmp, ...args);
  }
  const multi = redis.multi();
  if (rows.length > 0) multi.rename(tmp, keys.control('mnp'));
  else multi.del(keys.control('mnp'));
  multi.incr(keys.control('mnp:ver'));
  const res = (await multi.exec()) ?? [];
  for (const [err] of res) if (err) throw err;
  return rows.length;
}

/** The engine's copy of the MNP table, reloaded when its version in Redis changes. */
export class MnpCache {
  private table: Map<string, Network> | undefined;
  private version: string | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** "MCC-MNC" → the Network object the router knows (operator name etc.). */
    private readonly networkOf: (id: string) => Network,
  ) {}

  get current(): MnpTable | undefined {
    return this.table;
  }

  get size(): number {
    return this.table?.size ?? 0;
  }

  /** Reloads when the version changed; returns whether it did. */
  async refresh(): Promise<boolean> {
    const v = await this.redis.get(this.keys.control('mnp:ver'));
    if (v === this.version) return false;
    const next = new Map<string, Network>();
    let cursor = '0';
    do {
      const [c, flat] = await this.redis.hscan(this.keys.control('mnp'), cursor, 'COUNT', 10_000);
      cursor = c;
      for (let i = 0; i + 1 < flat.length; i += 2) next.set(flat[i] as string, this.networkOf(flat[i + 1] as string));
    } while (cursor !== '0');
    this.table = next.size > 0 ? next : undefined;
    this.version = v;
    return true;
  }
}
