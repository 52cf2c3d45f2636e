/**
 * Types for the parts of the `smpp` package (CommonJS, untyped) that
 * Switchyard uses: its PDU class as the reference codec and for the PDUs that
 * are not on the hot path (bind, unbind, generic ones).
 */
declare module 'smpp' {
  export class PDU {
    constructor(command: string, options?: Record<string, unknown>);
    constructor(buffer: Buffer);
    command: string;
    command_id: number;
    command_status: number;
    sequence_number: number;
    [field: string]: unknown;
    toBuffer(): Buffer;
    isResponse(): boolean;
    response(options?: Record<string, unknown>): PDU;
    static fromBuffer(buffer: Buffer): PDU | false;
    static maxLength: number;
  }
  const smpp: { PDU: typeof PDU };
  export default smpp;
}
