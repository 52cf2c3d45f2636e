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
 * Templates are compiled once and cached (bounded), so a bulk frame of one
 * template costs one parse and a join per recipient.
 */
/** Structurally a parse-submit Refusal (not imported from there: parse-submit imports this module). */
export interface TemplateRefusal {
  readonly code: 'INVALID_TEMPLATE';
  readonly error: string;
}
type Refusal = TemplateRefusal;

type Piece = string | { readonly name: string; readonly fallback: string | undefined };

interface Compiled {
  readonly pieces: ReadonlyArray<Piece>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const MAX_TEMPLATE_CHARS = 8_000;
const cache = new Map<string, Compiled | Refusal>();
const CACHE_MAX = 1_000;

function bad(error: string): Refusal {
  return { code: 'INVALID_TEMPLATE', error };
}

function compile(template: string): Compiled | Refusal {
  if (template.length > MAX_TEMPLATE_CHARS) return bad(`"template" is longer than ${MAX_TEMPLATE_CHARS} characters`);
  const pieces: Piece[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{{', i);
    const stray = template.indexOf('}}', i);
    if (stray >= 0 && (open < 0 || stray < open)) return bad(`"}}" at index ${stray} closes no placeholder`);
    if (open < 0) {
      pieces.push(template.slice(i));
      break;
    }
    if (open > i) pieces.push(template.slice(i, open));
    const close = template.indexOf('}}', open + 2);
    if (close < 0) return bad(`placeholder opened at index ${open} is not closed with "}}"`);
    const inner = template.slice(open + 2, close);
    const bar = inner.indexOf('|');
    const name = (bar < 0 ? inner : inner.slice(0, bar)).trim();
    if (name === '') return bad(`empty placeholder at index ${open}`);
    if (!NAME.test(name)) return bad(`placeholder name ${JSON.stringify(name.slice(0, 70))} at index ${open} must be 1-64 of A-Z, a-z, 0-9, "_", ".", "-", starting with a letter or "_"`);
    if (inner.includes('{{')) return bad(`placeholder at index ${open} contains "{{"`);
    pieces.push({ name, fallback: bar < 0 ? undefined : inner.slice(bar + 1) });
    i = close + 2;
  }
  return { pieces };
}

function compiled(template: string): Compiled | Refusal {
  let c = cache.get(template);
  if (c === undefined) {
    c = compile(template);
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
    cache.set(template, c);
  }
  return c;
}

/** Checks a template without rendering it (a batch's `common.template` is checked once for all items). */
export function checkTemplate(template: unknown): Refusal | undefined {
  if (typeof template !== 'string' || template === '') return bad('"template" must be a non-empty string');
  const c = compiled(template);
  return 'code' in c ? c : undefined;
}

/** Renders a template with a recipient's variables; returns the text or an INVALID_TEMPLATE refusal. */
export function renderTemplate(template: unknown, vars: unknown): string | Refusal {
  const refused = checkTemplate(template);
  if (refused !== undefined) return refused;
  if (vars !== undefined && (vars === null || typeof vars !== 'object' || Array.isArray(vars)))
    return bad('"vars" must be an object of variable names to strings or numbers');
  const v = (vars ?? {}) as Record<string, unknown>;
  const c = compiled(template as string) as Compiled;
  let out = '';
  for (const p of c.pieces) {
    if (typeof p === 'string') {
      out += p;
      continue;
    }
    const value = Object.hasOwn(v, p.name) ? v[p.name] : undefined;
    if (value === undefined || value === null) {
      if (p.fallback === undefined) return bad(`variable "${p.name}" is missing and has no default ({{${p.name}|default}})`);
      out += p.fallback;
    } else if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) out += String(value);
    else return bad(`variable "${p.name}" must be a string, a number or a boolean`);
  }
  return out;
}
