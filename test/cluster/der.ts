/**
 * The handful of ASN.1 DER encodings an X.509 certificate needs (ITU-T X.690). Each function
 * returns the complete tag-length-value bytes of one element, ready to be nested.
 */

const TAG_BOOLEAN = 0x01;
const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_OCTET_STRING = 0x04;
const TAG_OBJECT_IDENTIFIER = 0x06;
const TAG_UTF8_STRING = 0x0c;
const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;
const TAG_SEQUENCE = 0x30;
const TAG_SET = 0x31;

/** One element: a tag byte, the DER length, then the content. */
export function element(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(tag), encodeLength(content.length), content]);
}

/** A SEQUENCE of the given encoded elements, in order. */
export function sequence(...items: readonly Uint8Array[]): Buffer {
  return element(TAG_SEQUENCE, Buffer.concat(items));
}

/** A SET of the given encoded elements. Callers pass a single element (X.509 names do). */
export function set(...items: readonly Uint8Array[]): Buffer {
  return element(TAG_SET, Buffer.concat(items));
}

/** A BOOLEAN. */
export function boolean(value: boolean): Buffer {
  return element(TAG_BOOLEAN, Buffer.of(value ? 0xff : 0x00));
}

/**
 * A non-negative INTEGER from big-endian magnitude bytes: leading zeros are dropped, and a zero
 * byte is prepended when the high bit is set so that the value never reads as negative.
 */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) {
    start += 1;
  }
  const trimmed = Buffer.from(magnitude.subarray(start));
  const needsPad = trimmed.length === 0 || (trimmed[0] ?? 0) >= 0x80;
  return element(TAG_INTEGER, needsPad ? Buffer.concat([Buffer.of(0), trimmed]) : trimmed);
}

/** A small non-negative INTEGER. */
export function smallInteger(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`DER small integer out of range: ${value}`);
  }
  const bytes: number[] = [];
  let rest = value;
  do {
    bytes.unshift(rest & 0xff);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  return unsignedInteger(Buffer.from(bytes));
}

/** An OBJECT IDENTIFIER from its dotted form, e.g. `2.5.4.3`. */
export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => Number.parseInt(arc, 10));
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || arcs.some((arc) => Number.isNaN(arc))) {
    throw new RangeError(`invalid object identifier: ${dotted}`);
  }
  const body = [first * 40 + second, ...rest].flatMap(base128);
  return element(TAG_OBJECT_IDENTIFIER, Buffer.from(body));
}

/** A UTF8String. */
export function utf8String(value: string): Buffer {
  return element(TAG_UTF8_STRING, Buffer.from(value, 'utf8'));
}

/**
 * A certificate validity time: UTCTime up to 2049 and GeneralizedTime from 2050 on, both to
 * the second in UTC, as RFC 5280 section 4.1.2.5 requires.
 */
export function time(date: Date): Buffer {
  const iso = date.toISOString();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = date.getUTCFullYear();
  if (year < 2050) {
    return element(TAG_UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  }
  return element(TAG_GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'ascii'));
}

/** A BIT STRING holding whole bytes (no unused bits). */
export function bitString(bytes: Uint8Array): Buffer {
  return element(TAG_BIT_STRING, Buffer.concat([Buffer.of(0), bytes]));
}

/**
 * A named-bit BIT STRING (such as key usage) with the given bits set, bit 0 being the most
 * significant bit of the first byte. DER drops trailing zero bits and counts them as unused.
 */
export function namedBits(bits: readonly number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) {
    const index = Math.floor(bit / 8);
    bytes[index] = (bytes[index] ?? 0) | (0x80 >> (bit % 8));
  }
  const unused = 7 - (highest % 8);
  return element(TAG_BIT_STRING, Buffer.concat([Buffer.of(unused), bytes]));
}

/** An OCTET STRING. */
export function octetString(bytes: Uint8Array): Buffer {
  return element(TAG_OCTET_STRING, bytes);
}

/** A constructed, explicitly tagged context-specific element `[n] EXPLICIT`. */
export function explicit(tagNumber: number, inner: Uint8Array): Buffer {
  return element(0xa0 | tagNumber, inner);
}

/** A primitive, implicitly tagged context-specific element `[n] IMPLICIT`. */
export function implicit(tagNumber: number, content: Uint8Array): Buffer {
  return element(0x80 | tagNumber, content);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) {
    return Buffer.of(length);
  }
  const bytes: number[] = [];
  let rest = length;
  while (rest > 0) {
    bytes.unshift(rest & 0xff);
    rest = Math.floor(rest / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function base128(value: number): number[] {
  const groups = [value & 0x7f];
  let rest = Math.floor(value / 128);
  while (rest > 0) {
    groups.unshift((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  return groups;
}
