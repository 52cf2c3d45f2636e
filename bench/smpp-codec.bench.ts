/**
 * SMPP codec micro-benchmark: `npm run bench:smpp`. The `smpp` package's
 * generic PDU class against Switchyard's fast codec (engine/smpp/pdu-codec.ts)
 * for the three PDUs every message costs: encode submit_sm, decode
 * submit_sm_resp, decode deliver_sm (a receipt with TLVs).
 *
 * Each task iteration runs BATCH operations (one is well under a microsecond
 * for the fast codec); figures are per operation. Prints a table, then as the
 * LAST line one JSON object with the figures.
 */
import smpp from 'smpp';
import { Bench, hrtimeNow } from 'tinybench';
import { batchedRows } from './batched-rows.js';
import { decodeDeliverSm, decodeSubmitSmResp, encodeDeliverSm, encodeResp, encodeSubmitSm, CommandId } from '../engine/smpp/index.js';

const BATCH = 50;
const shortMessage = Buffer.from('Your verification code is 482913. It expires in 10 minutes.');
const submit = {
  serviceType: '', sourceAddrTon: 5, sourceAddrNpi: 0, sourceAddr: 'Switchyard', destAddrTon: 1, destAddrNpi: 1,
  destinationAddr: '4791234567', esmClass: 0, protocolId: 0, priorityFlag: 0, scheduleDeliveryTime: '',
  validityPeriod: '261124153000000+', registeredDelivery: 1, replaceIfPresent: 0, dataCoding: 0, smDefaultMsgId: 0, shortMessage,
};
const smppSubmit = {
  source_addr_ton: 5, source_addr_npi: 0, source_addr: 'Switchyard', dest_addr_ton: 1, dest_addr_npi: 1,
  destination_addr: '4791234567', validity_period: '261124153000000+', registered_delivery: 1, data_coding: 0, short_message: shortMessage,
};
const respFrame = encodeResp(CommandId.submit_sm_resp, 0, 77, '00000A1B2C');
const receiptText = 'id:00000A1B2C sub:001 dlvrd:001 submit date:2611221530 done date:2611221531 stat:DELIVRD err:000 text:Your verification';
const deliverFrame = encodeDeliverSm({ ...submit, sequence: 5, esmClass: 4, shortMessage: Buffer.from(receiptText), receiptedMessageId: '00000A1B2C', messageState: 2 });

let sink = 0;
let seq = 0;
const bench = new Bench({ name: 'smpp-codec', time: 1000, warmupTime: 250, now: hrtimeNow });
bench
  .add('smpp: encode submit_sm', () => {
    for (let i = 0; i < BATCH; i++) sink += new smpp.PDU('submit_sm', { ...smppSubmit, sequence_number: ++seq }).toBuffer().length;
  })
  .add('fast: encode submit_sm', () => {
    for (let i = 0; i < BATCH; i++) sink += encodeSubmitSm(submit, ++seq).length;
  })
  .add('smpp: decode submit_sm_resp', () => {
    for (let i = 0; i < BATCH; i++) sink += String(new smpp.PDU(respFrame).message_id).length;
  })
  .add('fast: decode submit_sm_resp', () => {
    for (let i = 0; i < BATCH; i++) sink += decodeSubmitSmResp(respFrame).length;
  })
  .add('smpp: decode deliver_sm', () => {
    for (let i = 0; i < BATCH; i++) sink += String(new smpp.PDU(deliverFrame).receipted_message_id).length;
  })
  .add('fast: decode deliver_sm', () => {
    for (let i = 0; i < BATCH; i++) sink += (decodeDeliverSm(deliverFrame).receiptedMessageId ?? '').length;
  });

await bench.run();
const rows = batchedRows(bench, BATCH);
console.table(rows);
if (sink === 0) console.log('(sink is zero: nothing ran)');
const ops = (i: number) => rows[i]?.['ops/s'] ?? 0;
console.log(JSON.stringify({
  bench: 'smpp-codec',
  node: process.version,
  smppEncodeSubmitOpsPerSec: ops(0),
  fastEncodeSubmitOpsPerSec: ops(1),
  smppDecodeSubmitRespOpsPerSec: ops(2),
  fastDecodeSubmitRespOpsPerSec: ops(3),
  smppDecodeDeliverOpsPerSec: ops(4),
  fastDecodeDeliverOpsPerSec: ops(5),
}));
