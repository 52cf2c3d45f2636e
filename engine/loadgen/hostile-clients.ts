/**
 * Hostile WebSocket clients for `npm run bench:e2e -- --hostile N`: N clients
 * of one tenant that misbehave alongside the normal load, to show what they
 * cost the well-behaved tenants (issue 11). Round robin over four kinds:
 *
 *   non-reader   stops reading its socket and keeps sending batches whose answers are large
 *                (500 invalid numbers): the server refuses its frames, then closes it 4008;
 *                it reconnects a second later
 *   bomber       template bombs: {{a}} × 1,600 with a 245 KB variable, and a batch's common
 *                with 100 placeholders × 230 KB for 500 recipients; reads its answers
 *   junk         bad JSON, binary noise, deep nesting, unknown ops, wrong types; now and then
 *                a frame over 4 × maxFrameBytes (closed 1009) — reconnects
 *   hog          opens connections (up to 4 each) and holds them, retrying every second: with
 *                enough hogs the tenant's connection cap refuses them (429)
 *
 * Each client sends at most one frame per `intervalMs`; everything stops at
 * `durationMs` (connections closed). Talks only to the URL it is given
 * (127.0.0.1). Counts what the clients got: answers by code, closes by code,
 * refused upgrades. Runs in its own process in the benchmark (`SY_HOSTILE_KEY=KEY node
 * dist/engine/loadgen/hostile-clients.js URL N DURATION_MS MAX_FRAME_BYTES`,
 * prints one JSON line; the key in the environment, not in `ps`), so its work does not slow the measuring load generator.
 */
