/**
 * SmppConnection over real sockets on 127.0.0.1: bind, window, response
 * timeouts, pending requests failed on close, write coalescing, and recovery
 * from malformed PDUs (the `smpp` package's Session goes deaf after one).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SmscSimulator } from '../../engine/simulator/index.js';
import { CommandId, encodeEmpty, encodeResp, encodeSubmitSm, SmppConnection, socketWrites, type DeliverSm } from '../../engine/smpp/index.js';
import type { SwitchyardError } from '../../engine/errors.js';
import { waitFor } from '../helpers/wait-for.js';
import { cstr, dataSm, deliverSm, Id, pdu, receiptDeliverSm, TAG, tlv } from '../helpers/raw-smpp.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function simulator(opts: Partial<ConstructorParameters<typeof SmscSimulator>[0]> = {}): Promise<SmscSimulator> {
  const sim = new SmscSimulator({ systemId: 'sy', password: 'secret', ...opts });
  await sim.start();
  cleanups.push(() => sim.stop());
  return sim;
}

async function bind(sim: SmscSimulator, extra: Partial<Parameters<typeof SmppConnection.bind>[0]> = {}): Promise<SmppConnection> {
  const conn = await SmppConnection.bind({ host: '127.0.0.1', port: sim.port, systemId: 'sy', password: 'secret', window: 10, responseTimeoutMs: 2000, ...extra });
  cleanups.push(() => conn.destroy());
  return conn;
}

const sm = (i: number) => ({
  sourceAddrTon: 5, sourceAddrNpi: 0, sourceAddr: 'Acme', destAddrTon: 1, destAddrNpi: 1, destinationAddr: '4791234567',
  esmClass: 0, registeredDelivery: 0, dataCoding: 0, validityPeriod: '', shortMessage: Buffer.from('m' + i),
});

/** A raw TCP peer that answers binds and records what it receives. */
async function rawPeer(onFrame: (sock: Socket, frame: Buffer) => void): Promise<{ server: Server; port: number }> {
  const server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 16 && buf.length >= buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        onFrame(sock, buf.subarray(0, len));
        buf = buf.subarray(len);
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  cleanups.push(() => new Promise<void>((ok) => server.close(() => ok())));
  const a = server.address();
  return { server, port: typeof a === 'object' && a !== null ? a.port : 0 };
}

