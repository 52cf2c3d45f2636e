/**
 * Transliteration to GSM 03.38, so that a text which would otherwise need
 * UCS-2 (70 characters a part instead of 160) can stay GSM-7. It is an option
 * (per tenant, `tenants[].transliterate`, or per submit, `transliterate`):
 * the recipient sees "Oslo - Bergen" where the customer wrote "Oslo – Bergen".
 *
 * Only characters GSM-7 cannot carry are touched; é, ü, ñ, ß, Ø, Δ and the
 * rest of the GSM alphabet stay as they are. Mappings, in the order tried:
 *
 *   1. the table below: typographic punctuation (smart quotes, dashes,
 *      ellipsis, odd spaces), Cyrillic (a BGN/PCGN-like romanisation without
 *      diacritics: Ж→Zh, Щ→Shch, Я→Ya) and Greek (to the upper-case Greek
 *      that GSM has, plus the Latin look-alikes: α→A, λ→Λ, ς→Σ, ά→A —
 *      what Greek handsets have long shown for GSM text);
 *   2. compatibility decomposition (NFKD) without combining marks: á→a,
 *      ç→c, ő→o, ﬁ→fi, ²→2, ½→1/2, full-width letters → ASCII;
 *   3. a few letters that do not decompose: œ→oe, ł→l, đ→d, þ→th, ı→i.
 *
 * All or nothing: if any character (an emoji, Chinese, Arabic) still has no
 * GSM form, the function returns undefined and the caller sends the original
 * text in UCS-2 — a half-transliterated text would cost as much and read worse.
 *
 * A hand-written table rather than an ASCII transliteration library: the
 * target is GSM, not ASCII (é, Ä, Greek capitals must stay), and the table is
 * small enough to review. Results are cached per code point; the function
 * runs only for texts that are not GSM already and only with the option on.
 */
import { gsmSeptets } from './gsm7.js';

const TABLE = new Map<number, string>();

function put(chars: string, to: string): void {
  for (const c of chars) TABLE.set(c.codePointAt(0) as number, to);
}

// Punctuation and spaces (written as escapes: look-alikes must not slip in).
put('\u2018\u2019\u201a\u201b\u2032\u00b4\u0060\u02bc\u02b9', "'");
put('\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u02ba', '"');
put('\u2039', '<');
put('\u203a', '>');
put('\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\u00ad', '-');
put('\u2026', '...');
put('\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t', ' ');
put('\u200b\u200c\u200d\u2060\ufeff', '');
put('\u2028\u2029', '\n');
put('\u2022\u2219', '*');
put('\u00b7', '.');
put('\u2044\u2215', '/');
put('\u00d7', 'x');
put('\u00f7', '/');
put('\u02c6', '^');
put('\u02dc', '~');
put('\u00a6', '|');
put('\u00a9', '(c)');
put('\u00ae', '(R)');
put('\u2122', 'TM');
put('\u00b5', 'u'); // micro sign: "5µg" → "5ug", not the Greek capital M

// Letters that have no decomposition.
put('\u0153', 'oe');
put('\u0152', 'OE');
put('\u0142', 'l');
put('\u0141', 'L');
put('\u0111\u00f0', 'd');
put('\u0110\u00d0', 'D');
put('\u00fe', 'th');
put('\u00de', 'Th');
put('\u0131', 'i');
put('\u0138', 'k');
put('\u017f', 's');
put('\u0127', 'h');
put('\u0126', 'H');
put('\u0167', 't');
put('\u0166', 'T');

