/** SMPP layer: fast codec for hot PDUs and the session class used on both sides. */
export * from './pdu-codec.js';
export { SmppConnection, socketWrites } from './smpp-connection.js';
export type { SmppConnectionOptions, SubmitResp, RespCallback, OutgoingSubmit, BindOptions } from './smpp-connection.js';
