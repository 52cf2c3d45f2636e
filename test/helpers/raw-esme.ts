/**
 * A customer's ESME written byte by byte for the SMPP server tests, apart
 * from the engine's codec and connection class (engine/smpp): binds, submits
 * (pipelined, matched to their resps by sequence), deliver_sm read field by
 * field and answered (or not: `answerDeliver`), enquire_link answered.
 */
import { connect, type Socket } from 'node:net';
import { Framer, Id, cstr, header, pdu, tlv } from './raw-smpp.js';

export interface RawEsmeSubmit {
  readonly to: string;
  readonly from?: string;
  readonly registeredDelivery?: number;
  readonly dataCoding?: number;
  readonly esmClass?: number;
  readonly shortMessage: Buffer;
  readonly tlvs?: Buffer;
  readonly validity?: string;
  /** data_sm instead of submit_sm (the text goes in message_payload). */
  readonly dataSm?: boolean;
}

export interface RawResp {
  readonly status: number;
  readonly messageId: string;
}

export interface RawDelivery {
  readonly sequence: number;
  readonly source: string;
  readonly dest: string;
  readonly esmClass: number;
  readonly dataCoding: number;
  readonly shortMessage: Buffer;
  readonly receiptedMessageId?: string;
  readonly messageState?: number;
  readonly messagePayload?: Buffer;
  /** The receipt text's fields (id, stat, err, ...) when it is a receipt. */
  readonly receipt?: Record<string, string>;
}

const u8 = (...n: number[]): Buffer => Buffer.from(n);

export function submitSmBody(s: RawEsmeSubmit): Buffer {
  if (s.dataSm === true)
    return Buffer.concat([cstr(''), u8(5, 0), cstr(s.from ?? 'Acme'), u8(1, 1), cstr(s.to), u8(s.esmClass ?? 0, s.registeredDelivery ?? 0, s.dataCoding ?? 0), tlv(0x0424, s.shortMessage), s.tlvs ?? Buffer.alloc(0)]);
  return Buffer.concat([
    cstr(''), u8(5, 0), cstr(s.from ?? 'Acme'), u8(1, 1), cstr(s.to), u8(s.esmClass ?? 0, 0, 0), cstr(''), cstr(s.validity ?? ''),
    u8(s.registeredDelivery ?? 0, 0, s.dataCoding ?? 0, 0, s.shortMessage.length), s.shortMessage, s.tlvs ?? Buffer.alloc(0),
  ]);
}

function readDeliver(f: Buffer): RawDelivery {
  let o = 16;
  const str = () => {
    const nul = f.indexOf(0, o);
    const s = f.toString('latin1', o, nul);
    o = nul + 1;
    return s;
  };
  str();
  o += 2;
  const source = str();
  o += 2;
  const dest = str();
  const esmClass = f[o++] as number;
  o += 2;
  str();
  str();
  o += 2;
  const dataCoding = f[o++] as number;
  o++;
  const len = f[o++] as number;
  const shortMessage = Buffer.from(f.subarray(o, o + len));
  o += len;
  let receiptedMessageId: string | undefined;
  let messageState: number | undefined;
  let messagePayload: Buffer | undefined;
  while (o + 4 <= f.length) {
    const tag = f.readUInt16BE(o);
    const l = f.readUInt16BE(o + 2);
    const v = f.subarray(o + 4, o + 4 + l);
    if (tag === 0x001e) receiptedMessageId = v.toString('latin1').replace(/\0$/, '');
    if (tag === 0x0427) messageState = v[0];
    if (tag === 0x0424) messagePayload = Buffer.from(v);
    o += 4 + l;
  }
  const d: RawDelivery = { sequence: f.readUInt32BE(12), source, dest, esmClass, dataCoding, shortMessage, receiptedMessageId, messageState, messagePayload };
  if ((esmClass & 0x04) === 0) return d;
  const text = shortMessage.toString('latin1');
  const receipt: Record<string, string> = {};
  for (const m of text.matchAll(/(id|sub|dlvrd|submit date|done date|stat|err|text):(\S*)/g)) receipt[m[1] as string] = m[2] as string;
  return { ...d, receipt };
}

