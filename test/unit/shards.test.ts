import { describe, expect, it } from 'vitest';
import { Shards, SLOTS, shardTag, slotOf } from '../../engine/queue/shards.js';
import { Keys } from '../../engine/queue/keys.js';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';

/** The masters' slot ranges as `redis-cli --cluster create` assigns them: contiguous, equal, the first ones a slot longer. */
function masterOf(slot: number, masters: number): number {
  const per = SLOTS / masters;
  for (let m = 0; m < masters; m++) if (slot < Math.round((m + 1) * per)) return m;
  return masters - 1;
}

describe('shards', () => {
  it('each shard tag hashes inside its own share of the slot range', () => {
    for (const n of [1, 3, 16, 48, 100, 256]) {
      const s = new Shards(n);
      for (const k of s.all()) {
        const slot = s.slot(k);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((k * SLOTS) / n));
        expect(slot).toBeLessThan(Math.floor(((k + 1) * SLOTS) / n));
      }
    }
  });

  it('48 shards spread evenly over 3, 4, 6, 8, 12 and 16 masters, and within one shard of even over 5 to 15', () => {
    const s = new Shards(48);
    for (let m = 3; m <= 16; m++) {
      const per = new Array<number>(m).fill(0);
      for (const k of s.all()) per[masterOf(s.slot(k), m)] = (per[masterOf(s.slot(k), m)] as number) + 1;
      if (48 % m === 0) expect(per.every((c) => c === 48 / m)).toBe(true);
      else expect(Math.max(...per) - Math.min(...per)).toBeLessThanOrEqual(1);
    }
  });

  it('the shard is recoverable from the message id alone, and foreign ids name no shard', () => {
    const s = new Shards(48);
    for (const k of [0, 1, 35, 36, 47]) expect(s.ofId(newShardedMessageId(k))).toBe(k);
    expect(s.ofId(newShardedMessageId(48))).toBeUndefined(); // beyond this deployment's count
    expect(s.ofId('lk3x0a1b00010000')).toBeUndefined(); // an unsharded (16-character) id
    expect(s.ofId('LK3X0A1B000100000A')).toBeUndefined();
    expect(s.ofId('../../etc/passwd00')).toBeUndefined();
  });

  it('tags are stable: they name keys, so changing how they are chosen is a migration', () => {
    expect([0, 1, 2, 47].map((k) => shardTag(k, 48))).toMatchSnapshot();
  });

  it('a message family shares one slot, and a receipt mapping is in the shard of the SMSC id', () => {
    const s = new Shards(16);
    const keys = new Keys('sy:', s);
    const id = newShardedMessageId(5);
    const slot = s.slot(5);
    for (const k of [keys.msg(id), keys.queueOf('smsc-a', 5), keys.eventsOf(5), keys.expiryOf(5), keys.scheduleOf(5), keys.usageOf(5, 20000), keys.listIndexOf(5, 't1', 1), keys.listMinutesOf(5, 't1'), keys.holdOf(5, 't1'), keys.parkOf(5, 't1'), keys.pausedCopy(5), keys.recentOptOuts(5)]) {
      expect(slotOf(k)).toBe(slot);
    }
    const j = s.mappingShard('smsc-a', 'abc123');
    expect(slotOf(keys.dlrOf('smsc-a', 'abc123'))).toBe(s.slot(j));
    expect(slotOf(keys.earlyDlrOf('smsc-a', 'abc123'))).toBe(s.slot(j));
    expect(slotOf(keys.control('pz'))).toBe(slotOf(keys.control('ooev')));
    expect(() => keys.msg('not-an-id')).toThrow(RangeError);
  });

  it('receipt mappings spread over the shards', () => {
    const s = new Shards(16);
    const per = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) {
      const j = s.mappingShard('smsc-a', (1_000_000 + i).toString(16));
      per[j] = (per[j] as number) + 1;
    }
    expect(Math.min(...per)).toBeGreaterThan(800);
    expect(Math.max(...per)).toBeLessThan(1200);
  });

  it('a key prefix with a brace is refused (it would move every key to another slot)', () => {
    expect(() => new Keys('sy{x}:')).toThrow(/must not contain/);
  });
});
