/**
 * The numbering plan: E.164 number prefix → the network (country, MCC, MNC,
 * operator) that holds the range. Pure: the caller reads the files; this module
 * parses their text, builds the lookup structure and answers lookups.
 *
 * CSV format (config/numbering-plan.csv, and the operators' own range files):
 *
 *   # comment lines (first non-blank character '#') and blank lines are ignored
 *   prefix,country,mcc,mnc,operator            <- header, required, exactly this
 *   4791,NO,242,01,Telenor
 *   4792,NO,242,02,Telia
 *   1242,BS,364,,"Bahamas Telecommunications Company, Ltd"
 *
 *   prefix    1 to 15 digits, no '+': the E.164 country code and the start of
 *             the national number
 *   country   ISO 3166 alpha-2, upper case
 *   mcc       3 digits
 *   mnc       2 or 3 digits as the operator writes them ("01" is not "001"),
 *             or empty when only the country's MCC is known
 *   operator  free text; double-quote it when it contains a comma ("" inside
 *             quotes is one double quote)
 *
 * Any field may be double-quoted; unquoted fields are trimmed. A prefix listed
 * twice with the same network is accepted; with a different network it is an
 * error. Every error is a PlanError whose message starts with `source:line:`.
 *
 * Lookup is a longest-prefix match on a digit trie kept in one Int32Array, so
 * a lookup walks at most 15 nodes, reads two slots of one node per digit
 * (usually one cache line) and allocates nothing: tens of ns for a 100,000
 * prefix plan (bench/numbering-plan.bench.ts). Each node is 11 slots: its
 * network (index + 1 into `networks`, 0 = none), then its child per digit as
 * an offset into the same array (0 = none: the root, at 0, is nobody's child).
 *
 *   offset  0 root  [ 0 | 0  0  0  0 11  0  0  0  0  0 ]   digit 4 → 11
 *          11 "4"   [ 0 | 0  0  0  0  0  0  0 22  0  0 ]   digit 7 → 22
 *          22 "47"  [ 0 | 0  0  0  0  0  0  0  0  0 33 ]   digit 9 → 33
 *          33 "479" [ 1 | 0 44 55  0  0  0  0  0  0  0 ]   network 0 (242-01), digits 1, 2
 *          44 "4791"[ 0 | ...                          ]   no network of its own: 479's applies
 *          55 "4792"[ 2 | ...                          ]   network 1 (242-02)
 *
 * While walking, the last node that carries a network is the answer; the walk
 * stops at the first digit without a child or at the first non-digit.
 * Networks are deduplicated by value: every prefix of 242-01 shares one frozen
 * Network object, so callers may key maps by the object.
 */

export interface Network {
  /** ISO 3166 alpha-2, e.g. "NO". */
  readonly country: string;
  /** Mobile country code, 3 digits. */
  readonly mcc: string;
  /** Mobile network code, 2 or 3 digits as the operator writes it; '' when only the country's MCC is known. */
  readonly mnc: string;
  readonly operator: string;
}

/** A numbering plan file that cannot be used; the message names `source:line` and what is wrong. */
export class PlanError extends Error {
  /** The file (or other source) that was being read. */
  readonly source: string;
  /** 1-based line number, when the problem is on a line. */
  readonly line: number | undefined;

  constructor(source: string, line: number | undefined, problem: string) {
    super(line === undefined ? `${source}: ${problem}` : `${source}:${line}: ${problem}`);
    this.name = 'PlanError';
    this.source = source;
    this.line = line;
  }
}

const HEADER = ['prefix', 'country', 'mcc', 'mnc', 'operator'] as const;
const MAX_PREFIX_DIGITS = 15;
const PREFIX_RE = /^[0-9]{1,15}$/;
const COUNTRY_RE = /^[A-Z]{2}$/;
const MCC_RE = /^[0-9]{3}$/;
const MNC_RE = /^(?:[0-9]{2,3})?$/;
/** Slots per trie node: the node's network (index + 1, 0 = none), then one child per digit. */
const STRIDE = 11;

export class NumberingPlan {
  /** Number of prefixes. */
  readonly size: number;

  private constructor(
    /**
     * STRIDE slots per node, root at 0: [network + 1 (0: none), child offset
     * for digit 0, ..., for digit 9 (0: none; the root is nobody's child)].
     * Children are stored as offsets (node × STRIDE) to save a multiply per digit.
     */
    private readonly trie: Int32Array,
    private readonly networks: ReadonlyArray<Network>,
    size: number,
  ) {
    this.size = size;
  }

