/** Message text encoding: GSM 03.38 / UCS-2 choice, segmentation, decoding. */
export { encodeMessage, decodeShortMessage, GSM_SINGLE, GSM_PART, UCS2_SINGLE, UCS2_PART } from './encode-message.js';
export type { TextEncoding, EncodeOptions, EncodedPart, EncodedMessage } from './encode-message.js';
export { encodeGsm, decodeGsm, gsmLength, firstNonGsm, ESC } from './gsm7.js';
