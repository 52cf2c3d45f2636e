/**
 * Loads the Lua scripts from their `.lua` files (STYLE.md "Lua scripts are
 * files"): one file per command, a header naming its KEYS and ARGV, shared
 * fragments pulled in at load time. Adapted from BullMQ's script loader
 * (`src/commands/*.lua`, `--- @include "includes/x"`).
 *
 *   engine/queue/lua/submitted.lua           a command: header, then its body
 *   engine/queue/lua/includes/common.lua     a fragment: included, never run alone
 *   "@message-fields"                         a generated fragment: Lua text built in
 *                                             TypeScript (result codes, the message-hash
 *                                             field list), handed to the loader by name
 *
 * Header (the first thing in a command's file):
 *
 *   --[[
 *     What the script does (free text).
 *     KEYS[1] the first key ...         or   KEYS: none (why)
 *     ARGV[1] the first argument ...
 *     ARGV[6..] 7 per item: ...              (a variable tail: last, at most one)
 *     Returns: ...
 *   ]]
 *
 * KEYS and ARGV entries are numbered from 1 without gaps; numberOfKeys (for
 * ioredis defineCommand / EVALSHA) is the number of KEYS entries. After the
 * includes are resolved, a literal KEYS[n] or ARGV[n] beyond what the header
 * declares is an error, so the header cannot drift from the body.
 *
 * Scripts in SECTIONS (issue 13: one section per Redis Cluster slot, e.g. a
 * shard; many sections in one call on a single Redis, one per call on a
 * cluster) declare their keys per section, numbered from the section's key
 * offset `s`, and end with a variable tail for the section's item keys:
 *
 *     KEYS[s+1] events stream ev:{T}
 *     KEYS[s+2..] the section's message hashes, named by index (from s) in its items
 *
 * Such a script has no fixed key count (`sectioned`: the caller passes the
 * count first, ioredis's dynamic keys); its body reads
 * `KEYS[s + n]`, checked against the header like a literal KEYS[n], and may
 * not read a literal KEYS[n] at all. engine/queue/lua/includes/sections.lua
 * walks the sections.
 *
 * Includes: a line `--- @include "path"` is replaced by that file (relative to
 * the including file, `.lua` added), without its own leading `--[[ ]]` comment.
 * Each file is included once per script (a second include of it is dropped, as
 * in BullMQ); a cycle, a missing file or a missing generated fragment is an
 * error naming the including file and the chain.
 *
 * From dist/ (tsc copies no assets) the files are read from the source tree,
 * as the shipped numbering plan is (engine/routing/load-routing.ts): the build
 * is run from the repository checkout, and there is only one copy to edit.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LuaScript {
  /** File name without `.lua`. */
  readonly name: string;
  readonly file: string;
  /** The text sent to Redis: the file with its includes resolved. */
  readonly lua: string;
  /**
   * Number of KEYS entries in the header (ioredis `numberOfKeys`); 0 for a
   * script in sections (`sectioned`), whose caller passes the key count first.
   */
  readonly numberOfKeys: number;
  /** The header's KEYS and ARGV descriptions, in order (ARGV ends with the variable tail, if any). */
  readonly keys: readonly string[];
  /** A script in sections: its per-section keys (KEYS[s+n]), the last one a tail when `sectioned`. */
  readonly sectionKeys: readonly string[];
  readonly sectioned: boolean;
  readonly argv: readonly string[];
  /** Whether the header ends ARGV with a variable tail (`ARGV[n..]`). */
  readonly variadic: boolean;
}

/** Thrown for a script file that cannot be loaded as it is: names the file and what is wrong. */
export class LuaLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LuaLoadError';
  }
}

const INCLUDE = /^[ \t]*---[ \t]*@include[ \t]+"([^"]+)"[ \t]*$/;
const HEADER = /^\s*--\[\[([\s\S]*?)\]\]/;

/**
 * The path of a `.lua` file given relative to the calling module
 * (`import.meta.url`), found in the source tree when the caller runs from dist/.
 */
export function luaPath(callerUrl: string, relative: string): string {
  const p = fileURLToPath(new URL(relative, callerUrl));
  if (existsSync(p)) return p;
  const m = /^(.*)[\\/]dist[\\/](.*)$/.exec(p);
  if (m !== null) {
    const src = join(m[1] as string, m[2] as string);
    if (existsSync(src)) return src;
  }
  throw new LuaLoadError(`${p}: no such Lua script${m !== null ? ` (nor ${join(m[1] as string, m[2] as string)} in the source tree)` : ''}`);
}

