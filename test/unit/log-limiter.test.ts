/** The route guard's log limiter (engine/http/guarded-app.ts), on a simulated clock. */
import { describe, expect, it } from 'vitest';
import { LogLimiter } from '../../engine/http/guarded-app.js';

describe('LogLimiter', () => {
  it('logs at most `burst` lines per window and says how many it left out when the next window starts', () => {
    let t = 1_000_000;
    const lines: string[] = [];
    const l = new LogLimiter((_level, m) => lines.push(m), 2, 10_000, () => t);
    for (let i = 0; i < 5; i++) l.warn(`bad ${i}`);
    expect(lines).toEqual(['bad 0', 'bad 1']);
    t += 9_999;
    l.warn('still the same window');
    expect(lines.length).toBe(2);
    t += 1;
    l.warn('next window');
    expect(lines).toEqual(['bad 0', 'bad 1', '4 more such line(s) left out in the last 10 s', 'next window']);
    t += 60_000;
    l.warn('quiet before');
    expect(lines.at(-1)).toBe('quiet before');
    expect(lines.length).toBe(5);
  });
});
