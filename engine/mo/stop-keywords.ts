/**
 * STOP and START keywords of inbound (MO) messages. A message is a keyword
 * when its whole text is one, compared after normalisation: Unicode
 * compatibility form, accents removed, upper case, whitespace collapsed,
 * surrounding punctuation dropped. So "  stop. ", "Stop!", "ARRÊT" and
 * "arret" all match; "stop sending me offers" and "Stop by tomorrow" do not
 * (a keyword that is part of a sentence is not an instruction: carriers'
 * STOP handling works on whole-message keywords the same way). Pure.
 */

/** Default STOP keywords: CTIA's (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) and common European ones. */
export const DEFAULT_STOP_KEYWORDS: readonly string[] = [
  'STOP', 'STOPALL', 'STOP ALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'OPT OUT',
  'STOPP', 'STOPPEN', 'ABMELDEN', 'ARRET', 'ARRÊT', 'DESABONNER', 'DÉSABONNER', 'DESINSCRIRE', 'DÉSINSCRIRE',
  'ALTO', 'BAJA', 'PARAR', 'PARE', 'CANCELAR', 'STOPPA', 'AVSLUTA', 'AFMELD', 'AFMELDEN', 'LOPETA', 'BASTA', 'ANNULLA',
];

/** Default START keywords (opt back in to the tenant's messages): CTIA's START and UNSTOP, and ALTA. */
export const DEFAULT_START_KEYWORDS: readonly string[] = ['START', 'UNSTOP', 'ALTA'];

const MARKS = /\p{M}+/gu;
const EDGE_PUNCT = /^[\p{P}\p{S}\s]+|[\p{P}\p{S}\s]+$/gu;
const SPACES = /\s+/gu;

/** The form keywords and texts are compared in. */
export function normalizeKeyword(text: string): string {
  return text.normalize('NFKD').replace(MARKS, '').replace(EDGE_PUNCT, '').replace(SPACES, ' ').toUpperCase();
}

export type KeywordAction = 'stop' | 'start' | undefined;

export class KeywordMatcher {
  private readonly stop: Set<string>;
  private readonly start: Set<string>;
  private readonly longest: number;

  constructor(stop: ReadonlyArray<string>, start: ReadonlyArray<string>) {
    this.stop = new Set(stop.map(normalizeKeyword));
    this.start = new Set(start.map(normalizeKeyword));
    let longest = 0;
    for (const k of [...this.stop, ...this.start]) longest = Math.max(longest, k.length);
    this.longest = longest;
  }

  /** What the text of an MO message asks for: 'stop', 'start' or nothing. */
  match(text: string): KeywordAction {
    // A keyword is short: longer texts (with generous room for spaces and punctuation) are not normalised at all.
    if (text.length > this.longest * 2 + 16) return undefined;
    const k = normalizeKeyword(text);
    if (this.stop.has(k)) return 'stop';
    if (this.start.has(k)) return 'start';
    return undefined;
  }
}