/** Splits a file into its leading `--[[ ]]` comment (if any) and the rest. */
function splitHeader(text: string): { header: string | undefined; body: string } {
  const m = HEADER.exec(text);
  if (m === null) return { header: undefined, body: text };
  return { header: m[1] as string, body: text.slice(m[0].length).replace(/^\r?\n/, '') };
}

interface Numbered {
  readonly entries: string[];
  readonly variadic: boolean;
}

function numbered(file: string, header: string, what: 'KEYS' | 'ARGV' | 'section KEYS'): Numbered {
  const section = what === 'section KEYS';
  const re = section ? /^\s*KEYS\[s\+(\d+)(\.\.)?\][ \t]+(.+?)\s*$/ : new RegExp(`^\\s*${what}\\[(\\d+)(\\.\\.)?\\][ \\t]+(.+?)\\s*$`);
  const none = new RegExp(`^\\s*${section ? 'KEYS' : what}:\\s*none\\b`);
  const name = (n: number) => (section ? `KEYS[s+${n}]` : `${what}[${n}]`);
  const entries: string[] = [];
  let variadic = false;
  let saidNone = false;
  for (const line of header.split('\n')) {
    if (none.test(line)) {
      saidNone = true;
      continue;
    }
    const m = re.exec(line);
    if (m === null) continue;
    const n = Number(m[1]);
    if (variadic) throw new LuaLoadError(`${file}: header: ${name(n)} follows the variable tail ${name(entries.length)}..; the tail must be last`);
    if (n !== entries.length + 1) throw new LuaLoadError(`${file}: header: ${name(n)} out of order (expected ${name(entries.length + 1)})`);
    if (m[2] !== undefined) {
      if (what === 'KEYS') throw new LuaLoadError(`${file}: header: KEYS[${n}..]: scripts declare every key, no variable tail of keys (a script in sections ends its section's keys with KEYS[s+n..])`);
      variadic = true;
    }
    entries.push(m[3] as string);
  }
  if (section) return { entries, variadic };
  if (saidNone && entries.length > 0) throw new LuaLoadError(`${file}: header: says "${what}: none" and lists ${what} entries`);
  if (!saidNone && entries.length === 0) throw new LuaLoadError(`${file}: header names no ${what} (list ${what}[1] ... or say "${what}: none")`);
  return { entries, variadic };
}

/** Highest literal index used as `name[<digits>]` (or `KEYS[s + <digits>]`) in Lua code (comments left out). */
function highestLiteral(code: string, name: 'KEYS' | 'ARGV' | 'section KEYS'): number {
  let max = 0;
  const re = name === 'section KEYS' ? /\bKEYS\[s \+ (\d+)\]/g : new RegExp(`\\b${name}\\[(\\d+)\\]`, 'g');
  for (const line of code.split('\n')) {
    const dash = line.indexOf('--');
    const c = dash >= 0 ? line.slice(0, dash) : line;
    for (const m of c.matchAll(re)) max = Math.max(max, Number(m[1]));
  }
  return max;
}

/**
 * Loads a command's `.lua` file: parses its header, resolves its includes
 * (files relative to it, and `@name` from `generated`) and checks that the
 * body uses no KEYS or ARGV entry the header does not declare.
 */
export function loadLuaScript(file: string, generated: Readonly<Record<string, string>> = {}): LuaScript {
  const path = resolve(file);
  const text = read(path, undefined);
  const { header, body } = splitHeader(text);
  if (header === undefined) throw new LuaLoadError(`${path}: no header comment (--[[ ... ]]) naming its KEYS and ARGV`);
  const section = numbered(path, header, 'section KEYS');
  const sectioned = section.entries.length > 0;
  const keys = sectioned ? { entries: [] as string[], variadic: false } : numbered(path, header, 'KEYS');
  if (sectioned && !/^\s*KEYS: per section\b/m.test(header)) throw new LuaLoadError(`${path}: header: a script in sections says "KEYS: per section ..." before its KEYS[s+n] entries`);
  const argv = numbered(path, header, 'ARGV');
  const seen = new Set<string>([path]);
  const resolved = resolveIncludes(path, body, generated, [path], seen);
  const lua = `--[[${header}]]\n${resolved}`;
  const usedKeys = highestLiteral(resolved, 'KEYS');
  if (sectioned && usedKeys > 0) throw new LuaLoadError(`${path}: uses KEYS[${usedKeys}] but it is a script in sections: every key is a section's, KEYS[s + n]`);
  if (usedKeys > keys.entries.length) {
    throw new LuaLoadError(`${path}: uses KEYS[${usedKeys}] but its header declares ${keys.entries.length} key${keys.entries.length === 1 ? '' : 's'}`);
  }
  const usedSection = highestLiteral(resolved, 'section KEYS');
  if (usedSection > 0 && !section.variadic && usedSection > section.entries.length) {
    throw new LuaLoadError(`${path}: uses KEYS[s + ${usedSection}] but its header declares ${section.entries.length} key${section.entries.length === 1 ? '' : 's'} per section`);
  }
  const usedArgv = highestLiteral(resolved, 'ARGV');
  if (!argv.variadic && usedArgv > argv.entries.length) {
    throw new LuaLoadError(`${path}: uses ARGV[${usedArgv}] but its header declares ${argv.entries.length} ARGV entries (and no variable tail)`);
  }
  return {
    name: basename(path, '.lua'),
    file: path,
    lua,
    numberOfKeys: keys.entries.length,
    keys: keys.entries,
    sectionKeys: section.entries,
    sectioned,
    argv: argv.entries,
    variadic: argv.variadic,
  };
}

