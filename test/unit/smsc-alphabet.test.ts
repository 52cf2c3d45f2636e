/**
 * The SMSCs' default alphabets (engine/text/smsc-alphabet.ts) and sender
 * classes (engine/actors/addresses.ts), byte by byte. Expected octets were
 * worked out independently of the code under test (bit by bit, TS 23.038
 * §6.1.2.1.1 for packing).
 */
import { describe, expect, it } from 'vitest';
import {
  carriesPart, carriesText, decodeShortMessage, encodeMessage, fillBitsAfter, packSeptets, transcodeGsmPart, unpackSeptets,
} from '../../engine/text/index.js';
import { classifySender, senderTonNpi, type AddressPlan } from '../../engine/actors/addresses.js';

const hex = (b: Buffer | undefined) => b?.toString('hex');
const septets = (s: string) => Buffer.from(s, 'latin1'); // ASCII letters and digits are their own GSM septets

describe('packed GSM 03.38', () => {
  it('packs 8 septets into 7 octets, LSB first', () => {
    expect(hex(packSeptets(septets('hello')))).toBe('e8329bfd06');
    expect(hex(packSeptets(septets('12345678')))).toBe('31d98c56b3dd70');
  });

  it('fills 7 spare bits with CR (not an extra @), and unpacking drops that CR', () => {
    expect(hex(packSeptets(septets('1234567')))).toBe('31d98c56b3dd1a');
    expect(unpackSeptets(Buffer.from('31d98c56b3dd1a', 'hex')).toString('latin1')).toBe('1234567');
    expect(unpackSeptets(Buffer.from('31d98c56b3dd70', 'hex')).toString('latin1')).toBe('12345678');
  });

  it('aligns text after a 6-octet UDH with one fill bit', () => {
    expect(fillBitsAfter(6)).toBe(1);
    expect(fillBitsAfter(7)).toBe(0);
    expect(hex(packSeptets(septets('A'), 1))).toBe('82');
    expect(hex(packSeptets(septets('Hi'), 1))).toBe('9069');
  });
});

describe('transcodeGsmPart: a queue entry as each alphabet sends it', () => {
  const single = encodeMessage('Hé@ {x}', { concatRef: 1, maxParts: 10 });
  const sm = (single.parts[0] as { shortMessage: Buffer }).shortMessage;

  it('gsm7: the unpacked septets as queued', () => {
    // H é @ space ESC ( x ESC )
    expect(hex(sm)).toBe('48050020' + '1b28' + '78' + '1b29');
    expect(transcodeGsmPart('gsm7', sm, 0)).toBe(sm);
  });

  it('gsm7-packed: the same septets packed', () => {
    // 0x48 0x05 0x00 0x20 0x1b 0x28 0x78 0x1b 0x29: 9 septets, 63 bits, 8 octets
    expect(hex(transcodeGsmPart('gsm7-packed', sm, 0))).toBe('c80200b441e13729');
  });

  it('latin1: one ISO-8859-1 octet per character, escapes resolved', () => {
    expect(hex(transcodeGsmPart('latin1', sm, 0))).toBe('48e940207b787d');
  });

  it('ia5: ASCII, and nothing for a character ASCII lacks', () => {
    expect(transcodeGsmPart('ia5', sm, 0)).toBeUndefined();
    const plain = encodeMessage('Hi {x} ~|', { concatRef: 1, maxParts: 10 }).parts[0] as { shortMessage: Buffer };
    expect(hex(transcodeGsmPart('ia5', plain.shortMessage, 0))).toBe(Buffer.from('Hi {x} ~|', 'latin1').toString('hex'));
  });

  it('latin1 lacks the Greek capitals and €', () => {
    const greek = encodeMessage('ΩΔ €', { concatRef: 1, maxParts: 10 }).parts[0] as { shortMessage: Buffer };
    expect(transcodeGsmPart('latin1', greek.shortMessage, 0)).toBeUndefined();
    expect(carriesPart('latin1', greek.shortMessage, 0)).toBe(false);
    expect(carriesPart('gsm7-packed', greek.shortMessage, 0)).toBe(true);
    expect(carriesText('latin1', 'ΩΔ €')).toBe(false);
    expect(carriesText('latin1', 'Hé £ ¥ ü')).toBe(true);
    expect(carriesText('ia5', 'Hé')).toBe(false);
    expect(carriesText('ia5', 'Hi {x} [y] ~|^\\')).toBe(true);
  });

  it('keeps the UDH of a concatenated part and packs 153 septets into 140 octets with it', () => {
    const long = encodeMessage('a'.repeat(200), { concatRef: 0x2a, maxParts: 10 });
    const p1 = (long.parts[0] as { shortMessage: Buffer }).shortMessage;
    expect(long.esmClass).toBe(0x40);
    const packed = transcodeGsmPart('gsm7-packed', p1, 0x40) as Buffer;
    expect(packed.length).toBe(140);
    expect(hex(packed.subarray(0, 6))).toBe('0500032a0201');
    // after the UDH one fill bit, then 'a' (0x61) septets
    expect(hex(packed.subarray(6))).toBe(hex(packSeptets(Buffer.alloc(153, 0x61), 1)));
    expect(hex(packed.subarray(6, 10))).toBe('c2e17038'); // 'a' = 0x61 after one fill bit
    const latin = transcodeGsmPart('latin1', p1, 0x40) as Buffer;
    expect(hex(latin)).toBe('0500032a0201' + '61'.repeat(153));
  });
});

