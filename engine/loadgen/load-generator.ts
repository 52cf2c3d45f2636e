/**
 * The load generator behind `switchyard demo` and `npm run bench:e2e`: N
 * WebSocket clients submit batches at a target rate, record ack latency per
 * item, and count the status frames that come back until every accepted
 * message reached a final status (or the drain time ran out). Bounded in count
 * and time; talks only to the URL it is given (127.0.0.1 by default).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { prng } from '../prng.js';

export interface LoadOptions {
  readonly url: string; // ws://127.0.0.1:PORT/v1/ws
  /** Several engine nodes: client i connects to urls[i mod length] (default [url]); statuses come to client 0 from every node. */
  readonly urls?: ReadonlyArray<string>;
  readonly apiKey: string;
  readonly clients: number;
  readonly rate: number; // messages per second, all clients together
  readonly durationMs: number;
  readonly batchSize: number;
  readonly drainMs: number; // how long to wait for final statuses after the last submit
  /** Mix of texts: share of UCS-2 and multipart messages (0..1). */
  readonly ucs2Share?: number;
  readonly multipartShare?: number;
  /** How many distinct recipients (repeat recipients, like real traffic). */
  readonly recipients?: number;
  /** Share of messages (0..1) sent with `sendAt` scheduledDelayMs ahead (default 0; delay 1,000 ms). */
  readonly scheduledShare?: number;
  readonly scheduledDelayMs?: number;
  /** Every submit carries an idempotencyKey (issue 15: what idempotent submits cost; unique per message, so none is a repeat). */
  readonly idempotency?: boolean;
  readonly maxMessages?: number;
  /** Wait for final statuses after the last submit (default true); false waits for acks only. */
  readonly waitForFinals?: boolean;
  /** Ack latencies of batches sent in the first warmupMs are reported apart (JIT, binds coming up). Default 0. */
  readonly warmupMs?: number;
  readonly onTick?: (s: LoadSnapshot) => void;
}

export interface LoadSnapshot {
  readonly elapsedMs: number;
  readonly sent: number;
  readonly accepted: number;
  readonly refused: number;
  readonly finals: number;
  readonly statuses: Readonly<Record<string, number>>;
}

export interface LoadResult extends LoadSnapshot {
  readonly refusedByCode: Readonly<Record<string, number>>;
  readonly ackMs: { p50: number; p90: number; p99: number; max: number };
  /** Ack latency of batches sent after the warm-up (equals ackMs when warmupMs is 0). */
  readonly steadyAckMs: { p50: number; p99: number; max: number };
  /** p99 ack latency per second of sending, to see where a tail comes from. */
  readonly ackP99BySecondMs: number[];
  readonly completionMs: { p50: number; p99: number };
  readonly sendWindowMs: number; // first submit to last submit
  readonly completedWithinMs: number; // first submit to last final status
  readonly lost: number; // accepted but no final status within drain time
  readonly duplicates: number; // final statuses seen twice for one message
  readonly lostIds: string[]; // up to 20 of the messages counted in lost, to look them up
  readonly windowWaits: number; // 10 ms slots in which every client's window was full
  readonly loadgenLoopDelayMaxMs: number; // the generator's own event-loop stalls inflate its latencies
  readonly loadgenLoopDelayP99Ms: number;
}

const FINAL = new Set(['delivered', 'undelivered', 'rejected', 'expired', 'unknown', 'stopped']);

const GSM_TEXTS = ['Your code is 482913. It expires in 10 minutes.', 'Delivery scheduled for tomorrow 10:00-12:00 @ gate 4 {ref} [ok] ~€5', 'Hi! Your balance is 12.50 EUR.'];
const UCS2_TEXTS = ['Ваш код: 482913 🙂', '您的验证码是 482913', 'Κωδικός: 482913 — ευχαριστούμε ✓'];
const LONG_GSM = 'This is a long notification that will not fit into a single SMS segment, so Switchyard splits it into concatenated parts with a user data header, and the handset puts the parts back together. '.repeat(1);