function read(path: string, includedFrom: string | undefined): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new LuaLoadError(includedFrom === undefined ? `${path}: ${why}` : `${includedFrom}: @include "${path}": ${why}`);
  }
}

function resolveIncludes(file: string, body: string, generated: Readonly<Record<string, string>>, chain: string[], seen: Set<string>): string {
  const out: string[] = [];
  for (const line of body.split('\n')) {
    const m = INCLUDE.exec(line);
    if (m === null) {
      out.push(line);
      continue;
    }
    const ref = m[1] as string;
    if (ref.startsWith('@')) {
      const name = ref.slice(1);
      const frag = generated[name];
      if (frag === undefined) throw new LuaLoadError(`${file}: @include "${ref}": no generated fragment of that name (known: ${Object.keys(generated).map((k) => '@' + k).join(', ') || 'none'})`);
      if (seen.has(ref)) continue;
      seen.add(ref);
      out.push(frag.replace(/\n$/, ''));
      continue;
    }
    const target = resolve(dirname(file), ref.endsWith('.lua') ? ref : `${ref}.lua`);
    if (chain.includes(target)) throw new LuaLoadError(`include cycle: ${[...chain.slice(chain.indexOf(target)), target].join(' -> ')}`);
    if (seen.has(target)) continue;
    seen.add(target);
    const inc = splitHeader(read(target, file)).body;
    out.push(resolveIncludes(target, inc, generated, [...chain, target], seen).replace(/\n$/, ''));
  }
  return out.join('\n');
}

/**
 * Lua text defining one table per group with the same names as the
 * TypeScript objects, e.g. `local ReceiptResult = { Applied = 1, Early = 2 }`,
 * so that neither side compares bare numbers. Values are numbers or strings.
 */
export function luaConstants(groups: Readonly<Record<string, Readonly<Record<string, number | string>>>>, source: string): string {
  const lines = [`-- generated from ${source}: edit it there`];
  for (const [group, members] of Object.entries(groups)) {
    if (!/^[A-Za-z_]\w*$/.test(group)) throw new LuaLoadError(`${source}: ${group}: not a Lua name`);
    const fields = Object.entries(members).map(([k, v]) => {
      if (!/^[A-Za-z_]\w*$/.test(k)) throw new LuaLoadError(`${source}: ${group}.${k}: not a Lua name`);
      return `${k} = ${typeof v === 'number' ? String(v) : luaString(v)}`;
    });
    lines.push(`local ${group} = { ${fields.join(', ')} }`);
  }
  return lines.join('\n') + '\n';
}

/** A Lua string literal (single-quoted). */
export function luaString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/**
 * Registers a script as a command of an ioredis client (Redis or Cluster):
 * EVALSHA with the header's numberOfKeys, or with the count passed first for a
 * script in sections (ioredis sends EVAL once per connection, then EVALSHA).
 * A name already defined on the client is kept.
 */
export function defineLuaCommand(
  redis: { defineCommand(name: string, def: { numberOfKeys?: number; lua: string }): void; options?: { autoPipeliningIgnoredCommands?: string[] } },
  name: string,
  script: LuaScript,
): void {
  if (name in redis) return;
  // A script in sections has no fixed key count: the caller passes it first (ioredis's dynamic keys).
  // A Cluster client must not auto-pipeline it: it would group it by that count, not by its keys
  // (connect-redis.ts, NOT_KEY_FIRST).
  if (script.sectioned) {
    const ignored = redis.options?.autoPipeliningIgnoredCommands;
    if (ignored !== undefined && !ignored.includes(name)) ignored.push(name);
    redis.defineCommand(name, { lua: script.lua });
  }
  else redis.defineCommand(name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
}