// Cyrillic: Russian, Ukrainian, Belarusian, Serbian/Macedonian letters.
const CYRILLIC: ReadonlyArray<readonly [string, string]> = [
  ['а', 'a'], ['б', 'b'], ['в', 'v'], ['г', 'g'], ['д', 'd'], ['е', 'e'], ['ё', 'yo'], ['ж', 'zh'], ['з', 'z'], ['и', 'i'],
  ['й', 'y'], ['к', 'k'], ['л', 'l'], ['м', 'm'], ['н', 'n'], ['о', 'o'], ['п', 'p'], ['р', 'r'], ['с', 's'], ['т', 't'],
  ['у', 'u'], ['ф', 'f'], ['х', 'kh'], ['ц', 'ts'], ['ч', 'ch'], ['ш', 'sh'], ['щ', 'shch'], ['ъ', ''], ['ы', 'y'], ['ь', ''],
  ['э', 'e'], ['ю', 'yu'], ['я', 'ya'], ['є', 'ye'], ['і', 'i'], ['ї', 'yi'], ['ґ', 'g'], ['ў', 'u'], ['ђ', 'dj'], ['ј', 'j'],
  ['љ', 'lj'], ['њ', 'nj'], ['ћ', 'c'], ['џ', 'dz'], ['ѓ', 'gj'], ['ќ', 'kj'], ['ѕ', 'dz'],
];
for (const [lower, to] of CYRILLIC) {
  put(lower, to);
  const upper = lower.toUpperCase();
  if (upper !== lower) put(upper, to === '' ? '' : (to[0] as string).toUpperCase() + to.slice(1));
}

// Greek: GSM has the capitals that do not look Latin; the others become their Latin look-alike.
const GREEK_CAPITAL: ReadonlyArray<readonly [string, string]> = [
  ['Α', 'A'], ['Β', 'B'], ['Γ', 'Γ'], ['Δ', 'Δ'], ['Ε', 'E'], ['Ζ', 'Z'], ['Η', 'H'], ['Θ', 'Θ'], ['Ι', 'I'], ['Κ', 'K'],
  ['Λ', 'Λ'], ['Μ', 'M'], ['Ν', 'N'], ['Ξ', 'Ξ'], ['Ο', 'O'], ['Π', 'Π'], ['Ρ', 'P'], ['Σ', 'Σ'], ['Τ', 'T'], ['Υ', 'Y'],
  ['Φ', 'Φ'], ['Χ', 'X'], ['Ψ', 'Ψ'], ['Ω', 'Ω'],
];
const GREEK = new Map(GREEK_CAPITAL);
for (let cp = 0x0370; cp <= 0x03ff; cp++) {
  const c = String.fromCodePoint(cp);
  const base = c.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toUpperCase();
  const to = GREEK.get(base === 'Σ' || c === 'ς' ? 'Σ' : base);
  if (to !== undefined && gsmSeptets(cp) === 0) TABLE.set(cp, to);
}

/** Code point → its GSM form ('' drops it), or null when it has none. */
const cache = new Map<number, string | null>();
const CACHE_MAX = 20_000;

function isGsm(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (gsmSeptets(s.charCodeAt(i)) === 0) return false;
  return true;
}

function mapCodePoint(cp: number): string | null {
  const t = TABLE.get(cp);
  if (t !== undefined) return t;
  // Compatibility decomposition without combining marks, each piece mapped again (½ → 1⁄2 → 1/2).
  const d = String.fromCodePoint(cp).normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  if (d === '' || d === String.fromCodePoint(cp)) return null;
  let out = '';
  for (const c of d) {
    const code = c.codePointAt(0) as number;
    if (code <= 0xffff && gsmSeptets(code) !== 0) out += c;
    else {
      const m = TABLE.get(code);
      if (m === undefined) return null;
      out += m;
    }
  }
  return isGsm(out) ? out : null;
}

/**
 * The text with every non-GSM character replaced by its GSM form, or
 * undefined when some character has none (send the original in UCS-2 then).
 */
export function transliterateToGsm(text: string): string | undefined {
  let out = '';
  let from = 0; // start of the run of GSM characters not yet copied
  for (let i = 0; i < text.length; i++) {
    const u = text.charCodeAt(i);
    if (gsmSeptets(u) !== 0) continue;
    const cp = text.codePointAt(i) as number;
    let m = cache.get(cp);
    if (m === undefined) {
      m = mapCodePoint(cp);
      if (cache.size >= CACHE_MAX) cache.clear();
      cache.set(cp, m);
    }
    if (m === null) return undefined;
    out += text.slice(from, i) + m;
    if (cp > 0xffff) i++;
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}
