/**
 * The message-hash fields every state change reads, defined once for
 * TypeScript and Lua (STYLE.md "the hash field list defined once"). The Lua
 * side is generated: `--- @include "@message-fields"` brings in `hm(mkey, part)`
 * (one HMGET of these fields, in this order) and `F`, the index of each field
 * in its reply, so that scripts read `f[F.status]`, never `f[8]`: adding a
 * field here moves no script's reads.
 *
 * The whole field list of m:{id} (with those only some scripts touch) is in
 * keys.ts.
 */
import { luaString } from '../redis/lua-loader.js';

/**
 * Name (the same in TypeScript and Lua) → hash field; `partState` (`p<part>`)
 * and `parkedReceipt` (`rc<part>`: a receipt that met its part still queued,
 * waiting for the part's submit to be recorded: lua/receipts.lua) are per part.
 */
export const MESSAGE_FIELDS = [
  ['tenant', 't'],
  ['ref', 'r'],
  ['to', 'to'],
  ['parts', 'n'],
  ['smsc', 'sm'],
  ['acceptedAt', 'ac'],
  ['push', 'd'],
  ['status', 's'],
  ['worstRank', 'w'],
  ['worstError', 'we'],
  ['worstText', 'wt'],
  ['partsFinal', 'nf'],
  ['partState', 'p'],
  ['partsSent', 'ns'],
  ['route', 'rt'],
  ['sentAt', 'sa'],
  ['billOnDelivery', 'bd'],
  ['parkedReceipt', 'rc'],
  // Issue 15: in every status event (stream field `o`: "from|callbackUrl"), for webhook payloads and per-message callbacks.
  ['from', 'fr'],
  ['callbackUrl', 'cb'],
] as const;

/** Fields kept per part: the name's field followed by the part number (`p2`, `rc2`). */
const PER_PART: ReadonlySet<string> = new Set(['partState', 'parkedReceipt']);

export type MessageFieldName = (typeof MESSAGE_FIELDS)[number][0];

/** The hash field of a name (`partState` needs the part). */
export function messageField(name: MessageFieldName, part?: number): string {
  const f = (MESSAGE_FIELDS.find(([n]) => n === name) as (typeof MESSAGE_FIELDS)[number])[1];
  return PER_PART.has(name) ? `${f}${part ?? 1}` : f;
}

/** The generated Lua fragment `@message-fields`. */
export function messageFieldsLua(): string {
  const index = MESSAGE_FIELDS.map(([name], i) => `${name} = ${i + 1}`).join(', ');
  const fields = MESSAGE_FIELDS.map(([name, f]) => (PER_PART.has(name) ? `${luaString(f)} .. part` : luaString(f))).join(', ');
  return [
    '-- generated from engine/queue/message-fields.ts (MESSAGE_FIELDS): edit it there',
    '-- f = hm(mkey, part): the fields every state change reads; f[F.status] is the status, f[F.partState] the part\'s state,',
    '-- f[F.parkedReceipt] a receipt parked for the part (lua/receipts.lua)',
    `local F = { ${index} }`,
    'local function hm(mkey, part)',
    `  return redis.call('HMGET', mkey, ${fields})`,
    'end',
    '',
  ].join('\n');
}