describe('MO text in the SMSC default alphabet (data_coding 0)', () => {
  it('reads data_coding 0 as the SMSC says, other codings as they say', () => {
    expect(decodeShortMessage(Buffer.from('e8329bfd06', 'hex'), 0, false, 'gsm7-packed').text).toBe('hello');
    expect(decodeShortMessage(Buffer.from('48e9', 'hex'), 0, false, 'latin1').text).toBe('Hé');
    expect(decodeShortMessage(Buffer.from('48e9', 'hex'), 0, false, 'ia5').text).toBe('Hé');
    expect(decodeShortMessage(Buffer.from('4805', 'hex'), 0, false, 'gsm7').text).toBe('Hé');
    expect(decodeShortMessage(Buffer.from('4805', 'hex'), 0, false).text).toBe('Hé');
    // data_coding 3 is Latin-1 whatever the SMSC's default
    expect(decodeShortMessage(Buffer.from('48e9', 'hex'), 3, false, 'gsm7-packed').text).toBe('Hé');
    // a packed part after a UDH: one fill bit
    const udh = Buffer.from('0500030a0201', 'hex');
    const d = decodeShortMessage(Buffer.concat([udh, packSeptets(septets('Hi'), 1)]), 0, true, 'gsm7-packed');
    expect(d).toEqual({ text: 'Hi', concat: { ref: 10, total: 2, seq: 1 } });
  });
});

describe('sender classes (TON/NPI per SMSC)', () => {
  const plan: AddressPlan = {
    shortCodeMaxDigits: 6,
    alphanumeric: { ton: 5, npi: 0 }, shortCode: { ton: 3, npi: 0 }, national: { ton: 2, npi: 1 }, international: { ton: 1, npi: 1 },
    destination: { ton: 1, npi: 1 },
  };

  it('classifies alphanumeric, short code, national and international senders', () => {
    expect(classifySender('Acme', 6)).toBe('alphanumeric');
    expect(classifySender('Acme 24', 6)).toBe('alphanumeric');
    expect(classifySender('2222', 6)).toBe('shortCode');
    expect(classifySender('123456', 6)).toBe('shortCode');
    expect(classifySender('1234567', 6)).toBe('international');
    expect(classifySender('4790000000', 6)).toBe('international');
    expect(classifySender('090000000', 6)).toBe('national');
    expect(classifySender('12345678', 8)).toBe('shortCode');
    expect(senderTonNpi(plan, '2222')).toEqual({ ton: 3, npi: 0 });
    expect(senderTonNpi(plan, '4790000000')).toEqual({ ton: 1, npi: 1 });
    expect(senderTonNpi(plan, '090000000')).toEqual({ ton: 2, npi: 1 });
    expect(senderTonNpi(plan, 'Acme')).toEqual({ ton: 5, npi: 0 });
  });
});
