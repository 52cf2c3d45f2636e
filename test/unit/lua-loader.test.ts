/**
 * The Lua script loader (engine/redis/lua-loader.ts) on files written to a
 * temporary directory: includes, generated fragments, errors that name the
 * file, cycles, the header; and the shipped scripts: every one loads, and none
 * reads the message hash by position.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LuaLoadError, loadLuaScript, luaConstants, luaPath } from '../../engine/redis/lua-loader.js';
import { STATE_FRAGMENTS } from '../../engine/queue/lua-scripts.js';
import { OPT_OUT_FRAGMENTS } from '../../engine/optout/optout-store.js';
import { PRE_CHECK_FRAGMENTS } from '../../engine/optout/pre-check.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-lua-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(rel: string, text: string): string {
  const p = join(dir, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
}

const HEAD = (keys: string, argv: string) => `--[[\n  A test script.\n${keys}\n${argv}\n  Returns: something.\n]]\n`;

function loadError(p: string, generated?: Record<string, string>): string {
  try {
    loadLuaScript(p, generated);
  } catch (err) {
    expect(err).toBeInstanceOf(LuaLoadError);
    return (err as Error).message;
  }
  throw new Error(`${p} loaded`);
}

describe('lua loader', () => {
  it('resolves includes relative to the including file, once each, without their headers, and generated fragments by name', () => {
    file('inc/a.lua', '--[[\n  fragment a\n]]\n--- @include "b"\nlocal a = 1\n');
    file('inc/b.lua', '--[[ fragment b ]]\nlocal b = 2\n');
    const p = file('main.lua', HEAD('  KEYS: none (test)', '  ARGV[1] prefix') + '--- @include "inc/a"\n--- @include "inc/b.lua"\n--- @include "@gen"\nreturn a + b + g + tonumber(ARGV[1])\n');
    const s = loadLuaScript(p, { gen: 'local g = 3\n' });
    const body = s.lua.slice(s.lua.indexOf(']]') + 3);
    expect(body).toBe('local b = 2\nlocal a = 1\nlocal g = 3\nreturn a + b + g + tonumber(ARGV[1])\n');
    expect(s.lua).toMatch(/^--\[\[\n {2}A test script\./);
    expect(s.name).toBe('main');
  });

  it('a missing include is an error naming the including file and the missing one', () => {
    const p = file('missing.lua', HEAD('  KEYS: none', '  ARGV: none') + '--- @include "inc/nope"\nreturn 1\n');
    const msg = loadError(p);
    expect(msg).toContain(p);
    expect(msg).toContain(join(dir, 'inc/nope.lua'));
    expect(msg).toContain('no such file');
  });

  it('a missing generated fragment is an error naming the file and the fragment', () => {
    const p = file('nogen.lua', HEAD('  KEYS: none', '  ARGV: none') + '--- @include "@codes"\nreturn 1\n');
    const msg = loadError(p, { other: '' });
    expect(msg).toContain(p);
    expect(msg).toContain('"@codes"');
    expect(msg).toContain('@other');
  });

  it('refuses an include cycle, naming the chain', () => {
    file('cyc/x.lua', '--- @include "y"\n');
    file('cyc/y.lua', '--- @include "x"\n');
    const p = file('cycle.lua', HEAD('  KEYS: none', '  ARGV: none') + '--- @include "cyc/x"\nreturn 1\n');
    const msg = loadError(p);
    expect(msg).toContain('include cycle');
    expect(msg).toContain(`${join(dir, 'cyc/x.lua')} -> ${join(dir, 'cyc/y.lua')} -> ${join(dir, 'cyc/x.lua')}`);
    // a script including itself
    const self = file('self.lua', HEAD('  KEYS: none', '  ARGV: none') + '--- @include "self"\n');
    expect(loadError(self)).toContain(`${self} -> ${self}`);
  });

  it('parses the header: KEYS (numberOfKeys), ARGV and a variable tail', () => {
    const p = file('header.lua', HEAD('  KEYS[1] the list\n  KEYS[2] the queue', '  ARGV[1] how many\n  ARGV[2..] 2 per item: a, b') + 'return { KEYS[1], KEYS[2], ARGV[1], ARGV[7] }\n');
    const s = loadLuaScript(p);
    expect(s.numberOfKeys).toBe(2);
    expect(s.keys).toEqual(['the list', 'the queue']);
    expect(s.argv).toEqual(['how many', '2 per item: a, b']);
    expect(s.variadic).toBe(true);
    const none = loadLuaScript(file('none.lua', HEAD('  KEYS: none (built inside)', '  ARGV[1] prefix') + 'return ARGV[1]\n'));
    expect(none.numberOfKeys).toBe(0);
    expect(none.variadic).toBe(false);
  });

  it('parses a script in sections: per-section keys KEYS[s+n] with a tail, no fixed key count, checked against the body', () => {
    const head = '  KEYS: per section (one per shard)\n  KEYS[s+1] events stream\n  KEYS[s+2..] message hashes, by index';
    const s = loadLuaScript(file('sec.lua', HEAD(head, '  ARGV[1] now\n  ARGV[2..] sections') + 'return { KEYS[s + 1], KEYS[s + tonumber(ARGV[2])] }\n'));
    expect(s.sectioned).toBe(true);
    expect(s.numberOfKeys).toBe(0);
    expect(s.keys).toEqual([]);
    expect(s.sectionKeys).toEqual(['events stream', 'message hashes, by index']);
    // a literal KEYS[n] in a script in sections, a section key beyond a header without a tail, or no "KEYS: per section"
    expect(loadError(file('seclit.lua', HEAD(head, '  ARGV[1..] x') + 'return KEYS[1]\n'))).toMatch(/seclit\.lua: uses KEYS\[1\] but it is a script in sections/);
    expect(loadError(file('secmore.lua', HEAD('  KEYS: per section\n  KEYS[s+1] a', '  ARGV[1..] x') + 'return KEYS[s + 2]\n'))).toMatch(/secmore\.lua: uses KEYS\[s \+ 2\] but its header declares 1 key per section/);
    expect(loadError(file('secsay.lua', HEAD('  KEYS[s+1] a', '  ARGV[1..] x') + 'return 1\n'))).toMatch(/secsay\.lua: header: a script in sections says "KEYS: per section/);
    expect(loadError(file('secgap.lua', HEAD('  KEYS: per section\n  KEYS[s+2] a', '  ARGV[1..] x') + 'return 1\n'))).toMatch(/secgap\.lua: header: KEYS\[s\+2\] out of order/);
  });

  it('refuses a header that is missing, incomplete, out of order or contradicted by the body', () => {
    expect(loadError(file('nohead.lua', 'return 1\n'))).toMatch(/nohead\.lua: no header comment/);
    expect(loadError(file('nokeys.lua', HEAD('', '  ARGV[1] x') + 'return 1\n'))).toMatch(/nokeys\.lua: header names no KEYS/);
    expect(loadError(file('gap.lua', HEAD('  KEYS: none', '  ARGV[1] a\n  ARGV[3] c') + 'return 1\n'))).toMatch(/gap\.lua: header: ARGV\[3\] out of order \(expected ARGV\[2\]\)/);
    expect(loadError(file('tail.lua', HEAD('  KEYS: none', '  ARGV[1..] all\n  ARGV[2] b') + 'return 1\n'))).toMatch(/tail\.lua: header: ARGV\[2\] follows the variable tail/);
    expect(loadError(file('keytail.lua', HEAD('  KEYS[1..] keys', '  ARGV: none') + 'return 1\n'))).toMatch(/keytail\.lua: header: KEYS\[1\.\.\]/);
    expect(loadError(file('both.lua', HEAD('  KEYS: none\n  KEYS[1] k', '  ARGV: none') + 'return 1\n'))).toMatch(/both\.lua: header: says "KEYS: none"/);
    // the body uses more than the header declares (includes count)
    file('inc/uses-argv3.lua', 'local z = ARGV[3]\n');
    expect(loadError(file('morekeys.lua', HEAD('  KEYS[1] k', '  ARGV: none') + 'return KEYS[2]\n'))).toMatch(/morekeys\.lua: uses KEYS\[2\] but its header declares 1 key$/);
    expect(loadError(file('moreargv.lua', HEAD('  KEYS: none', '  ARGV[1] a\n  ARGV[2] b') + '--- @include "inc/uses-argv3"\nreturn 1\n'))).toMatch(/moreargv\.lua: uses ARGV\[3\] but its header declares 2 ARGV entries/);
    // a comment naming an entry is not a use
    expect(loadLuaScript(file('comment.lua', HEAD('  KEYS: none', '  ARGV[1] a') + 'return ARGV[1] -- not ARGV[9] or KEYS[4]\n')).numberOfKeys).toBe(0);
  });

  it('generates constant tables with the TypeScript names, refusing names Lua cannot hold', () => {
    expect(luaConstants({ R: { Applied: 1, Early: 'e' } }, 'src.ts')).toBe("-- generated from src.ts: edit it there\nlocal R = { Applied = 1, Early = 'e' }\n");
    expect(() => luaConstants({ R: { 'not-a-name': 1 } }, 'src.ts')).toThrow(/src\.ts: R\.not-a-name: not a Lua name/);
  });

  it('finds the shipped scripts from dist/ in the source tree', () => {
    const fromDist = new URL('../../dist/engine/queue/redis-store.js', import.meta.url).href;
    expect(luaPath(fromDist, './lua/enqueue.lua')).toBe(new URL('../../engine/queue/lua/enqueue.lua', import.meta.url).pathname);
    expect(() => luaPath(fromDist, './lua/nope.lua')).toThrow(/nope\.lua: no such Lua script/);
  });
});

describe('shipped scripts', () => {
  const root = new URL('../../engine/', import.meta.url).pathname;
  const all: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.lua')) all.push(p);
    }
  };
  walk(root);

  it('every command loads with a header, every fragment is included by some command', () => {
    const commands = all.filter((p) => !p.includes('/includes/'));
    // 25 + link-submitted, lookup-receipts (single Redis) + engine/fleet/lua: register, tick, leave, claim (fleet-a) + tenant-grant, adopt-webhook-lists + engine/analytics/lua: claim-home, migration-lock (fleet-b) + forget-node (fleet records) + engine/tenants/lua: tenant-change (tenants as data)
    expect(commands.length).toBe(37);
    const used = new Set<string>();
    const gen = { ...STATE_FRAGMENTS, ...OPT_OUT_FRAGMENTS, ...PRE_CHECK_FRAGMENTS, MoLimits: 'local MoLimits = {}\n' };
    for (const p of commands) {
      const s = loadLuaScript(p, gen);
      expect(s.argv.length, p).toBeGreaterThan(0);
      for (const m of readFileSync(p, 'utf8').matchAll(/--- @include "([^@"][^"]*)"/g)) used.add(join(dirname(p), `${m[1]}.lua`));
    }
    for (const p of all.filter((x) => x.includes('/includes/'))) {
      for (const m of readFileSync(p, 'utf8').matchAll(/--- @include "([^@"][^"]*)"/g)) used.add(join(dirname(p), `${m[1]}.lua`));
    }
    expect(all.filter((p) => p.includes('/includes/') && !used.has(p))).toEqual([]);
  });

  it('no script reads the message hash by position (f[8]): fields are named (F.status)', () => {
    let reads = 0;
    const positional = all.flatMap((p) => {
      const text = readFileSync(p, 'utf8');
      // the variables holding an hm() reply in this file
      const vars = [...text.matchAll(/local (\w+) = hm\(/g)].map((m) => m[1] as string);
      reads += vars.length;
      return vars.flatMap((v) => [...text.matchAll(new RegExp(`\\b${v}\\[\\d+\\]`, 'g'))].map((m) => `${p}: ${m[0]}`));
    });
    expect(reads).toBeGreaterThan(5);
    expect(positional).toEqual([]);
  });
});
