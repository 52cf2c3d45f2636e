/** A small WebSocket test client that records every frame it receives. */
import WebSocket from 'ws';
import { waitFor } from './wait-for.js';

export interface Frame {
  op: string;
  [k: string]: unknown;
}

export interface TestClient {
  readonly frames: Frame[];
  readonly ws: WebSocket;
  send(frame: unknown): void;
  sendRaw(data: string | Buffer): void;
  next(pred: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  close(): Promise<void>;
}

export async function connectClient(url: string, apiKey: string, since?: string): Promise<TestClient> {
  const u = since === undefined ? url : `${url}?since=${encodeURIComponent(since)}`;
  const ws = new WebSocket(u, { headers: { authorization: `Bearer ${apiKey}` }, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  const frames: Frame[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Frame));
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
    ws.once('unexpected-response', (_req, res) => fail(new Error(`HTTP ${res.statusCode}`)));
  });
  await waitFor(() => frames.some((f) => f.op === 'hello'), 5000, 'hello');
  let scanned = 0;
  return {
    frames,
    ws,
    send: (f) => ws.send(JSON.stringify(f)),
    sendRaw: (d) => ws.send(d),
    async next(pred, timeoutMs = 10_000) {
      let hit: Frame | undefined;
      await waitFor(() => {
        for (; scanned < frames.length; scanned++) {
          const f = frames[scanned] as Frame;
          if (pred(f)) {
            hit = f;
            scanned++;
            return true;
          }
        }
        return false;
      }, timeoutMs, 'frame');
      return hit as Frame;
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      await new Promise<void>((ok) => {
        ws.once('close', () => ok());
        ws.close();
      });
    },
  };
}