describe('SmppConnection', () => {
  it('binds, and a wrong password is refused with 0x0E', async () => {
    const sim = await simulator();
    const conn = await bind(sim);
    expect(conn.bound).toBe(true);
    await expect(SmppConnection.bind({ host: '127.0.0.1', port: sim.port, systemId: 'sy', password: 'wrong', window: 10, responseTimeoutMs: 1000 })).rejects.toMatchObject({
      code: 'SMPP_BIND_FAILED',
      message: expect.stringContaining('0x0000000e (invalid password)'),
    });
    expect(sim.stats.bindRefusals).toBe(1);
  });

  it('keeps at most `window` submits unanswered', async () => {
    const sim = await simulator({ responseLatencyMs: 50 });
    const conn = await bind(sim);
    let accepted = 0;
    for (let i = 0; i < 15; i++) if (conn.submit(sm(i), () => undefined)) accepted++;
    expect(accepted).toBe(10);
    expect(conn.freeSlots).toBe(0);
    await waitFor(() => conn.freeSlots === 10, 5000, 'responses');
    expect(sim.stats.maxInFlightPerBind).toBeLessThanOrEqual(10);
  });

  it('fails a request with SMPP_TIMEOUT when no response comes, and fails all pending on close', async () => {
    // A peer that answers the bind and then never answers anything.
    const peer = await rawPeer((sock, f) => {
      if (f.readUInt32BE(4) === CommandId.bind_transceiver) sock.write(encodeResp(CommandId.bind_transceiver_resp, 0, f.readUInt32BE(12), 'peer'));
    });
    const conn = await SmppConnection.bind({ host: '127.0.0.1', port: peer.port, systemId: 'sy', password: 'x', window: 10, responseTimeoutMs: 200 });
    cleanups.push(() => conn.destroy());
    const err = await new Promise<SwitchyardError | null>((ok) => conn.submit(sm(1), (e) => ok(e)));
    expect(err?.code).toBe('SMPP_TIMEOUT');
    expect(conn.freeSlots).toBe(10);
    const pending = [0, 1, 2].map((i) => new Promise<SwitchyardError | null>((ok) => conn.submit(sm(i), (e) => ok(e))));
    conn.destroy();
    const errs = await Promise.all(pending);
    expect(errs.map((e) => e?.code)).toEqual(['SMPP_CONNECTION_CLOSED', 'SMPP_CONNECTION_CLOSED', 'SMPP_CONNECTION_CLOSED']);
  });

  it('coalesces the submits of one tick into one socket write', async () => {
    const sim = await simulator();
    const conn = await bind(sim, { window: 100 });
    await new Promise((ok) => setImmediate(ok));
    const before = socketWrites();
    for (let i = 0; i < 50; i++) conn.submit(sm(i), () => undefined);
    await new Promise((ok) => setImmediate(ok));
    expect(socketWrites() - before).toBe(1);
    await waitFor(() => sim.stats.submitsAccepted === 50, 5000, 'submits');
  });

  it('regression (smpp Session goes deaf after a malformed PDU): answers generic_nack and keeps working', async () => {
    const sim = await simulator();
    const conn = await bind(sim);
    const raw = conn.socket;
    // 1. a submit_sm whose sm_length runs past the end of the PDU
    const bad = Buffer.from(encodeSubmitSm({ ...sm(0), sequence: 900 }));
    bad[bad.length - 3] = 200;
    // 2. an unknown command id
    const unknown = encodeEmpty(0x00000077, 0, 901);
    raw.write(Buffer.concat([bad, unknown]));
    await waitFor(() => sim.stats.badPdus >= 2, 5000, 'bad PDUs seen by the SMSC');
    // the session still works both ways
    const resp = await new Promise<{ commandStatus: number; messageId: string } | undefined>((ok) => conn.submit(sm(1), (_e, r) => ok(r)));
    expect(resp?.commandStatus).toBe(0);
    expect(resp?.messageId).not.toBe('');
    // and this side recovers from garbage the peer sends: a deliver_sm with a broken TLV
    const events: string[] = [];
    conn.on('bad_pdu', (why: string) => events.push(why));
    conn.open(); // inbound deliver_sm are held until the owner opens
    const brokenDeliver = Buffer.from('0000001a00000005000000000000000300' + '0000000000', 'hex');
    brokenDeliver.writeUInt32BE(brokenDeliver.length, 0);
    conn.socket.emit('data', brokenDeliver);
    expect(events.length).toBe(1);
    const again = await new Promise<{ commandStatus: number } | undefined>((ok) => conn.submit(sm(2), (_e, r) => ok(r)));
    expect(again?.commandStatus).toBe(0);
  });

  it('closes the session on an absurd command_length, saying why', async () => {
    const sim = await simulator();
    const conn = await bind(sim);
    const reasons: string[] = [];
    conn.on('bad_pdu', (why: string) => reasons.push(why));
    const closed = new Promise<void>((ok) => conn.once('close', () => ok()));
    const absurd = Buffer.alloc(16);
    absurd.writeUInt32BE(0x7fffffff, 0);
    conn.socket.emit('data', absurd);
    await closed;
    expect(reasons[0]).toContain('command_length 2147483647 outside 16..16384');
  });

  it('regression (a submit_sm_resp without NUL stranded its message): takes the id up to the end of the PDU', async () => {
    const peer = await rawPeer((sock, f) => {
      const id = f.readUInt32BE(4);
      const seq = f.readUInt32BE(12);
      if (id === CommandId.bind_transceiver) sock.write(encodeResp(CommandId.bind_transceiver_resp, 0, seq, 'peer'));
      else if (id === CommandId.submit_sm) {
        // message_id "7F3A" with no terminating NUL, as some SMSCs send it
        const resp = Buffer.concat([encodeEmpty(CommandId.submit_sm_resp, 0, seq), Buffer.from('7F3A', 'latin1')]);
        resp.writeUInt32BE(resp.length, 0);
        sock.write(resp);
      }
    });
    const conn = await SmppConnection.bind({ host: '127.0.0.1', port: peer.port, systemId: 'sy', password: 'x', window: 10, responseTimeoutMs: 2000 });
    cleanups.unshift(() => conn.destroy()); // before the peer's server.close, which waits for its connections
    const r = await new Promise<{ err: SwitchyardError | null; messageId?: string }>((ok) => conn.submit(sm(1), (err, resp) => ok({ err, messageId: resp?.messageId })));
    expect(r).toEqual({ err: null, messageId: '7F3A' });
    expect(conn.inFlight).toBe(0);
  });

  it('a bind that gets no answer fails with SMPP_BIND_FAILED and closes its socket (no half-open session)', async () => {
    let closedByClient = false;
    const peer = await rawPeer(() => undefined); // accepts TCP, never answers the bind
    peer.server.on('connection', (sock) => sock.on('close', () => (closedByClient = true)));
    const err = await SmppConnection.bind({ host: '127.0.0.1', port: peer.port, systemId: 'sy', password: 'x', window: 10, responseTimeoutMs: 2000, connectTimeoutMs: 300 }).then(
      () => undefined,
      (e: SwitchyardError) => e,
    );
    expect(err?.code).toBe('SMPP_BIND_FAILED');
    expect(err?.message).toContain('got no answer in 300 ms');
    await waitFor(() => closedByClient, 2000, 'the peer sees the socket closed');
  });

  it('sends enquire_link after a silent period and closes a session whose peer never answers it', async () => {
    const probes: number[] = [];
    let answer = true;
    const peer = await rawPeer((sock, f) => {
      const id = f.readUInt32BE(4);
      const seq = f.readUInt32BE(12);
      if (id === CommandId.bind_transceiver) sock.write(encodeResp(CommandId.bind_transceiver_resp, 0, seq, 'peer'));
      else if (id === CommandId.enquire_link) {
        probes.push(Date.now());
        if (answer) sock.write(encodeEmpty(CommandId.enquire_link_resp, 0, seq));
      }
    });
    const conn = await SmppConnection.bind({ host: '127.0.0.1', port: peer.port, systemId: 'sy', password: 'x', window: 10, responseTimeoutMs: 300, enquireLinkMs: 200 });
    cleanups.unshift(() => conn.destroy());
    await waitFor(() => probes.length >= 2, 3000, 'two enquire_link probes');
    expect(conn.isClosed).toBe(false);
    // the peer goes silent: the next unanswered probe closes the session
    answer = false;
    const reasons: string[] = [];
    conn.on('bad_pdu', (why: string) => reasons.push(why));
    await new Promise<void>((ok) => conn.once('close', () => ok()));
    expect(reasons.some((r) => r.includes('enquire_link unanswered'))).toBe(true);
  });

  it('stops being writable while the socket is backpressured, and writes the rest on drain', async () => {
    let peerSock: Socket | undefined;
    let submits = 0;
    const peer = await rawPeer((sock, f) => {
      const id = f.readUInt32BE(4);
      if (id === CommandId.bind_transceiver) sock.write(encodeResp(CommandId.bind_transceiver_resp, 0, f.readUInt32BE(12), 'peer'));
      else if (id === CommandId.submit_sm) submits++;
    });
    peer.server.on('connection', (sock) => (peerSock = sock));
    const conn = await SmppConnection.bind({ host: '127.0.0.1', port: peer.port, systemId: 'sy', password: 'x', window: 100_000, responseTimeoutMs: 60_000 });
    cleanups.unshift(() => conn.destroy());
    await waitFor(() => peerSock !== undefined, 2000, 'peer socket');
    peerSock?.pause(); // the SMSC stops reading: the kernel buffers fill, then Node's
    const big = { ...sm(0), shortMessage: Buffer.alloc(140, 0x41) };
    let sent = 0;
    for (let round = 0; round < 2000 && conn.writable; round++) {
      for (let i = 0; i < 100; i++) if (conn.submit(big, () => undefined)) sent++;
      await new Promise((ok) => setImmediate(ok)); // one coalesced write per tick
    }
    expect(conn.writable).toBe(false);
    expect(conn.isClosed).toBe(false);
    const drained = new Promise<void>((ok) => conn.once('drain', () => ok()));
    peerSock?.resume();
    await drained;
    expect(conn.writable).toBe(true);
    await waitFor(() => submits === sent, 10_000, 'every queued submit reaches the peer');
  });

  it('answers enquire_link', async () => {
    const sim = await simulator();
    const conn = await bind(sim);
    void conn;
    // Raw client: bind, then enquire_link, expect enquire_link_resp with the same sequence.
    const sock = connect(sim.port, '127.0.0.1');
    cleanups.push(() => void sock.destroy());
    const frames: Buffer[] = [];
    sock.on('data', (d) => frames.push(d));
    await new Promise((ok) => sock.once('connect', ok));
    sock.write(encodeEmpty(CommandId.enquire_link, 0, 4242));
    await waitFor(() => frames.length > 0, 5000, 'enquire_link_resp');
    const f = Buffer.concat(frames);
    expect(f.readUInt32BE(4)).toBe(CommandId.enquire_link_resp);
    expect(f.readUInt32BE(12)).toBe(4242);
  });
});

