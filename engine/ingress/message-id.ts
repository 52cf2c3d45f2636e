/**
 * Message ids: time-ordered, unique across restarts and engine nodes, 16 chars
 * of [0-9a-z]: 8 of milliseconds (base 36), 4 random per process start, 4 of a
 * counter. Sortable by acceptance time, short in Redis keys and frames.
 */
import { randomBytes } from 'node:crypto';
import type { MessageId } from '../ids.js';
import { shardSuffix } from '../queue/shards.js';

const node = (randomBytes(4).readUInt32BE(0) % 36 ** 4).toString(36).padStart(4, '0');
let counter = 0;

export function newMessageId(now = Date.now()): MessageId {
  counter = (counter + 1) % 36 ** 4;
  return (now.toString(36).padStart(8, '0') + node + counter.toString(36).padStart(4, '0')) as MessageId;
}

/**
 * A message id of shard `shard` (queue/shards.ts): newMessageId's 16 characters
 * and the shard in two base-36 characters, so that the id alone names the
 * message's keys. Still sortable by acceptance time (the first 8 characters).
 */
export function newShardedMessageId(shard: number, now = Date.now()): MessageId {
  return (newMessageId(now) + shardSuffix(shard)) as MessageId;
}
