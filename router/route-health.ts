/**
 * What the router knows of each SMSC's state, fed by the engine (bind states,
 * queue lag, submit errors, receipt outcomes) and read by every decision.
 * Plain typed arrays indexed by the SMSC's position in the config, so a
 * decision reads them without allocating or hashing. Pure: the engine pushes
 * numbers in; nothing here does I/O.
 */
export interface SmscHealthSnapshot {
  readonly smsc: string;
  readonly up: boolean;
  /** When the SMSC lost its last bind (ms since epoch); 0 while up. */
  readonly downSince: number;
  readonly queueLag: number;
  readonly circuitOpenUntil: number;
  /** Delivered / final receipts over the quality window; NaN without enough receipts. */
  readonly deliveryRate: number;
  readonly receiptsInWindow: number;
}

export class RouteHealth {
  readonly index: ReadonlyMap<string, number>;
  readonly up: Uint8Array;
  readonly downSince: Float64Array;
  readonly queueLag: Float64Array;
  readonly circuitOpenUntil: Float64Array;
  readonly deliveryRate: Float64Array;
  readonly receiptsInWindow: Float64Array;

  constructor(readonly smscs: ReadonlyArray<string>) {
    this.index = new Map(smscs.map((s, i) => [s, i]));
    const n = smscs.length;
    // Until the engine says otherwise an SMSC counts as up: a router built
    // before the first health report must not refuse everything.
    this.up = new Uint8Array(n).fill(1);
    this.downSince = new Float64Array(n);
    this.queueLag = new Float64Array(n);
    this.circuitOpenUntil = new Float64Array(n);
    this.deliveryRate = new Float64Array(n).fill(NaN);
    this.receiptsInWindow = new Float64Array(n);
  }

  private at(smsc: string): number {
    const i = this.index.get(smsc);
    if (i === undefined) throw new Error(`unknown SMSC "${smsc}"`);
    return i;
  }

  /** `downSince`: when its last bind went down (kept from the first report while it stays down). */
  setUp(smsc: string, up: boolean, downSince: number): void {
    const i = this.at(smsc);
    if (up) this.downSince[i] = 0;
    else if (this.downSince[i] === 0) this.downSince[i] = downSince;
    this.up[i] = up ? 1 : 0;
  }

  setQueueLag(smsc: string, lag: number): void {
    this.queueLag[this.at(smsc)] = lag;
  }

  openCircuit(smsc: string, until: number): void {
    this.circuitOpenUntil[this.at(smsc)] = until;
  }

  setDeliveryRate(smsc: string, rate: number, receipts: number): void {
    const i = this.at(smsc);
    this.deliveryRate[i] = rate;
    this.receiptsInWindow[i] = receipts;
  }

  snapshot(): SmscHealthSnapshot[] {
    return this.smscs.map((smsc, i) => ({
      smsc,
      up: this.up[i] === 1,
      downSince: this.downSince[i] as number,
      queueLag: this.queueLag[i] as number,
      circuitOpenUntil: this.circuitOpenUntil[i] as number,
      deliveryRate: this.deliveryRate[i] as number,
      receiptsInWindow: this.receiptsInWindow[i] as number,
    }));
  }
}
