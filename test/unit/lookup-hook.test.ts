import { describe, expect, it } from 'vitest';
import { CachedNetworkLookup, type NetworkLookupProvider } from '../../engine/routing/lookup-hook.js';
import type { Network } from '../../router/index.js';

const net = (id: string): Network => ({ country: '', mcc: id.slice(0, 3), mnc: id.slice(4), operator: `op ${id}` });

function setup(answers: Record<string, { mcc: string; mnc: string } | undefined | 'fail' | 'hang'>) {
  let now = 1_000;
  const calls: string[] = [];
  const failures: string[] = [];
  const provider: NetworkLookupProvider = {
    lookup: (e164, signal) => {
      calls.push(e164);
      const a = answers[e164];
      if (a === 'fail') return Promise.reject(new Error('HTTP 503'));
      if (a === 'hang') return new Promise((_, fail) => signal.addEventListener('abort', () => fail(new Error('aborted'))));
      return Promise.resolve(a);
    },
  };
  const c = new CachedNetworkLookup(provider, { ttlSec: 60, timeoutMs: 50, maxEntries: 2 }, net, (e, err) => failures.push(`${e}: ${err.message}`), () => now);
  return { c, calls, failures, at: (t: number) => (now = t) };
}

describe('CachedNetworkLookup (the network lookup hook)', () => {
  it('asks the provider once per number within the TTL, concurrent asks included, and caches "unknown" too', async () => {
    const { c, calls, at } = setup({ '4791234567': { mcc: '242', mnc: '02' }, '4790000000': undefined });
    expect(c.get('4791234567')).toBeUndefined();
    const p1 = c.ensure('4791234567');
    const p2 = c.ensure('4791234567');
    expect(p1).toBe(p2);
    await p1;
    expect(c.get('4791234567')).toMatchObject({ mcc: '242', mnc: '02', operator: 'op 242-02' });
    expect(c.ensure('4791234567')).toBeUndefined();
    await c.ensure('4790000000');
    expect(c.get('4790000000')).toBeUndefined();
    expect(c.ensure('4790000000')).toBeUndefined();
    expect(calls).toEqual(['4791234567', '4790000000']);
    // after the TTL it asks again
    at(61_001);
    expect(c.get('4791234567')).toBeUndefined();
    await c.ensure('4791234567');
    expect(calls.length).toBe(3);
  });

  it('does not cache failures or timeouts: the message routes without, the next one asks again', async () => {
    const { c, calls, failures } = setup({ a: 'fail', b: 'hang' });
    await c.ensure('a');
    await c.ensure('b');
    expect(c.get('a')).toBeUndefined();
    expect(failures).toEqual(['a: HTTP 503', 'b: no answer within 50 ms']);
    expect(c.ensure('a')).toBeInstanceOf(Promise);
    expect(calls).toEqual(['a', 'b', 'a']);
  });

  it('keeps at most maxEntries, dropping the oldest', async () => {
    const { c } = setup({ x: { mcc: '242', mnc: '01' }, y: { mcc: '242', mnc: '02' }, z: { mcc: '262', mnc: '01' } });
    await c.ensure('x');
    await c.ensure('y');
    await c.ensure('z');
    expect(c.size).toBe(2);
    expect(c.get('x')).toBeUndefined();
    expect(c.get('z')?.mcc).toBe('262');
  });
});