  /** Parses a plan in the CSV format described at the top of this file; `source` (a file name) prefixes every error. */
  static fromCsv(text: string, source: string): NumberingPlan {
    const builder = new PlanBuilder(true);
    const lines = text.split('\n');
    let sawHeader = false;
    for (let i = 0; i < lines.length; i++) {
      const lineNo = i + 1;
      let line = lines[i] as string;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (i === 0 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      const fields = splitCsvLine(line);
      if (typeof fields === 'string') throw new PlanError(source, lineNo, fields);
      if (!sawHeader) {
        if (fields.length !== HEADER.length || fields.some((f, k) => f !== HEADER[k]))
          throw new PlanError(source, lineNo, `expected the header line "${HEADER.join(',')}", got "${trimmed}"`);
        sawHeader = true;
        continue;
      }
      builder.add(parseRow(fields, source, lineNo), source, lineNo);
    }
    if (!sawHeader) throw new PlanError(source, undefined, `no header line "${HEADER.join(',')}" (the file is empty or only comments)`);
    return NumberingPlan.of(builder);
  }

  static empty(): NumberingPlan {
    return NumberingPlan.of(new PlanBuilder(false));
  }

  /** A new plan: `overlay`'s prefixes win over this plan's (operators' own range files load on top of the default plan). */
  withOverlay(overlay: NumberingPlan): NumberingPlan {
    const builder = new PlanBuilder(false);
    for (const [prefix, network] of this.entries()) builder.set(prefix, network);
    for (const [prefix, network] of overlay.entries()) builder.set(prefix, network);
    return NumberingPlan.of(builder);
  }

  /**
   * Longest-prefix match on E.164 digits without '+'; undefined when no prefix
   * matches. Hot path: no allocation, no string slicing.
   */
  lookup(e164: string): Network | undefined {
    const trie = this.trie;
    let node = 0;
    let best = 0;
    const n = e164.length;
    for (let i = 0; i < n; i++) {
      const digit = e164.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) break;
      node = trie[node + 1 + digit] as number;
      if (node === 0) break;
      const net = trie[node] as number;
      if (net !== 0) best = net;
    }
    return best === 0 ? undefined : this.networks[best - 1];
  }

  /** Every prefix with its network, in lexicographic order of the prefix. */
  *entries(): Iterable<[prefix: string, network: Network]> {
    // Depth-first, children in digit order, without recursion: the stack holds
    // nodes still to visit with their prefixes, pushed in reverse digit order.
    const trie = this.trie;
    const stack: Array<[node: number, prefix: string]> = [[0, '']];
    for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
      const [node, prefix] = top;
      const net = trie[node] as number;
      if (net !== 0) yield [prefix, this.networks[net - 1] as Network];
      for (let d = 9; d >= 0; d--) {
        const child = trie[node + 1 + d] as number;
        if (child !== 0) stack.push([child, prefix + String.fromCharCode(48 + d)]);
      }
    }
  }

  private static of(builder: PlanBuilder): NumberingPlan {
    const t = builder.build();
    return new NumberingPlan(t.trie, t.networks, t.size);
  }
}

/** Grows the trie while a plan is read; `build` trims it to size. */
class PlanBuilder {
  private trie = new Int32Array(STRIDE * 1024);
  /** Line that set each node's network, by node number (fromCsv only, for duplicate errors). */
  private lineOf: Int32Array | undefined;
  /** Offset of the next free node. */
  private end = STRIDE;
  private size = 0;
  private readonly networks: Network[] = [];
  private readonly networkIndex = new Map<string, number>();

  constructor(trackLines: boolean) {
    if (trackLines) this.lineOf = new Int32Array(1024);
  }

  /** Adds a row read from `source:line`; a prefix already set to another network is an error. */
  add(row: { prefix: string; network: Network }, source: string, line: number): void {
    const node = this.nodeFor(row.prefix);
    const net = this.intern(row.network) + 1;
    const had = this.trie[node] as number;
    if (had === 0) {
      this.trie[node] = net;
      if (this.lineOf !== undefined) this.lineOf[node / STRIDE] = line;
      this.size++;
    } else if (had !== net) {
      const first = this.lineOf?.[node / STRIDE];
      throw new PlanError(
        source,
        line,
        `duplicate prefix ${row.prefix} with a different network: ${describe(row.network)} here, ${describe(this.networks[had - 1] as Network)}` +
          (first === undefined ? '' : ` at line ${first}`),
      );
    }
  }