export class RawEsme {
  private readonly framer = new Framer();
  private seq = 0;
  private readonly waiting = new Map<number, (r: RawResp & { id: number }) => void>();
  /** Every deliver_sm received, in arrival order (answered ones and others). */
  readonly deliveries: RawDelivery[] = [];
  /** PDUs that were no response to one of ours and no deliver_sm (generic_nack, unbind, ...). */
  readonly others: Array<{ id: number; status: number; sequence: number }> = [];
  /** deliver_sm_resp status to answer with; undefined: never answer. */
  answerDeliver: number | undefined = 0;
  /** enquire_link the server sent (answered). */
  enquireLinks = 0;
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      for (const f of this.framer.push(c)) this.onFrame(f);
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<RawEsme> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((ok, fail) => {
      socket.once('connect', ok);
      socket.once('error', fail);
    });
    socket.setNoDelay(true);
    return new RawEsme(socket);
  }

  /** Connects and binds; throws unless the bind succeeded. */
  static async bound(port: number, mode: 'transmitter' | 'receiver' | 'transceiver', systemId: string, password: string): Promise<RawEsme> {
    const e = await RawEsme.connect(port);
    const r = await e.bind(mode, systemId, password);
    if (r.status !== 0) throw new Error(`bind refused 0x${r.status.toString(16)}`);
    return e;
  }

  private onFrame(f: Buffer): void {
    const h = header(f);
    const w = this.waiting.get(h.sequence);
    if ((h.id & 0x80000000) !== 0 && w !== undefined) {
      this.waiting.delete(h.sequence);
      w({ id: h.id, status: h.status, messageId: f.length > 16 ? f.toString('latin1', 16, f.indexOf(0, 16) < 0 ? f.length : f.indexOf(0, 16)) : '' });
      return;
    }
    if (h.id === Id.deliver_sm) {
      this.deliveries.push(readDeliver(f));
      if (this.answerDeliver !== undefined) this.write(pdu(Id.deliver_sm_resp, this.answerDeliver, h.sequence, cstr('')));
      return;
    }
    if (h.id === Id.enquire_link) {
      this.enquireLinks++;
      this.write(pdu(Id.enquire_link_resp, 0, h.sequence));
      return;
    }
    if (h.id === Id.unbind) this.write(pdu(Id.unbind_resp, 0, h.sequence));
    this.others.push(h);
  }

  write(b: Buffer): void {
    if (!this.closed) this.socket.write(b);
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** Sends a request PDU and resolves with its response. */
  request(commandId: number, body: Buffer = Buffer.alloc(0), sequence = this.nextSeq()): Promise<RawResp & { id: number }> {
    const p = new Promise<RawResp & { id: number }>((ok) => this.waiting.set(sequence, ok));
    this.write(pdu(commandId, 0, sequence, body));
    return p;
  }

  bind(mode: 'transmitter' | 'receiver' | 'transceiver', systemId: string, password: string): Promise<RawResp & { id: number }> {
    const id = mode === 'transmitter' ? Id.bind_transmitter : mode === 'receiver' ? Id.bind_receiver : Id.bind_transceiver;
    return this.request(id, Buffer.concat([cstr(systemId), cstr(password), cstr(''), u8(0x34, 0, 0), cstr('')]));
  }

  submit(s: RawEsmeSubmit): Promise<RawResp & { id: number }> {
    return this.request(s.dataSm === true ? Id.data_sm : Id.submit_sm, submitSmBody(s));
  }

  async unbind(): Promise<void> {
    if (this.closed) return;
    await this.request(Id.unbind);
    this.socket.end();
  }

  close(): void {
    this.socket.destroy();
  }

  /** Receipts received, by receipted_message_id. */
  receiptsFor(id: string): RawDelivery[] {
    return this.deliveries.filter((d) => d.receiptedMessageId === id);
  }
}

/** A UDH with an 8-bit reference concatenation IE. */
export function udh8(ref: number, total: number, seq: number): Buffer {
  return Buffer.from([5, 0, 3, ref & 0xff, total, seq]);
}
