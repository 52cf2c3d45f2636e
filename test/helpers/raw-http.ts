/**
 * Raw HTTP/1.1 over a TCP socket, for what fetch cannot send or see: a
 * duplicate Content-Length, a HEAD reply's exact bytes, pipelined requests,
 * unencoded `%` in a path. Resolves with every byte the server sent until it
 * closed the connection (or `timeoutMs`, then with what came, marked).
 */
import { connect } from 'node:net';

export interface RawReply {
  readonly text: string;
  /** The server closed the connection (false: we gave up waiting). */
  readonly closed: boolean;
}

/** `untilResponses`: resolve once that many whole responses arrived (a keep-alive server does not close). */
export function rawHttp(port: number, request: string | Buffer, timeoutMs = 10_000, untilResponses = Infinity): Promise<RawReply> {
  return new Promise((ok) => {
    const chunks: Buffer[] = [];
    const s = connect(port, '127.0.0.1', () => s.write(request));
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      ok({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('data', (b) => {
      chunks.push(b);
      if (untilResponses === Infinity) return;
      try {
        if (parseResponses(Buffer.concat(chunks).toString('latin1')).length >= untilResponses) done(false);
      } catch {
        // not complete yet
      }
    });
    s.on('close', () => done(true));
    s.on('error', () => done(true));
  });
}

export interface ParsedResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * Splits a byte stream of HTTP/1.1 responses (Content-Length or chunked
 * bodies; `headOnly[i]`: the i-th answers a HEAD, so it has no body whatever
 * its headers say). Throws on anything that is not a well-formed response.
 */
export function parseResponses(text: string, headOnly: ReadonlyArray<boolean> = []): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) throw new Error(`truncated response head: ${JSON.stringify(text.slice(at, at + 200))}`);
    const lines = text.slice(at, end).split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(lines[0] as string);
    if (m === null) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      if (c <= 0) throw new Error(`malformed header line: ${JSON.stringify(l)}`);
      const k = l.slice(0, c).toLowerCase();
      if (k in headers) throw new Error(`header ${k} twice`);
      headers[k] = l.slice(c + 1).trim();
    }
    at = end + 4;
    let body = '';
    if (headOnly[out.length] === true) {
      // no body
    } else if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const e = text.indexOf('\r\n', at);
        if (e < 0) throw new Error('truncated chunk size');
        const size = parseInt(text.slice(at, e), 16);
        if (!Number.isFinite(size)) throw new Error(`bad chunk size ${JSON.stringify(text.slice(at, e))}`);
        at = e + 2;
        if (size === 0) {
          at += 2;
          break;
        }
        body += text.slice(at, at + size);
        at += size + 2;
      }
    } else {
      const n = Number(headers['content-length'] ?? '0');
      if (at + n > text.length) throw new Error(`body shorter than its Content-Length ${n}`);
      body = text.slice(at, at + n);
      at += n;
    }
    out.push({ status: Number(m[1]), headers, body });
  }
  return out;
}
