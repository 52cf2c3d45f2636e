/**
 * A webhook receiver for the tests, the end-to-end benchmark and trying
 * webhooks out: an HTTP server on 127.0.0.1 that checks every POST's
 * signature with `verifyWebhookSignature` (the code README "Webhooks" gives
 * receivers, written apart from the signer), records the events of the POSTs
 * it answered 2xx, and can be switched at any time:
 *
 *   up()            listening, answers 200 (after `delayMs`, if set)
 *   respond(503)    answers that status to every POST (failing receiver)
 *   failNext(n, s)  answers status s to the next n POSTs, then 200
 *   hang()          accepts connections and never answers (timeouts)
 *   down()          closed, open connections destroyed: connection refused
 *
 * A POST with a bad signature or a timestamp outside the tolerance is
 * answered 401 and counted in badSignatures.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Verifies an X-Switchyard-Signature: "v1=<hex>" (possibly several, comma-separated)
 * over "<timestamp>.<raw body>" with the tenant's secret, and the timestamp
 * within toleranceSec of now (replay protection). Constant-time comparison.
 */
export function verifyWebhookSignature(secret: string, timestamp: string | undefined, signature: string | undefined, rawBody: Buffer, nowSec = Date.now() / 1000, toleranceSec = 300): boolean {
  if (timestamp === undefined || signature === undefined || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowSec - Number(timestamp)) > toleranceSec) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest();
  return signature.split(',').some((part) => {
    const [scheme, hex] = part.trim().split('=');
    return scheme === 'v1' && hex !== undefined && /^[0-9a-f]{64}$/.test(hex) && timingSafeEqual(Buffer.from(hex, 'hex'), expected);
  });
}

export interface ReceivedEvent {
  readonly eid: string;
  readonly op: string;
  readonly id?: string;
  readonly status?: string;
  readonly at?: number;
  readonly [k: string]: unknown;
}

export interface ReceivedPost {
  /** What the receiver answered. */
  readonly answered: number;
  readonly validSignature: boolean;
  readonly attempt: number;
  readonly tenant: string;
  readonly events: number;
  readonly receivedAt: number;
}

export interface WebhookReceiverOptions {
  readonly secret: string;
  /** Keep every accepted event and POST (tests); false keeps counts and ids only (benchmark). Default true. */
  readonly keep?: boolean;
  readonly toleranceSec?: number;
}

export class WebhookReceiver {
  /** Events of POSTs answered 2xx with a valid signature, in arrival order (keep: true). */
  readonly events: ReceivedEvent[] = [];
  readonly posts: ReceivedPost[] = [];
  /** Distinct eids accepted. */
  readonly eids = new Set<string>();
  accepted = 0;
  duplicates = 0;
  badSignatures = 0;
  postCount = 0;
  /** Event age when accepted (now − its `at`), ms, for accepted events (keep: false too). */
  readonly agesMs: number[] = [];
  delayMs = 0;
  private status = 200;
  private failing = 0;
  private failStatus = 503;
  private hanging = false;
  private server: Server | undefined;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly waiting = new Set<ServerResponse>();

  constructor(private readonly o: WebhookReceiverOptions) {}

  /** POSTs held open by hang(). */
  get waitingPosts(): number {
    return this.waiting.size;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Starts listening (port 0 the first time, the same port afterwards) and answers 200. */
  async up(): Promise<void> {
    this.status = 200;
    this.hanging = false;
    this.failing = 0;
    if (this.server !== undefined) return;
    const s = createServer((req, res) => this.onRequest(req, res));
    s.on('connection', (sock) => {
      this.sockets.add(sock);
      sock.once('close', () => this.sockets.delete(sock));
    });
    await new Promise<void>((ok, fail) => {
      s.once('error', fail);
      s.listen(this.port, '127.0.0.1', () => ok());
    });
    const a = s.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
    this.server = s;
  }

  respond(status: number): void {
    this.status = status;
    this.hanging = false;
  }

  failNext(n: number, status = 503): void {
    this.failing = n;
    this.failStatus = status;
  }

  hang(): void {
    this.hanging = true;
  }

  /** Closes the server and every connection: POSTs get connection refused until up(). */
  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s === undefined) return;
    const closed = new Promise<void>((ok) => s.close(() => ok()));
    for (const r of this.waiting) r.destroy();
    this.waiting.clear();
    for (const sock of this.sockets) sock.destroy();
    await closed;
  }

  async stop(): Promise<void> {
    await this.down();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.hanging) {
        this.waiting.add(res);
        res.once('close', () => this.waiting.delete(res));
        return;
      }
      const answer = () => this.answer(req, res, Buffer.concat(chunks));
      if (this.delayMs > 0) setTimeout(answer, this.delayMs);
      else answer();
    });
  }

  private answer(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    if (res.destroyed) return;
    this.postCount++;
    const h = (n: string) => (typeof req.headers[n] === 'string' ? (req.headers[n] as string) : undefined);
    const valid = verifyWebhookSignature(this.o.secret, h('x-switchyard-timestamp'), h('x-switchyard-signature'), raw, Date.now() / 1000, this.o.toleranceSec);
    let status = this.status;
    if (!valid) {
      this.badSignatures++;
      status = 401;
    } else if (this.failing > 0) {
      this.failing--;
      status = this.failStatus;
    }
    const body = JSON.parse(raw.toString('utf8')) as { v: number; tenant: string; events: ReceivedEvent[] };
    if (status >= 200 && status < 300) {
      const now = Date.now();
      for (const e of body.events) {
        this.accepted++;
        if (this.eids.has(e.eid)) this.duplicates++;
        else this.eids.add(e.eid);
        if (typeof e.at === 'number') this.agesMs.push(now - e.at);
        if (this.o.keep !== false) this.events.push(e);
      }
    }
    if (this.o.keep !== false) this.posts.push({ answered: status, validSignature: valid, attempt: Number(h('x-switchyard-attempt') ?? 0), tenant: body.tenant, events: body.events.length, receivedAt: Date.now() });
    res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
  }
}