function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const rnd = prng(42);
  const recipients = o.recipients ?? 50_000;
  const ucs2Share = o.ucs2Share ?? 0.1;
  const multipartShare = o.multipartShare ?? 0.05;
  const scheduledShare = o.scheduledShare ?? 0;
  const scheduledDelayMs = o.scheduledDelayMs ?? 1000;
  const idempotency = o.idempotency === true;
  // Keys unique to this run: a run against the same Redis within the window must not meet the last one's keys.
  const keyPrefix = `lg-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-`;
  // Exactly that share, spread evenly, without touching the PRNG that picks numbers and texts.
  const scheduled = (k: number): boolean => scheduledShare > 0 && Math.floor(k * scheduledShare) !== Math.floor((k - 1) * scheduledShare);
  const maxMessages = o.maxMessages ?? Number.MAX_SAFE_INTEGER;
  // Per-message state in typed arrays indexed by the submit's ref (its sequence
  // number): maps of hundreds of thousands of ids made this process's own GC
  // pauses (up to a second) part of the latencies it measures.
  const cap = Math.min(maxMessages, Math.ceil(o.rate * (o.durationMs / 1000) * 1.2) + 10_000);
  const ackLat = new Float64Array(cap);
  const ackSec = new Int32Array(cap); // second of sending, parallel to ackLat
  let nAck = 0;
  let sendStart = 0;
  const acceptedAt = new Float64Array(cap + 1); // by ref: ack time, 0 = not accepted
  const finalSeen = new Uint8Array(cap + 1);
  const idOfRef: string[] = new Array<string>(cap + 1); // for the lost-message report
  const compl = new Float64Array(cap);
  let nCompl = 0;
  const statuses: Record<string, number> = {};
  const refusedByCode: Record<string, number> = {};
  let sent = 0;
  let accepted = 0;
  let refused = 0;
  let finals = 0;
  let duplicates = 0;
  let lastFinalAt = 0;
  let windowWaits = 0;
  let seq = 0;
  const start = performance.now();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();

  const number = (): string => {
    const k = Math.floor(rnd() * recipients);
    // Four countries, one per SMSC of the demo route plan (engine/loadgen/harness.ts demoRoutePlan).
    const r = k % 4;
    if (r === 0) return '+479' + String(1000000 + (k % 9000000)).slice(-7);
    if (r === 1) return '+4915112' + String(100000 + (k % 900000));
    if (r === 2) return '+336' + String(10000000 + (k % 90000000)).slice(-8);
    return '+44797' + String(1000000 + (k % 9000000)).slice(-7);
  };
  const text = (): string => {
    const x = rnd();
    if (x < multipartShare) return LONG_GSM;
    if (x < multipartShare + ucs2Share) return UCS2_TEXTS[seq % UCS2_TEXTS.length] as string;
    return GSM_TEXTS[seq % GSM_TEXTS.length] as string;
  };

  const onStatus = (f: { id: string; ref?: string; status: string }) => {
    statuses[f.status] = (statuses[f.status] ?? 0) + 1;
    if (!FINAL.has(f.status)) return;
    const k = Number(f.ref);
    if (!(k > 0 && k <= cap)) return;
    if (finalSeen[k] === 1) {
      duplicates++;
      return;
    }
    finalSeen[k] = 1;
    finals++;
    lastFinalAt = performance.now();
    const a = acceptedAt[k] as number;
    if (a > 0 && nCompl < cap) compl[nCompl++] = lastFinalAt - a;
  };

  type Client = WebSocket & { sentAt: Map<string, number>; unacked: number; window: number };
  const sockets: Client[] = [];
  /** Items of each batch in flight, by ref: a batch refused whole gets one error frame. */
  const batchSize = new Map<string, number>();
  await Promise.all(
    Array.from({ length: o.clients }, (_, ci) => new Promise<void>((ok, fail) => {
      // Every connection of a tenant gets all its status frames: only the first subscribes.
      const at = o.urls === undefined || o.urls.length === 0 ? o.url : (o.urls[ci % o.urls.length] as string);
      const ws = new WebSocket(ci === 0 ? at : `${at}?statuses=0`, { headers: { authorization: `Bearer ${o.apiKey}` }, perMessageDeflate: false });
      const sentAt = new Map<string, number>();
      const c = ws as Client;
      c.sentAt = sentAt;
      c.unacked = 0;
      c.window = 1000;
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString()) as { op: string; ref?: string; code?: string; window?: number; results?: Array<{ op: string; ref?: string; id?: string; code?: string }>; id: string; status: string };
        if (f.op === 'hello') {
          // A well-behaved client keeps at most `window` submits unacknowledged.
          c.window = f.window ?? c.window;
          ok();
        } else if (f.op === 'batch_ack') {
          const t0 = sentAt.get(f.ref as string) ?? performance.now();
          const sec = Math.floor((t0 - sendStart) / 1000);
          sentAt.delete(f.ref as string);
          batchSize.delete(f.ref as string);
          c.unacked -= f.results?.length ?? 0;
          const now = performance.now();
          for (const r of f.results ?? []) {
            if (r.op === 'ack') {
              accepted++;
              if (nAck < cap) {
                ackLat[nAck] = now - t0;
                ackSec[nAck++] = sec;
              }
              const k = Number(r.ref);
              if (k > 0 && k <= cap) {
                acceptedAt[k] = now;
                idOfRef[k] = r.id as string;
              }
            } else {
              refused++;
              refusedByCode[r.code ?? '?'] = (refusedByCode[r.code ?? '?'] ?? 0) + 1;
            }
          }
        } else if (f.op === 'error' && f.ref !== undefined && sentAt.has(f.ref)) {
          // A batch refused whole, unread (THROTTLED while the tenant is over its share of the
          // engine's main thread): every item is refused, and the window is free again.
          sentAt.delete(f.ref);
          const n = batchSize.get(f.ref) ?? 0;
          batchSize.delete(f.ref);
          c.unacked -= n;
          refused += n;
          refusedByCode[f.code ?? '?'] = (refusedByCode[f.code ?? '?'] ?? 0) + n;
        } else if (f.op === 'status') onStatus(f);
      });
      ws.once('error', fail);
      sockets.push(c);
    })),
  );

  // Pace in 10 ms slots: each slot sends rate/100 messages in batches, round robin over clients.
  const slotMs = 10;
  const perSlot = o.rate * (slotMs / 1000);
  let owed = 0;
  let client = 0;
  let firstSend = 0;
  let lastSend = 0;
  const tickTimer = o.onTick ? setInterval(() => o.onTick?.({ elapsedMs: performance.now() - start, sent, accepted, refused, finals, statuses }), 1000) : undefined;
  await new Promise<void>((done) => {
    const t0 = performance.now();
    sendStart = t0;
    let slot = 0;
    const step = () => {
      const now = performance.now();
      if (now - t0 >= o.durationMs || sent >= maxMessages) return done();
      // Owed messages carry over while every client's window is full (bounded to one second's worth).
      owed = Math.min(owed + perSlot, Math.max(o.rate, perSlot));
      while (owed >= 1 && sent < maxMessages) {
        const n = Math.min(Math.floor(owed), o.batchSize, maxMessages - sent);
        let ws: Client | undefined;
        for (let k = 0; k < sockets.length && ws === undefined; k++) {
          const cand = sockets[client++ % sockets.length] as Client;
          if (cand.unacked + n <= cand.window) ws = cand;
        }
        if (ws === undefined) {
          windowWaits++;
          break;
        }
        const items = [];
        for (let i = 0; i < n && seq < cap; i++) {
          const item: Record<string, unknown> = { ref: String(++seq), to: number(), from: 'Switchyard', text: text() };
          if (scheduled(seq)) item.sendAt = Date.now() + scheduledDelayMs;
          if (idempotency) item.idempotencyKey = keyPrefix + seq;
          items.push(item);
        }
        if (items.length < n) break; // the arrays are full: the run is over its expected size
        ws.unacked += n;
        const ref = 'b' + seq;
        ws.sentAt.set(ref, performance.now());
        batchSize.set(ref, n);
        ws.send(JSON.stringify({ op: 'batch', ref, items }));
        sent += n;
        owed -= n;
        if (firstSend === 0) firstSend = performance.now();
        lastSend = performance.now();
      }
      slot++;
      const next = t0 + slot * slotMs - performance.now();
      setTimeout(step, Math.max(0, next));
    };
    step();
  });
  // Drain: wait for acks and finals.
  const drainEnd = performance.now() + o.drainMs;
  const waitForFinals = o.waitForFinals ?? true;
  while (performance.now() < drainEnd && (accepted + refused < sent || (waitForFinals && finals < accepted))) await new Promise((ok) => setTimeout(ok, 20));
  clearInterval(tickTimer);
  for (const ws of sockets) ws.close();
  // Messages acked without a final status: their ids, to look them up (at most 20).
  const lostIds: string[] = [];
  for (let k = 1; k <= seq && lostIds.length < 20; k++) if (acceptedAt[k] !== 0 && finalSeen[k] === 0) lostIds.push(idOfRef[k] ?? `ref ${k}`);
  const ack = ackLat.slice(0, nAck).sort();
  const cm = compl.slice(0, nCompl).sort();
  const warmupS = (o.warmupMs ?? 0) / 1000;
  const steady = ackLat.slice(0, nAck).filter((_, i) => (ackSec[i] as number) >= warmupS).sort();
  const bySec: number[][] = [];
  for (let i = 0; i < nAck; i++) (bySec[ackSec[i] as number] ??= []).push(ackLat[i] as number);
  const ackP99BySecondMs = Array.from(bySec, (v) => Math.round(percentile((v ?? []).sort((x, y) => x - y), 99) * 10) / 10);
  const elapsedMs = performance.now() - start;
  return {
    elapsedMs,
    sent,
    accepted,
    refused,
    finals,
    statuses,
    refusedByCode,
    ackMs: { p50: percentile(ack, 50), p90: percentile(ack, 90), p99: percentile(ack, 99), max: percentile(ack, 100) },
    steadyAckMs: { p50: percentile(steady, 50), p99: percentile(steady, 99), max: percentile(steady, 100) },
    ackP99BySecondMs,
    completionMs: { p50: percentile(cm, 50), p99: percentile(cm, 99) },
    sendWindowMs: lastSend - firstSend,
    completedWithinMs: (lastFinalAt || performance.now()) - firstSend,
    lost: accepted - finals,
    duplicates,
    lostIds,
    windowWaits,
    loadgenLoopDelayMaxMs: loopDelay.max / 1e6,
    loadgenLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
  };
}