/** A peer that answers the bind as `onBind` says and records every frame it gets. */
async function scriptedPeer(onBind: (sock: Socket, seq: number) => void, onOther: (sock: Socket, frame: Buffer) => void = () => undefined) {
  const frames: Buffer[] = [];
  let peerSock: Socket | undefined;
  const peer = await rawPeer((sock, f) => {
    frames.push(Buffer.from(f));
    if (f.readUInt32BE(4) === Id.bind_transceiver) onBind(sock, f.readUInt32BE(12));
    else onOther(sock, f);
  });
  peer.server.on('connection', (sock) => (peerSock = sock));
  return { ...peer, frames, sock: () => peerSock as Socket };
}

const respsTo = (frames: Buffer[], id: number) => frames.filter((f) => f.readUInt32BE(4) === id).map((f) => ({ status: f.readUInt32BE(8), sequence: f.readUInt32BE(12) }));

describe('SmppConnection: every request from the SMSC is answered', () => {
  it('regression (receipts in the same TCP read as the bind response were dropped): holds them until the owner listens', async () => {
    const peer = await scriptedPeer((sock, seq) => {
      const receipts = [1, 2, 3].map((i) => receiptDeliverSm(100 + i, { id: `A${i}`, stat: 'DELIVRD', source: 'Acme', dest: '4791234567' }));
      sock.write(Buffer.concat([pdu(Id.bind_transceiver_resp, 0, seq, cstr('peer')), ...receipts]));
    });
    const conn = await SmppConnection.bind({ host: '127.0.0.1', port: peer.port, systemId: 'sy', password: 'x', window: 10, responseTimeoutMs: 5000 });
    cleanups.unshift(() => conn.destroy());
    // The owner attaches after bind() resolved, as the operator actor does.
    const got: DeliverSm[] = [];
    conn.on('deliver_sm', (d: DeliverSm) => {
      got.push(d);
      conn.replyDeliverSm(d.sequence, 0);
    });
    await waitFor(() => respsTo(peer.frames, Id.deliver_sm_resp).length === 3, 5000, 'three deliver_sm_resp');
    expect(got.map((d) => d.receiptedMessageId)).toEqual(['A1', 'A2', 'A3']);
    expect(respsTo(peer.frames, Id.deliver_sm_resp)).toEqual([101, 102, 103].map((sequence) => ({ status: 0, sequence })));
  });

  it('regression (data_sm, query_sm, submit_multi, cancel_sm, replace_sm, outbind and bind_* got no reply): answers each with its proper status', async () => {
    const peer = await scriptedPeer((sock, seq) => sock.write(pdu(Id.bind_transceiver_resp, 0, seq, cstr('peer'))));
    const conn = await SmppConnection.bind({ host: '127.0.0.1', port: peer.port, systemId: 'sy', password: 'x', window: 10, responseTimeoutMs: 5000 });
    cleanups.unshift(() => conn.destroy());
    const delivered: DeliverSm[] = [];
    conn.on('deliver_sm', (d: DeliverSm) => {
      delivered.push(d);
      conn.replyDeliverSm(d.sequence, 0);
    });
    const badSm = deliverSm(20, { source: '4791234567', dest: '2222', esmClass: 0, shortMessage: Buffer.from('hello') });
    badSm[badSm.length - 6] = 200; // sm_length 200: runs past the end of the PDU
    peer.sock().write(Buffer.concat([
      dataSm(10, { source: 'Acme', dest: '4791234567', esmClass: 0x04, tlvs: Buffer.concat([tlv(TAG.receipted_message_id, cstr('B7')), tlv(TAG.message_state, Buffer.from([2]))]) }),
      pdu(Id.query_sm, 0, 11, Buffer.concat([cstr('B7'), Buffer.from([0, 0]), cstr('')])),
      pdu(Id.submit_multi, 0, 12),
      pdu(Id.cancel_sm, 0, 13),
      pdu(Id.replace_sm, 0, 14),
      pdu(Id.bind_transceiver, 0, 15, Buffer.concat([cstr('x'), cstr('y'), cstr(''), Buffer.from([0x34, 0, 0]), cstr('')])),
      pdu(Id.outbind, 0, 16, Buffer.concat([cstr('x'), cstr('')])),
      pdu(Id.submit_sm, 0, 17),
      pdu(0x00000077, 0, 18),
      pdu(Id.alert_notification, 0, 19),
      badSm,
      pdu(Id.enquire_link, 0, 21),
    ]));
    await waitFor(() => respsTo(peer.frames, Id.enquire_link_resp).some((r) => r.sequence === 21), 5000, 'the enquire_link answered');
    await waitFor(() => peer.frames.length >= 12, 5000, 'every answer');
    const answers = peer.frames.slice(1).map((f) => [f.readUInt32BE(4), f.readUInt32BE(8), f.readUInt32BE(12)]);
    expect(answers).toEqual([
      [Id.data_sm_resp, 0, 10],
      [Id.query_sm | 0x80000000, 0x03, 11],
      [Id.submit_multi | 0x80000000, 0x03, 12],
      [Id.cancel_sm | 0x80000000, 0x03, 13],
      [Id.replace_sm | 0x80000000, 0x03, 14],
      [Id.bind_transceiver_resp, 0x05, 15],
      [Id.generic_nack, 0x03, 16],
      [Id.submit_sm_resp, 0x03, 17],
      [Id.generic_nack, 0x03, 18],
      [Id.deliver_sm_resp, 0x01, 20],
      [Id.enquire_link_resp, 0, 21],
    ].map(([a, b, c]) => [(a as number) >>> 0, b, c]));
    expect(delivered.map((d) => [d.dataSm, d.receiptedMessageId, d.messageState])).toEqual([[true, 'B7', 2]]);
    expect(conn.isClosed).toBe(false);
  });

  it('answers 0x64 (redeliver) a deliver_sm that nobody takes, and one the owner leaves unanswered past the response timeout', async () => {
    const peer = await scriptedPeer((sock, seq) => sock.write(pdu(Id.bind_transceiver_resp, 0, seq, cstr('peer'))));
    const conn = await SmppConnection.bind({ host: '127.0.0.1', port: peer.port, systemId: 'sy', password: 'x', window: 10, responseTimeoutMs: 300 });
    cleanups.unshift(() => conn.destroy());
    const warnings: string[] = [];
    conn.on('warn', (w: string) => warnings.push(w));
    conn.open(); // open, but no listener
    peer.sock().write(receiptDeliverSm(1, { id: 'C1', stat: 'DELIVRD', source: 'Acme', dest: '4791234567' }));
    await waitFor(() => respsTo(peer.frames, Id.deliver_sm_resp).length === 1, 5000, 'the answer');
    expect(respsTo(peer.frames, Id.deliver_sm_resp)).toEqual([{ status: 0x64, sequence: 1 }]);
    // A listener that never answers: the sweep answers for it, once.
    const seen: DeliverSm[] = [];
    conn.on('deliver_sm', (d: DeliverSm) => seen.push(d));
    peer.sock().write(receiptDeliverSm(2, { id: 'C2', stat: 'DELIVRD', source: 'Acme', dest: '4791234567' }));
    await waitFor(() => respsTo(peer.frames, Id.deliver_sm_resp).length === 2, 5000, 'the timeout answer');
    expect(respsTo(peer.frames, Id.deliver_sm_resp)[1]).toEqual({ status: 0x64, sequence: 2 });
    conn.replyDeliverSm(2, 0); // too late: dropped, the SMSC got its one answer
    peer.sock().write(pdu(Id.enquire_link, 0, 3));
    await waitFor(() => respsTo(peer.frames, Id.enquire_link_resp).length === 1, 5000, 'a later answer');
    expect(respsTo(peer.frames, Id.deliver_sm_resp)).toHaveLength(2);
    expect(seen).toHaveLength(1);
    expect(warnings.some((w) => w.includes('nobody to take it'))).toBe(true);
    expect(warnings.some((w) => w.includes('not answered within 300 ms'))).toBe(true);
  });

  it('stops reading while maxInboundPending requests wait for the owner, and answers every one of a flood', async () => {
    const total = 3000;
    const peer = await scriptedPeer((sock, seq) => {
      const flood = Array.from({ length: total }, (_, i) => receiptDeliverSm(1 + i, { id: `F${i}`, stat: 'DELIVRD', source: 'Acme', dest: '4791234567' }));
      sock.write(Buffer.concat([pdu(Id.bind_transceiver_resp, 0, seq, cstr('peer')), ...flood]));
    });
    const conn = await SmppConnection.bind({ host: '127.0.0.1', port: peer.port, systemId: 'sy', password: 'x', window: 10, responseTimeoutMs: 10_000, maxInboundPending: 100 });
    cleanups.unshift(() => conn.destroy());
    let maxPending = 0;
    let waiting: number[] = [];
    conn.on('deliver_sm', (d: DeliverSm) => {
      maxPending = Math.max(maxPending, conn.inboundPending);
      waiting.push(d.sequence);
    });
    // The owner answers in batches, as the actor does after each Redis write.
    const timer = setInterval(() => {
      for (const s of waiting) conn.replyDeliverSm(s, 0);
      waiting = [];
    }, 5);
    cleanups.unshift(() => clearInterval(timer));
    await waitFor(() => respsTo(peer.frames, Id.deliver_sm_resp).length === total, 20_000, 'every deliver_sm answered');
    expect(maxPending).toBeLessThanOrEqual(100);
    expect(new Set(respsTo(peer.frames, Id.deliver_sm_resp).map((r) => r.status))).toEqual(new Set([0]));
  });

  it('regression (an SMSC flooding enquire_link without reading grew the output without bound): stops reading, then drops the peer saying why', async () => {
    let peerSock: Socket | undefined;
    const peer = await scriptedPeer((sock, seq) => {
      peerSock = sock;
      sock.write(pdu(Id.bind_transceiver_resp, 0, seq, cstr('peer')));
    });
    const conn = await SmppConnection.bind({ host: '127.0.0.1', port: peer.port, systemId: 'sy', password: 'x', window: 10, responseTimeoutMs: 1000, maxOutputBytes: 256 * 1024 });
    cleanups.unshift(() => conn.destroy());
    const warnings: string[] = [];
    conn.on('warn', (w: string) => warnings.push(w));
    const closed = new Promise<void>((ok) => conn.once('close', () => ok()));
    const sock = peerSock as Socket;
    sock.pause(); // never reads again
    // Floods: 4,096 enquire_link per write while the socket takes them, at most 64 MiB (the engine stops it long before).
    const chunk = Buffer.concat(Array.from({ length: 4096 }, (_, i) => pdu(Id.enquire_link, 0, i + 1)));
    let written = 0;
    let maxOutput = 0;
    while (!conn.isClosed && written < 64 * 1024 * 1024) {
      maxOutput = Math.max(maxOutput, conn.outputBytes);
      if (!sock.write(chunk)) await new Promise<void>((ok) => { sock.once('drain', () => ok()); sock.once('close', () => ok()); });
      written += chunk.length;
      await new Promise((ok) => setImmediate(ok));
    }
    await closed;
    expect(warnings.some((w) => /left \d+ bytes of output unread for \d+ ms \(bound 262144\); closing the session/.test(w))).toBe(true);
    // At most the bound plus one read's worth of answers (64 KiB of enquire_link → 64 KiB of resps) and what the socket holds.
    expect(maxOutput).toBeLessThan(256 * 1024 + 2 * 65536);
  }, 30_000);
});