  /** Sets a prefix's network, replacing any earlier one (overlays). */
  set(prefix: string, network: Network): void {
    const node = this.nodeFor(prefix);
    if (this.trie[node] === 0) this.size++;
    this.trie[node] = this.intern(network) + 1;
  }

  /** The finished trie, trimmed to the nodes in use. */
  build(): { trie: Int32Array; networks: ReadonlyArray<Network>; size: number } {
    return { trie: this.trie.slice(0, this.end), networks: Object.freeze(this.networks.slice()), size: this.size };
  }

  private intern(n: Network): number {
    const key = `${n.country}\u0000${n.mcc}\u0000${n.mnc}\u0000${n.operator}`;
    let index = this.networkIndex.get(key);
    if (index === undefined) {
      index = this.networks.length;
      this.networks.push(Object.freeze({ country: n.country, mcc: n.mcc, mnc: n.mnc, operator: n.operator }));
      this.networkIndex.set(key, index);
    }
    return index;
  }

  /** The node offset for `prefix` (digits only, checked by the caller), created with its path if missing. */
  private nodeFor(prefix: string): number {
    let node = 0;
    for (let i = 0; i < prefix.length; i++) {
      const slot = node + 1 + prefix.charCodeAt(i) - 48;
      let child = this.trie[slot] as number;
      if (child === 0) {
        child = this.newNode();
        this.trie[slot] = child;
      }
      node = child;
    }
    return node;
  }

  private newNode(): number {
    if (this.end === this.trie.length) {
      // Double the capacity (amortised O(1) per node); new slots are zero: no network, no children.
      const trie = new Int32Array(this.trie.length * 2);
      trie.set(this.trie);
      this.trie = trie;
      if (this.lineOf !== undefined) {
        const lineOf = new Int32Array(this.lineOf.length * 2);
        lineOf.set(this.lineOf);
        this.lineOf = lineOf;
      }
    }
    const node = this.end;
    this.end += STRIDE;
    return node;
  }
}

function describe(n: Network): string {
  return `${n.country} ${n.mcc}-${n.mnc === '' ? '(no MNC)' : n.mnc} "${n.operator}"`;
}

function parseRow(fields: string[], source: string, line: number): { prefix: string; network: Network } {
  if (fields.length < HEADER.length)
    throw new PlanError(source, line, `missing column "${HEADER[fields.length]}": ${fields.length} of ${HEADER.length} columns (${HEADER.join(',')})`);
  if (fields.length > HEADER.length)
    throw new PlanError(
      source,
      line,
      `${fields.length} columns, expected ${HEADER.length} (${HEADER.join(',')}); double-quote an operator name that contains a comma`,
    );
  const [prefix, country, mcc, mnc, operator] = fields as [string, string, string, string, string];
  if (!PREFIX_RE.test(prefix)) throw new PlanError(source, line, `bad prefix "${prefix}": expected 1 to ${MAX_PREFIX_DIGITS} digits without '+'`);
  if (!COUNTRY_RE.test(country)) throw new PlanError(source, line, `bad country "${country}": expected an ISO 3166 alpha-2 code such as NO`);
  if (!MCC_RE.test(mcc)) throw new PlanError(source, line, `bad mcc "${mcc}": expected 3 digits`);
  if (!MNC_RE.test(mnc)) throw new PlanError(source, line, `bad mnc "${mnc}": expected 2 or 3 digits, or empty`);
  return { prefix, network: { country, mcc, mnc, operator } };
}

/**
 * Splits one CSV line into fields (RFC 4180 quoting, no line breaks inside
 * quotes). Returns the problem as a string when the quoting is broken.
 */
function splitCsvLine(line: string): string[] | string {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    if (line[i] === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) return `unterminated double quote in column ${fields.length + 1}`;
        value += line.slice(j, q);
        if (line[q + 1] === '"') {
          value += '"';
          j = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
      if (i < line.length && line[i] !== ',') return `unexpected text after the closing double quote in column ${fields.length + 1}`;
      fields.push(value);
    } else {
      const comma = line.indexOf(',', i);
      const raw = comma < 0 ? line.slice(i) : line.slice(i, comma);
      if (raw.includes('"')) return `stray double quote in column ${fields.length + 1}; quote the whole field`;
      fields.push(raw.trim());
      i = comma < 0 ? line.length : comma;
    }
    if (i >= line.length) return fields;
    i++; // the comma
  }
}
