import { describe, expect, it } from 'vitest';
import { StaticPrefixRouter } from '../../router/index.js';

describe('StaticPrefixRouter', () => {
  const r = new StaticPrefixRouter([
    { prefix: '', smsc: 'default' },
    { prefix: '47', smsc: 'no' },
    { prefix: '4791', smsc: 'no-mobile' },
    { prefix: '44', smsc: 'uk' },
  ]);

  it('picks the longest matching prefix', () => {
    expect(r.route({ e164: '4791234567', tenant: 't' })).toEqual({ ok: true, smsc: 'no-mobile' });
    expect(r.route({ e164: '4741234567', tenant: 't' })).toEqual({ ok: true, smsc: 'no' });
    expect(r.route({ e164: '447911123456', tenant: 't' })).toEqual({ ok: true, smsc: 'uk' });
  });

  it('falls back to the default route', () => {
    expect(r.route({ e164: '33612345678', tenant: 't' })).toEqual({ ok: true, smsc: 'default' });
  });

  it('refuses with NO_ROUTE when nothing matches', () => {
    const only = new StaticPrefixRouter([{ prefix: '47', smsc: 'no' }]);
    const d = only.route({ e164: '33612345678', tenant: 't' });
    expect(d).toEqual({ ok: false, code: 'NO_ROUTE', reason: 'no route matches +33612345678' });
  });
});
