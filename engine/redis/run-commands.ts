/**
 * Independent commands whose keys lie in different slots (a reader going over
 * every shard, a page of message hashes of many shards), sent in as few round
 * trips as the client allows:
 *
 *   single Redis   one pipeline (one write, one round trip)
 *   Redis Cluster  one command each; the client's auto-pipelining groups them
 *                  per master (a Cluster pipeline must stay on one master:
 *                  connect-redis.ts header)
 *
 * Each command's own keys must share a slot (a hash tag). Not atomic: for
 * reads that need no snapshot and writes that are each idempotent. Replies
 * are raw (`call`): HGETALL is a flat [field, value, ...] array.
 *
 * Command names are sent in lower case: ioredis finds a command's keys (and
 * so its slot) in a table of lower-case names, and `call('ZSCORE', …)` has no
 * known keys. Alone, such a command goes to a random master and follows the
 * MOVED; auto-pipelined, the pipeline goes to a random master and every
 * command in it fails with MOVED (seen on the local cluster).
 */
import { isCluster, type RedisClient } from './connect-redis.js';

export type RedisArg = string | number | Buffer;
export type RedisCommand = readonly [name: string, ...args: RedisArg[]];

/** The replies, in order; the first error is thrown (after every command was answered). */
export async function runCommands(redis: RedisClient, cmds: ReadonlyArray<RedisCommand>): Promise<unknown[]> {
  return (await runCommandsSettled(redis, cmds)).map(([err, v]) => {
    if (err) throw err;
    return v;
  });
}

/** Each command's [error, reply], in order (as a pipeline's exec gives them). */
export async function runCommandsSettled(redis: RedisClient, cmds: ReadonlyArray<RedisCommand>): Promise<Array<[Error | null, unknown]>> {
  if (cmds.length === 0) return [];
  if (isCluster(redis)) {
    return await Promise.all(cmds.map(([name, ...args]) => redis.call(name.toLowerCase(), ...args).then((v): [null, unknown] => [null, v], (err: Error): [Error, undefined] => [err, undefined])));
  }
  const p = redis.pipeline();
  for (const [name, ...args] of cmds) p.call(name, ...args);
  return ((await p.exec()) ?? []) as Array<[Error | null, unknown]>;
}

/** A flat [field, value, ...] reply (HGETALL through `call`) as an object. */
export function pairs(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const a = (flat ?? []) as string[];
  for (let i = 0; i + 1 < a.length; i += 2) out[a[i] as string] = a[i + 1] as string;
  return out;
}
