/**
 * Message templates with per-recipient variables: a submit may carry
 * `template` (instead of `text`) and `vars`; a batch may put the template in
 * `common` and give each recipient only `to` and `vars`.
 *
 *   "Hi {{name}}, your code is {{code}}. {{footer|Reply STOP to opt out}}"
 *
 * A placeholder is `{{name}}` (spaces inside the braces allowed), the name
 * 1-64 of A-Z a-z 0-9 _ . - starting with a letter or _, and may give a
 * default after "|" used when the recipient has no such variable. Variables
 * are strings, numbers or booleans. Everything else between placeholders is
 * literal text (single braces too: "{ok}" stays "{ok}"). A template that does
 * not parse, or a recipient missing a variable without a default, is refused
 * with INVALID_TEMPLATE naming the problem; the other recipients of a batch
 * are not affected.
 *
 * Bounded work per recipient (issue 11, "template amplification": `{{a}}` ×
 * 1,600 with a 245 KB variable rendered 392 M characters, and encoding them
 * stalled the event loop for 8 s). A template has at most 8,000 characters
 * and 100 placeholders, and the length of the text it would render (the
 * literal text plus, per placeholder, its value's or default's length) is
 * added up BEFORE anything is rendered: beyond `maxChars` (parse-submit.ts
 * maxTextChars: the longest text worth encoding under messages.maxParts) the recipient is refused with
 * MESSAGE_TOO_LONG and nothing is built. So a recipient costs at most one pass
 * over the placeholders plus a text that fits the limit.
 *
 * Templates are compiled once and cached, bounded in entries and in bytes
 * (bounded-cache.ts); only templates that compile are kept, so a bulk frame of
 * one template costs one parse and a join per recipient.
 */
import { BoundedCache, ENTRY_OVERHEAD_BYTES, stringBytes } from './bounded-cache.js';

/** Structurally a parse-submit Refusal (not imported from there: parse-submit imports this module). */
export interface TemplateRefusal {
  readonly code: 'INVALID_TEMPLATE' | 'MESSAGE_TOO_LONG';
  readonly error: string;
}
type Refusal = TemplateRefusal;

type Piece = string | { readonly name: string; readonly fallback: string | undefined };

