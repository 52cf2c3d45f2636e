/**
 * Reading the messages held for moderation ({P}hold:{T}, one entry per part,
 * a message's parts consecutive): a page of whole messages with their text
 * decoded from the stored short_message parts, why they were held, and the
 * cursor for the next page (the stream id of the page's last entry).
 * Entries whose message is no longer held (expired meanwhile) are skipped.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';
import { decodeShortMessage } from '../text/index.js';

export interface HeldMessage {
  readonly id: string;
  readonly tenant: string;
  readonly ref: string;
  readonly to: string;
  readonly from: string;
  readonly text: string;
  readonly parts: number;
  readonly acceptedAt: number;
  readonly reason: { readonly code: string; readonly text: string };
}

function group(page: Array<[Buffer, Buffer[]]>): Array<{ id: string; last: string; parts: Array<{ h: string[]; b: Buffer }> }> {
  const groups: Array<{ id: string; last: string; parts: Array<{ h: string[]; b: Buffer }> }> = [];
  for (const [idBuf, f] of page) {
    const eid = idBuf.toString('latin1');
    let h = '';
    let b: Buffer = Buffer.alloc(0);
    for (let i = 0; i + 1 < f.length; i += 2) {
      const k = (f[i] as Buffer).toString('latin1');
      if (k === 'h') h = (f[i + 1] as Buffer).toString('utf8');
      else if (k === 'b') b = f[i + 1] as Buffer;
    }
    const hf = h.split('|');
    const id = hf[0] ?? '';
    const g = groups[groups.length - 1];
    if (g !== undefined && g.id === id) {
      g.parts.push({ h: hf, b });
      g.last = eid;
    } else groups.push({ id, last: eid, parts: [{ h: hf, b }] });
  }
  return groups;
}

function textOf(parts: Array<{ h: string[]; b: Buffer }>): string {
  const first = parts[0] as { h: string[]; b: Buffer };
  const dcs = Number(first.h[6]);
  const udh = (Number(first.h[7]) & 0x40) !== 0;
  const sorted = [...parts].sort((a, b) => Number(a.h[1]) - Number(b.h[1]));
  // UCS-2 parts are joined before decoding: a surrogate pair may span two parts.
  if (dcs === 8) return Buffer.concat(sorted.map((x) => (udh ? x.b.subarray(1 + (x.b[0] ?? 0)) : x.b))).swap16().toString('utf16le');
  return sorted.map((x) => decodeShortMessage(x.b, dcs, udh).text).join('');
}

export async function listHeld(redis: Redis, keys: Keys, tenant: string, after: string | undefined, limit: number): Promise<{ items: HeldMessage[]; next: string | undefined }> {
  const key = keys.hold(tenant);
  const items: HeldMessage[] = [];
  let from = after === undefined || after === '' ? '-' : '(' + after;
  for (let round = 0; round < 50; round++) {
    // More than a message can have parts (255), so a page always ends with at least one whole message.
    const want = Math.max(300, (limit - items.length) * 2);
    const page = (await redis.callBuffer('XRANGE', key, from, '+', 'COUNT', want)) as Array<[Buffer, Buffer[]]>;
    const end = page.length < want;
    const groups = group(page);
    if (!end && groups.length > 1) groups.pop(); // may continue on the next page: read it again from its start
    const p = redis.pipeline();
    for (const g of groups) p.hmget(keys.message(g.id), 's', 'r', 'ac', 'hr', 'ht');
    const metas = ((await p.exec()) ?? []).map(([, v]) => v as Array<string | null>);
    let last: string | undefined;
    for (let k = 0; k < groups.length; k++) {
      if (items.length >= limit) return { items, next: last };
      const g = groups[k] as (typeof groups)[number];
      const m = metas[k] as Array<string | null>;
      last = g.last;
      if (m[0] !== 'pending_approval') continue; // ended meanwhile (expired): the reaper drops it
      const first = g.parts[0] as { h: string[]; b: Buffer };
      items.push({
        id: g.id, tenant, ref: m[1] ?? '', to: '+' + (first.h[3] ?? ''), from: first.h[4] ?? '', text: textOf(g.parts),
        parts: Number(first.h[2]), acceptedAt: Number(m[2] ?? 0), reason: { code: m[3] ?? '', text: m[4] ?? '' },
      });
    }
    if (end || last === undefined) return { items, next: items.length >= limit && !end ? last : undefined };
    from = '(' + last;
  }
  return { items, next: undefined };
}
