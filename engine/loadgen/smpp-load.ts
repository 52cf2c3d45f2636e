/**
 * The SMPP customers of `bench:e2e --ingress smpp`: `binds` transceiver binds
 * (the engine's own SmppConnection as the ESME: a load generator, not a test
 * of the protocol), each with `window` unanswered submit_sm at most, sending
 * at `rate` messages a second over all binds for `durationMs`, every submit
 * asking for a final receipt (registered_delivery 1); the receipts come back
 * as deliver_sm and are answered 0. The result has the WebSocket load
 * generator's shape (load-generator.ts), so the benchmark reports both alike:
 * lost = accepted without a final receipt within drainMs, duplicates = a
 * second final receipt for one message id.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SmppConnection } from '../smpp/smpp-connection.js';
import type { DeliverSm } from '../smpp/pdu-codec.js';
import type { LoadResult, LoadSnapshot } from './load-generator.js';

export interface SmppLoadOptions {
  readonly port: number;
  readonly systemId: string;
  readonly password: string;
  readonly binds: number;
  readonly window: number;
  readonly rate: number;
  readonly durationMs: number;
  readonly drainMs: number;
  readonly recipients?: number;
  readonly onTick?: (s: LoadSnapshot) => void;
}

/** message_state TLV → the status it ends the message in. */
const STATE: Readonly<Record<number, string>> = { 2: 'delivered', 3: 'expired', 4: 'stopped', 5: 'undelivered', 7: 'unknown', 8: 'rejected' };

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export async function runSmppLoad(o: SmppLoadOptions): Promise<LoadResult> {
  const conns: SmppConnection[] = [];
  for (let i = 0; i < o.binds; i++) conns.push(await SmppConnection.bind({ host: '127.0.0.1', port: o.port, systemId: o.systemId, password: o.password, window: o.window, responseTimeoutMs: 30_000 }));
  const recipients = o.recipients ?? 50_000;
  const acceptedAt = new Map<string, number>();
  const finalSeen = new Set<string>();
  const statuses: Record<string, number> = {};
  const refusedByCode: Record<string, number> = {};
  const ackMs: number[] = [];
  const completionMs: number[] = [];
  const ackBySecond: number[][] = [];
  let sent = 0;
  let accepted = 0;
  let refused = 0;
  let finals = 0;
  let duplicates = 0;
  let windowWaits = 0;
  let firstSend = 0;
  let lastSend = 0;
  let lastFinal = 0;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const onDeliver = (conn: SmppConnection) => (d: DeliverSm) => {
    conn.replyDeliverSm(d.sequence, 0);
    const id = d.receiptedMessageId;
    if (id === undefined) return;
    const status = STATE[d.messageState ?? 0] ?? 'unknown';
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (finalSeen.has(id)) {
      duplicates++;
      return;
    }
    finalSeen.add(id);
    finals++;
    const now = performance.now();
    lastFinal = now;
    const t = acceptedAt.get(id);
    if (t !== undefined) completionMs.push(now - t);
  };
  for (const c of conns) c.on('deliver_sm', onDeliver(c));
  const t0 = performance.now();
  const snapshot = (): LoadSnapshot => ({ elapsedMs: performance.now() - t0, sent, accepted, refused, finals, statuses: { ...statuses } });
  let next = 0;
  const tick = setInterval(() => o.onTick?.(snapshot()), 1000);
  await new Promise<void>((done) => {
    const pump = () => {
      const now = performance.now();
      const elapsed = now - t0;
      if (elapsed >= o.durationMs) return done();
      const due = Math.floor((elapsed / 1000) * o.rate) - sent;
      let full = true;
      for (let k = 0; k < due; k++) {
        const c = conns[next++ % conns.length] as SmppConnection;
        if (c.freeSlots <= 0) continue;
        full = false;
        const i = sent++;
        const at = performance.now();
        if (firstSend === 0) firstSend = at;
        lastSend = at;
        const to = `4791${String(i % recipients).padStart(6, '0')}`;
        c.submit({ sourceAddrTon: 5, sourceAddrNpi: 0, sourceAddr: 'Bench', destAddrTon: 1, destAddrNpi: 1, destinationAddr: to, esmClass: 0, validityPeriod: '', registeredDelivery: 1, dataCoding: 0, shortMessage: Buffer.from(`Your code is ${i % 1_000_000}. It expires in 10 minutes.`, 'latin1') }, (err, r) => {
          const ms = performance.now() - at;
          if (err !== null || r === undefined || r.commandStatus !== 0) {
            refused++;
            const code = err !== null ? err.code : `0x${(r?.commandStatus ?? 0).toString(16).padStart(8, '0')}`;
            refusedByCode[code] = (refusedByCode[code] ?? 0) + 1;
            return;
          }
          accepted++;
          ackMs.push(ms);
          (ackBySecond[Math.floor((at - t0) / 1000)] ??= []).push(ms);
          if (!finalSeen.has(r.messageId)) acceptedAt.set(r.messageId, at);
        });
      }
      if (due > 0 && full) windowWaits++;
      setTimeout(pump, 2);
    };
    pump();
  });
  // Drain: every accepted message's final receipt, or the drain time is over.
  const drainEnd = performance.now() + o.drainMs;
  while (performance.now() < drainEnd && (finals < accepted || accepted + refused < sent)) await new Promise((ok) => setTimeout(ok, 50));
  clearInterval(tick);
  loop.disable();
  for (const c of conns) c.close();
  const lostIds: string[] = [];
  let lost = 0;
  for (const id of acceptedAt.keys())
    if (!finalSeen.has(id)) {
      lost++;
      if (lostIds.length < 20) lostIds.push(id);
    }
  ackMs.sort((a, b) => a - b);
  completionMs.sort((a, b) => a - b);
  const ack = { p50: percentile(ackMs, 50), p90: percentile(ackMs, 90), p99: percentile(ackMs, 99), max: ackMs[ackMs.length - 1] ?? 0 };
  return {
    ...snapshot(),
    refusedByCode,
    ackMs: ack,
    steadyAckMs: { p50: ack.p50, p99: ack.p99, max: ack.max },
    ackP99BySecondMs: ackBySecond.map((l) => percentile(l.sort((a, b) => a - b), 99)),
    completionMs: { p50: percentile(completionMs, 50), p99: percentile(completionMs, 99) },
    sendWindowMs: lastSend - firstSend,
    completedWithinMs: lastFinal === 0 ? 0 : lastFinal - firstSend,
    lost,
    duplicates,
    lostIds,
    windowWaits,
    loadgenLoopDelayMaxMs: loop.max / 1e6,
    loadgenLoopDelayP99Ms: loop.percentile(99) / 1e6,
  };
}
