/** Message text encoding: GSM 03.38 / UCS-2 choice, segmentation into SMPP short_message parts, decoding, the SMSCs' default alphabets. */
export { encodeMessage, decodeShortMessage, GSM_SINGLE, GSM_PART, UCS2_SINGLE, UCS2_PART } from './encode-message.js';
export type { TextEncoding, EncodeOptions, EncodedPart, EncodedMessage, ConcatInfo, DecodedShortMessage } from './encode-message.js';
export { isGsmEncodable, firstNonGsm, gsmLength, encodeGsm, decodeGsm, ESC } from './gsm7.js';
export { transliterateToGsm } from './transliterate.js';
export {
  SMSC_ALPHABETS, ALPHABET_DATA_CODING, carriesText, carriesPart, transcodeGsmPart, packSeptets, unpackSeptets, fillBitsAfter, decodeDefaultAlphabet,
} from './smsc-alphabet.js';
export type { SmscAlphabet } from './smsc-alphabet.js';