interface Compiled {
  readonly pieces: ReadonlyArray<Piece>;
  /** Characters of literal text (what every rendering has at least). */
  readonly literalChars: number;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
export const MAX_TEMPLATE_CHARS = 8_000;
export const MAX_PLACEHOLDERS = 100;
/** The bound on a rendering when the caller gives none: parse-submit's maxTextChars(255), the most messages.maxParts allows. */
const DEFAULT_MAX_CHARS = 2 * 255 * 153;
const CACHE_MAX_ENTRIES = 1_000;
const CACHE_MAX_BYTES = 8 * 2 ** 20;
const cache = new BoundedCache<Compiled>(CACHE_MAX_ENTRIES, CACHE_MAX_BYTES, (key, c) => {
  let bytes = ENTRY_OVERHEAD_BYTES + stringBytes(key);
  for (const p of c.pieces) bytes += typeof p === 'string' ? stringBytes(p) : 48 + stringBytes(p.name) + (p.fallback === undefined ? 0 : stringBytes(p.fallback));
  return bytes;
});

function bad(error: string): Refusal {
  return { code: 'INVALID_TEMPLATE', error };
}

function compile(template: string): Compiled | Refusal {
  if (template.length > MAX_TEMPLATE_CHARS) return bad(`"template" is longer than ${MAX_TEMPLATE_CHARS} characters`);
  const pieces: Piece[] = [];
  let literalChars = 0;
  let placeholders = 0;
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{{', i);
    const stray = template.indexOf('}}', i);
    if (stray >= 0 && (open < 0 || stray < open)) return bad(`"}}" at index ${stray} closes no placeholder`);
    if (open < 0) {
      pieces.push(template.slice(i));
      literalChars += template.length - i;
      break;
    }
    if (open > i) {
      pieces.push(template.slice(i, open));
      literalChars += open - i;
    }
    const close = template.indexOf('}}', open + 2);
    if (close < 0) return bad(`placeholder opened at index ${open} is not closed with "}}"`);
    const inner = template.slice(open + 2, close);
    const bar = inner.indexOf('|');
    const name = (bar < 0 ? inner : inner.slice(0, bar)).trim();
    if (name === '') return bad(`empty placeholder at index ${open}`);
    if (!NAME.test(name)) return bad(`placeholder name ${JSON.stringify(name.slice(0, 70))} at index ${open} must be 1-64 of A-Z, a-z, 0-9, "_", ".", "-", starting with a letter or "_"`);
    if (inner.includes('{{')) return bad(`placeholder at index ${open} contains "{{"`);
    if (++placeholders > MAX_PLACEHOLDERS) return bad(`a template may have at most ${MAX_PLACEHOLDERS} placeholders`);
    pieces.push({ name, fallback: bar < 0 ? undefined : inner.slice(bar + 1) });
    i = close + 2;
  }
  return { pieces, literalChars };
}

function compiled(template: string): Compiled | Refusal {
  const hit = cache.get(template);
  if (hit !== undefined) return hit;
  const c = compile(template);
  // A template that does not compile is not kept: client input that is refused is never cached.
  if (!('code' in c)) cache.set(template, c);
  return c;
}

/** Renderings done and the characters they produced: what the bounds above keep small (tests count them). */
export const templateStats = { rendered: 0, renderedChars: 0 };

/** Entries and estimated bytes in the compiled-template cache (tests). */
export function templateCacheSize(): { entries: number; bytes: number } {
  return { entries: cache.size, bytes: cache.bytes };
}

/** Checks a template without rendering it (a batch's `common.template` is checked once for all items). */
export function checkTemplate(template: unknown): Refusal | undefined {
  if (typeof template !== 'string' || template === '') return bad('"template" must be a non-empty string');
  const c = compiled(template);
  return 'code' in c ? c : undefined;
}

/** A variable's text, or undefined when it is not a string, number or boolean. */
function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) return String(value);
  return undefined;
}

/**
 * Renders a template with a recipient's variables; returns the text or a
 * refusal: INVALID_TEMPLATE, or MESSAGE_TOO_LONG when the text would be longer
 * than `maxChars` (found before rendering: see the header).
 */
export function renderTemplate(template: unknown, vars: unknown, maxChars = DEFAULT_MAX_CHARS): string | Refusal {
  const refused = checkTemplate(template);
  if (refused !== undefined) return refused;
  if (vars !== undefined && (vars === null || typeof vars !== 'object' || Array.isArray(vars)))
    return bad('"vars" must be an object of variable names to strings or numbers');
  const v = (vars ?? {}) as Record<string, unknown>;
  const c = compiled(template as string) as Compiled;
  // First pass: check every variable and add up the length, building nothing.
  let length = c.literalChars;
  for (const p of c.pieces) {
    if (typeof p === 'string') continue;
    const value = Object.hasOwn(v, p.name) ? v[p.name] : undefined;
    if (value === undefined || value === null) {
      if (p.fallback === undefined) return bad(`variable "${p.name}" is missing and has no default ({{${p.name}|default}})`);
      length += p.fallback.length;
    } else {
      const text = textOf(value);
      if (text === undefined) return bad(`variable "${p.name}" must be a string, a number or a boolean`);
      length += text.length;
    }
  }
  if (length > maxChars)
    return { code: 'MESSAGE_TOO_LONG', error: `the template would render ${length} characters with these variables, more than a message may have (messages.maxParts; templates rendering over ${maxChars} characters are refused unrendered)` };
  let out = '';
  for (const p of c.pieces) {
    if (typeof p === 'string') out += p;
    else {
      const value = Object.hasOwn(v, p.name) ? v[p.name] : undefined;
      out += value === undefined || value === null ? (p.fallback as string) : (textOf(value) as string);
    }
  }
  templateStats.rendered++;
  templateStats.renderedChars += out.length;
  return out;
}
