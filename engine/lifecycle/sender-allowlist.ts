/**
 * A tenant's sender-id allowlist (tenants[].senders): which `from` values it
 * may use. Entries are exact sender ids ("Acme"; case matters: it is what the
 * handset shows), numbers ("+4790000000", the "+" is optional) or number
 * prefixes ending in "*" ("4790*": a range the tenant owns). A tenant without
 * the key may use any sender. One Set lookup (and a short prefix scan for
 * ranges) per submit.
 */
export type SenderCheck = (from: string) => boolean;

export function compileSenders(senders: ReadonlyArray<string> | undefined): SenderCheck | undefined {
  if (senders === undefined) return undefined;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const s of senders) {
    const v = s.startsWith('+') ? s.slice(1) : s;
    if (v.endsWith('*')) prefixes.push(v.slice(0, -1));
    else exact.add(v);
  }
  // `from` arrives without its leading "+" (parse-submit.ts).
  return (from) => exact.has(from) || prefixes.some((p) => from.startsWith(p) && /^[0-9]+$/.test(from));
}
