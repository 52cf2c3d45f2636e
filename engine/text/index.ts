/** Message text encoding: GSM 03.38 / UCS-2 choice, segmentation into SMPP short_message parts, decoding. */
export { encodeMessage, decodeShortMessage, GSM_SINGLE, GSM_PART, UCS2_SINGLE, UCS2_PART } from './encode-message.js';
export type { TextEncoding, EncodeOptions, EncodedPart, EncodedMessage, ConcatInfo, DecodedShortMessage } from './encode-message.js';
export { isGsmEncodable, firstNonGsm, gsmLength, encodeGsm, decodeGsm, ESC } from './gsm7.js';
export { transliterateToGsm } from './transliterate.js';
