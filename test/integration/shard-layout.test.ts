import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Keys } from '../../engine/queue/keys.js';
import { Shards } from '../../engine/queue/shards.js';
import { checkShardLayout, ShardLayoutError } from '../../engine/queue/shard-layout.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());
const prefix = () => `t:${randomBytes(3).toString('hex')}:`;

describe('shard layout', () => {
  it('the first start records the shard count; the same count starts again', async () => {
    const p = prefix();
    await checkShardLayout(redis, new Keys(p, new Shards(16)));
    await checkShardLayout(redis, new Keys(p, new Shards(16)));
    expect(await redis.hget(new Keys(p).control('meta'), 'shards')).toBe('16');
  });

  it('a start with another shard count is refused, naming both counts', async () => {
    const p = prefix();
    await checkShardLayout(redis, new Keys(p, new Shards(16)));
    const err = await checkShardLayout(redis, new Keys(p, new Shards(48))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardLayoutError);
    expect((err as Error).message).toMatch(/redis\.shards is 48 but .* created with 16 shards/);
  });

  it('data of the unsharded layout is refused, not half-used', async () => {
    const p = prefix();
    await redis.xadd(`${p}ev`, '*', 't', 'acme');
    await expect(checkShardLayout(redis, new Keys(p, new Shards(16)))).rejects.toThrow(/unsharded layout/);
    expect(await redis.exists(new Keys(p).control('meta'))).toBe(0);
  });
});
