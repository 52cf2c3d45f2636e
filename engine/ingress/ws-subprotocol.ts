/**
 * The Sec-WebSocket-Protocol answer of every Switchyard WebSocket endpoint
 * (/v1/ws and /v1/analytics/ws).
 *
 * A browser cannot set an Authorization header on a WebSocket, so it sends
 * its API key as a subprotocol, `switchyard.key.KEY` (engine/http/http-kit.ts
 * ApiAuth.keyOf). The server used to echo the header it got, which put the
 * key in the response for every proxy and log on the way (issue 11). Now the
 * server answers with one fixed name, `switchyard.v1`, which the client must
 * offer next to the key:
 *
 *   new WebSocket(url, ['switchyard.v1', 'switchyard.key.' + key])
 *
 * RFC 6455 lets the server pick only a protocol the client offered (browsers
 * and the `ws` package fail the handshake otherwise), so a client offering the
 * key alone cannot be answered without echoing it: it is refused with 400
 * BAD_REQUEST that says what to offer. Clients that offer no subprotocol get
 * none back.
 */

/** The protocol name the server answers with. */
export const WS_PROTOCOL = 'switchyard.v1';
const KEY_PREFIX = 'switchyard.key.';

/**
 * The Sec-WebSocket-Protocol value to answer the client's `offered` header
 * with ('' for none), or a refusal text when the client offered its key
 * without `switchyard.v1`.
 */
export function wsProtocolReply(offered: string): { readonly reply: string } | { readonly error: string } {
  if (offered === '') return { reply: '' };
  let key = false;
  for (const p of offered.split(',')) {
    const t = p.trim();
    if (t === WS_PROTOCOL) return { reply: WS_PROTOCOL };
    if (t.startsWith(KEY_PREFIX)) key = true;
  }
  if (key) return { error: `offer the subprotocol "${WS_PROTOCOL}" next to "${KEY_PREFIX}KEY": the server answers with "${WS_PROTOCOL}" and never echoes the key` };
  return { reply: '' };
}