import type { Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';

export interface HostileOptions {
  readonly url: string;
  readonly apiKey: string;
  readonly clients: number;
  readonly durationMs: number;
  /** The server's maxFrameBytes (hello says it too): junk frames over 4× it test the 1009 close. */
  readonly maxFrameBytes: number;
  readonly intervalMs?: number;
  /** Stops the clients early (within about a second): a test's hostile tenant runs while its load does. */
  readonly signal?: AbortSignal;
}

export interface HostileResult {
  readonly clients: number;
  readonly framesSent: number;
  readonly answers: number;
  readonly codes: Readonly<Record<string, number>>;
  readonly closes: Readonly<Record<string, number>>;
  readonly upgradesRefused: Readonly<Record<string, number>>;
  readonly connections: number;
  /** Most connections one hog held at once. */
  readonly hogHeld: number;
}

type Kind = 'non-reader' | 'bomber' | 'junk' | 'hog';
const KINDS: readonly Kind[] = ['non-reader', 'bomber', 'junk', 'hog'];

export async function runHostile(o: HostileOptions): Promise<HostileResult> {
  const interval = o.intervalMs ?? 50;
  const until = Date.now() + o.durationMs;
  const running = () => Date.now() < until && o.signal?.aborted !== true;
  const codes: Record<string, number> = {};
  const closes: Record<string, number> = {};
  const upgradesRefused: Record<string, number> = {};
  let framesSent = 0;
  let answers = 0;
  let connections = 0;
  let hogHeld = 0;
  const open = new Set<WebSocket>();
  let seq = 0;
  let oversize = 0;
  /** Connections this process closes itself (at the end of a run): their closes are not counted. */
  const ours = new WeakSet<WebSocket>();

  const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
  const bombSubmit = JSON.stringify({ op: 'submit', ref: 'bomb', to: '+4791234567', from: 'Hostile', template: '{{a}}'.repeat(1600), vars: { a: 'x'.repeat(245_000) } });
  const bombBatch = JSON.stringify({ op: 'batch', ref: 'bomb-batch', common: { from: 'Hostile', template: '{{a}}'.repeat(100), vars: { a: 'y'.repeat(230_000) } }, items: Array.from({ length: 500 }, (_, i) => ({ ref: String(i), to: '+4791234567' })) });
  const bigAnswers = JSON.stringify({ op: 'batch', ref: 'unread', common: { from: 'Hostile', text: 'x' }, items: Array.from({ length: 500 }, () => ({ to: 'x' })) });
  const junk = (): string | Buffer => {
    const k = seq++ % 10;
    if (k === 0) return '{"op":"submit",';
    if (k === 1) return Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 37 + seq) & 0xff));
    if (k === 2) return `{"op":${'{"x":'.repeat(20_000)}1${'}'.repeat(20_000)}}`;
    if (k === 3) return JSON.stringify({ op: 'launch', ref: 'x' });
    if (k === 4) return JSON.stringify({ op: 'submit', ref: 7, to: ['+4791234567'], from: {}, text: null });
    if (k === 5) return JSON.stringify({ op: 'batch', ref: 'h', items: Array.from({ length: 20_000 }, () => 1) });
    if (k === 6) return JSON.stringify({ op: 'submit', ref: 'n', to: '+4791234567\n', from: 'Hostile', text: 'x' });
    if (k === 7) return '[' + '1,'.repeat(50_000) + '1]';
    if (k === 8) return JSON.stringify({ op: 'cancel', ref: 'c', id: '../../etc' });
    // One in five of these: a frame over 4 × maxFrameBytes (closed 1009).
    return ++oversize % 5 === 0 ? Buffer.alloc(o.maxFrameBytes * 4 + 1, 0x20) : JSON.stringify({ op: 'ping', ref: 'p'.repeat(200) });
  };

  const connect = (kind: Kind): Promise<WebSocket | undefined> =>
    new Promise((ok) => {
      const ws = new WebSocket(o.url, { headers: { authorization: `Bearer ${o.apiKey}` }, perMessageDeflate: false, maxPayload: 64 * 2 ** 20 });
      ws.on('error', () => undefined);
      ws.once('unexpected-response', (_q, res) => {
        bump(upgradesRefused, String(res.statusCode));
        res.resume();
        ok(undefined);
      });
      ws.once('open', () => {
        connections++;
        open.add(ws);
        ok(ws);
      });
      ws.on('message', (d: Buffer) => {
        if (kind === 'non-reader') return;
        const s = d.toString();
        if (s.startsWith('{"op":"hello"')) return;
        answers++;
        // The code of the frame, and of every item of a batch_ack.
        for (const m of s.matchAll(/"code":"([A-Z_]+)"/g)) bump(codes, m[1] as string);
      });
      ws.on('close', (code) => {
        open.delete(ws);
        if (!ours.has(ws)) bump(closes, String(code));
      });
    });

  const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
  const client = async (kind: Kind): Promise<void> => {
    if (kind === 'hog') {
      // Holds up to 4 connections, trying for more once a second.
      const held = new Set<WebSocket>();
      while (running()) {
        for (const ws of held) if (ws.readyState !== WebSocket.OPEN) held.delete(ws);
        if (held.size < 4) {
          const ws = await connect(kind);
          if (ws !== undefined) {
            held.add(ws);
            hogHeld = Math.max(hogHeld, held.size);
            continue;
          }
        }
        await sleep(1000);
      }
      return;
    }
    while (running()) {
      const ws = await connect(kind);
      if (ws === undefined) {
        await sleep(1000);
        continue;
      }
      if (kind === 'non-reader') (ws as unknown as { _socket: Socket })._socket.pause();
      while (running() && ws.readyState === WebSocket.OPEN) {
        if (ws.bufferedAmount < 4 * 2 ** 20) {
          const frame = kind === 'non-reader' ? bigAnswers : kind === 'bomber' ? (seq++ % 2 === 0 ? bombSubmit : bombBatch) : junk();
          ws.send(frame, { binary: typeof frame !== 'string' });
          framesSent++;
        }
        await sleep(kind === 'bomber' ? interval * 10 : interval);
      }
      if (kind === 'non-reader') (ws as unknown as { _socket: Socket })._socket.resume();
      if (ws.readyState === WebSocket.OPEN) {
        ours.add(ws);
        ws.terminate();
      }
      await sleep(1000);
    }
  };

  await Promise.all(Array.from({ length: o.clients }, (_, i) => client(KINDS[i % KINDS.length] as Kind)));
  for (const ws of open) {
    ours.add(ws);
    ws.terminate();
  }
  return { clients: o.clients, framesSent, answers, codes, closes, upgradesRefused, connections, hogHeld };
}

// As a process of its own (the benchmark): SY_HOSTILE_KEY=KEY node hostile-clients.js URL N DURATION_MS MAX_FRAME_BYTES
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [url, n, durationMs, maxFrameBytes] = process.argv.slice(2);
  runHostile({ url: url as string, apiKey: process.env.SY_HOSTILE_KEY ?? '', clients: Number(n), durationMs: Number(durationMs), maxFrameBytes: Number(maxFrameBytes) }).then(
    (r) => {
      const cpu = process.cpuUsage();
      console.log(JSON.stringify({ ...r, cpuMs: Math.round((cpu.user + cpu.system) / 1000) }));
      process.exit(0);
    },
    (err: Error) => {
      console.error(err);
      process.exit(1);
    },
  );
}
