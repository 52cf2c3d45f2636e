/**
 * The generated Lua fragments run in Redis and agree with their TypeScript
 * sources: every result-code group has the same names and values on both
 * sides, and `hm` + `F` read each message-hash field under its name.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MESSAGE_FIELDS, messageField, messageFieldsLua } from '../../engine/queue/message-fields.js';
import { SCRIPT_CODES, scriptCodeFragments } from '../../engine/queue/script-codes.js';

const prefix = `t:${randomBytes(3).toString('hex')}:`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});

afterAll(async () => {
  await redis.del(prefix + 'm');
  redis.disconnect();
});

describe('generated Lua fragments', () => {
  it('every result-code group has the TypeScript names and values in Lua', async () => {
    const frags = scriptCodeFragments();
    expect(Object.keys(frags).sort()).toEqual(Object.keys(SCRIPT_CODES).sort());
    for (const [name, group] of Object.entries(SCRIPT_CODES)) {
      const json = (await redis.eval(`${frags[name]}\nreturn cjson.encode(${name})`, 0)) as string;
      expect(JSON.parse(json), name).toEqual(group);
    }
  });

  it('hm reads every field of MESSAGE_FIELDS at the index F names', async () => {
    const key = prefix + 'm';
    const part = 2;
    const hash: Record<string, string> = {};
    for (const [name] of MESSAGE_FIELDS) hash[messageField(name, part)] = `v-${name}`;
    hash.p1 = 'not part 2';
    await redis.hset(key, hash);
    const lua = `${messageFieldsLua()}
local f = hm(KEYS[1], tonumber(ARGV[1]))
local out = {}
for name, i in pairs(F) do out[name] = f[i] end
return cjson.encode(out)`;
    const got = JSON.parse((await redis.eval(lua, 1, key, part)) as string) as Record<string, string>;
    expect(got).toEqual(Object.fromEntries(MESSAGE_FIELDS.map(([name]) => [name, `v-${name}`])));
  });
});
