/**
 * The operator actor's handling of mobile-originated messages: reads each
 * deliver_sm (read-mo.ts), attributes it to a tenant (the number or short
 * code it was sent to, from tenants[].inboundNumbers; else mo.defaultTenant;
 * else unattributed), recognises STOP / START keywords (stop-keywords.ts,
 * single-part messages only: a keyword never needs two parts), and records
 * a batch per tick (MoStore). The SMSC gets its deliver_sm_resp only once
 * Redis has the message, 0x64 (temporary, redeliver) if that failed: an MO
 * message is recorded at least once.
 */
import { newMessageId } from '../ingress/message-id.js';
import { readMo, type MoDeliver } from './read-mo.js';
import type { SmscAlphabet } from '../text/index.js';
import type { MoItem, MoStore } from './mo-store.js';
import { KeywordMatcher } from './stop-keywords.js';

/** What the actor's worker thread is told about MO handling (plain data, crosses threads). */
export interface ActorMoConfig {
  /** Inbound number or short code (digits, see inboundKey) -> tenant. */
  readonly inbound: Readonly<Record<string, string>>;
  readonly defaultTenant: string | undefined;
  readonly stopKeywords: ReadonlyArray<string>;
  readonly startKeywords: ReadonlyArray<string>;
  readonly unattributedStop: 'global' | 'ignore';
}

export interface MoReplier {
  replyDeliverSm(sequence: number, commandStatus: number): void;
}

export type MoKind = 'message' | 'stop' | 'start' | 'part' | 'unattributed';

const ESME_RX_T_APPN = 0x64;
/** Permanent application error: the SMSC does not send it again (an MO message that can never be read). */
const ESME_RX_P_APPN = 0x65;

export class MoRecorder {
  private readonly keywords: KeywordMatcher;
  private readonly inbound: Map<string, string>;
  private batch: Array<{ item: MoItem; session: MoReplier; sequence: number; kind: MoKind }> = [];
  private scheduled = false;
  private writing = 0;
  readonly counts: Record<MoKind, number> = { message: 0, stop: 0, start: 0, part: 0, unattributed: 0 };

  constructor(
    private readonly smsc: string,
    private readonly store: MoStore,
    private readonly cfg: ActorMoConfig,
    private readonly log: (level: 'warn', msg: string) => void,
    private readonly onRecorded?: (kind: MoKind) => void,
    /** The SMSC's default alphabet: how its data_coding 0 is read. */
    private readonly alphabet: SmscAlphabet = 'gsm7',
  ) {
    this.keywords = new KeywordMatcher(cfg.stopKeywords, cfg.startKeywords);
    this.inbound = new Map(Object.entries(cfg.inbound));
  }

  get pending(): number {
    return this.batch.length + this.writing;
  }

  onDeliver(session: MoReplier, d: MoDeliver & { readonly sequence: number }): void {
    let m;
    try {
      m = readMo(d, this.alphabet);
    } catch (err) {
      this.log('warn', `MO message unreadable, answered 0x00000065 (permanent error) and dropped: ${(err as Error).message}`);
      session.replyDeliverSm(d.sequence, ESME_RX_P_APPN);
      return;
    }
    const tenant = this.inbound.get(m.to) ?? this.cfg.defaultTenant ?? '';
    const action = m.concat === undefined && m.fromE164 ? this.keywords.match(m.text) : undefined;
    const now = Date.now();
    const from = m.fromE164 ? '+' + m.from : m.from;
    const head = `{"op":"mo","id":"${newMessageId(now)}","from":${JSON.stringify(from)},"to":${JSON.stringify(m.to)},"text":"`;
    // optOut: the sender is on a list now (an unattributed STOP only when it goes on the global one).
    const optOut = action === 'stop' && (tenant !== '' || this.cfg.unattributedStop === 'global');
    const tail = `","at":${now},"smsc":${JSON.stringify(this.smsc)},"optOut":${optOut}}`;
    const json = JSON.stringify(m.text);
    const item: MoItem = {
      tenant, action, number: m.from, head, body: json.slice(1, -1), tail,
      ...(m.concat === undefined ? {} : { concat: { key: `${this.smsc}:${m.from}:${m.to}:${m.concat.ref}:${m.concat.total}`, seq: m.concat.seq, total: m.concat.total } }),
    };
    const kind: MoKind = tenant === '' ? 'unattributed' : m.concat !== undefined ? 'part' : action ?? 'message';
    this.batch.push({ item, session, sequence: d.sequence, kind });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    this.writing += batch.length;
    this.store.record(batch.map((b) => b.item)).then(
      () => {
        this.writing -= batch.length;
        for (const b of batch) {
          this.counts[b.kind]++;
          this.onRecorded?.(b.kind);
          b.session.replyDeliverSm(b.sequence, 0);
        }
      },
      (err: Error) => {
        this.writing -= batch.length;
        this.log('warn', `recording ${batch.length} MO messages failed; the SMSC will redeliver: ${err.message}`);
        for (const b of batch) b.session.replyDeliverSm(b.sequence, ESME_RX_T_APPN);
      },
    );
  }
}
