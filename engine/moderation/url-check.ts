/**
 * Links in a message text, checked against a tenant's allowlist of domains
 * (an entry allows the domain and its subdomains). Finding links is
 * linkify-it's job (schemes, www., bare domains with the full IANA TLD list
 * from `tlds`), but at ~5 µs a text it is too dear for every message, so a
 * scan without allocation runs first: a text can only hold a link where a
 * letter or digit is followed by '.' and a letter (a domain: TLDs start with
 * a letter) or by ':/' (a scheme). Texts without one (most: "Your code is
 * 482913. It expires in 10 minutes.", "12.50 EUR", "10:00") cost a few
 * hundred nanoseconds.
 */
import { createRequire } from 'node:module';
import { LinkifyIt } from 'linkify-it';

// `tlds` is a JSON array package (CommonJS main): loaded through require.
const tlds = createRequire(import.meta.url)('tlds') as string[];
const linkify = new LinkifyIt({ fuzzyLink: true, fuzzyEmail: false }).tlds(tlds);

function isLetter(c: number): boolean {
  // ASCII letters, and anything beyond ASCII (IDN domains).
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c > 127;
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || isLetter(c);
}

/** False when the text certainly holds no link (the cheap pre-test). */
export function mayContainLink(text: string): boolean {
  const n = text.length - 1;
  for (let i = 1; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (isLetter(text.charCodeAt(i + 1)) && isWordChar(text.charCodeAt(i - 1))) return true;
    } else if (c === 58 && text.charCodeAt(i + 1) === 47 && isWordChar(text.charCodeAt(i - 1))) return true;
  }
  return false;
}

/** Host names of the links in a text (lower case), in order. */
export function linkHosts(text: string): string[] {
  if (!mayContainLink(text)) return [];
  const found = linkify.match(text);
  if (found === null) return [];
  const hosts: string[] = [];
  for (const m of found) {
    let host: string;
    try {
      host = new URL(m.url).hostname;
    } catch {
      host = m.text;
    }
    hosts.push(host.toLowerCase().replace(/\.$/, ''));
  }
  return hosts;
}

/** A domain allowlist: "acme.com" allows acme.com and every subdomain of it. */
export class UrlAllowlist {
  private readonly domains: Set<string>;

  constructor(domains: ReadonlyArray<string>) {
    this.domains = new Set(domains.map((d) => d.trim().toLowerCase().replace(/^\*\./, '').replace(/\.$/, '')));
  }

  allows(host: string): boolean {
    for (let h = host; ; ) {
      if (this.domains.has(h)) return true;
      const dot = h.indexOf('.');
      if (dot < 0) return false;
      h = h.slice(dot + 1);
    }
  }

  /** The first link host in the text that the list does not allow, or undefined. */
  firstDisallowed(text: string): string | undefined {
    for (const h of linkHosts(text)) if (!this.allows(h)) return h;
    return undefined;
  }
}
