/**
 * The network lookup hook: an HLR/MNP provider asked for the network of a
 * number the engine has not seen within the cache TTL. Its answers sit in a
 * bounded cache with a TTL, which the router reads like the MNP table (and
 * before it: a live lookup is fresher than a loaded file). A submit to a number
 * missing from the cache waits for the provider, at most `timeoutMs`; when the
 * provider fails or is slow the message routes by the MNP table and the
 * numbering plan, and the failure is not cached (the next message asks again).
 * "Not ported / unknown" answers are cached too.
 *
 * The provider interface is one method; `HttpLookupProvider` speaks a minimal
 * HTTP protocol: GET {url with {number} replaced by the E.164 digits} answers
 * 200 {"mcc":"242","mnc":"02"} or 404 (unknown); anything else is a failure.
 */
import type { MnpTable, Network } from '../../router/index.js';

export interface NetworkLookupProvider {
  /** The number's current network as MCC/MNC, or undefined when the provider does not know it. */
  lookup(e164: string, signal: AbortSignal): Promise<{ readonly mcc: string; readonly mnc: string } | undefined>;
}

export class HttpLookupProvider implements NetworkLookupProvider {
  constructor(
    private readonly urlTemplate: string,
    private readonly authorization?: string,
  ) {}

  async lookup(e164: string, signal: AbortSignal): Promise<{ mcc: string; mnc: string } | undefined> {
    const res = await fetch(this.urlTemplate.replace('{number}', encodeURIComponent(e164)), {
      signal,
      headers: this.authorization === undefined ? {} : { authorization: this.authorization },
    });
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`lookup provider answered HTTP ${res.status}`);
    const body = (await res.json()) as { mcc?: unknown; mnc?: unknown };
    const mcc = String(body.mcc ?? '');
    const mnc = String(body.mnc ?? '');
    if (!/^[0-9]{3}$/.test(mcc) || !/^[0-9]{2,3}$/.test(mnc)) throw new Error(`lookup provider answered ${JSON.stringify(body).slice(0, 100)}: expected {"mcc":"NNN","mnc":"NN"}`);
    return { mcc, mnc };
  }
}

interface Entry {
  readonly network: Network | null; // null: the provider does not know the number
  readonly expires: number;
}

export interface LookupCacheOptions {
  readonly ttlSec: number;
  readonly timeoutMs: number;
  readonly maxEntries: number;
}

export class CachedNetworkLookup implements MnpTable {
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<void>>();
  lookups = 0;
  hits = 0;
  failures = 0;

  constructor(
    private readonly provider: NetworkLookupProvider,
    private readonly o: LookupCacheOptions,
    private readonly networkOf: (id: string) => Network,
    private readonly onFailure: (e164: string, err: Error) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cached network (the router reads this); undefined when unknown, missing or expired. */
  get(e164: string): Network | undefined {
    const e = this.cache.get(e164);
    return e !== undefined && e.expires > this.now() ? (e.network ?? undefined) : undefined;
  }

  /** undefined when the cache can answer now; else a promise that settles (never rejects) once it can. */
  ensure(e164: string): Promise<void> | undefined {
    const e = this.cache.get(e164);
    if (e !== undefined && e.expires > this.now()) {
      this.hits++;
      return undefined;
    }
    let p = this.inFlight.get(e164);
    if (p === undefined) {
      p = this.fetch(e164).finally(() => this.inFlight.delete(e164));
      this.inFlight.set(e164, p);
    }
    return p;
  }

  get size(): number {
    return this.cache.size;
  }

  private async fetch(e164: string): Promise<void> {
    this.lookups++;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.o.timeoutMs);
    try {
      const r = await this.provider.lookup(e164, ctl.signal);
      if (this.cache.size >= this.o.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.delete(e164); // re-inserted last: the oldest entries go first
      this.cache.set(e164, { network: r === undefined ? null : this.networkOf(`${r.mcc}-${r.mnc}`), expires: this.now() + this.o.ttlSec * 1000 });
    } catch (err) {
      this.failures++;
      this.onFailure(e164, ctl.signal.aborted ? new Error(`no answer within ${this.o.timeoutMs} ms`) : (err as Error));
    } finally {
      clearTimeout(timer);
    }
  }
}
