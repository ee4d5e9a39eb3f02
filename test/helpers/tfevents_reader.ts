import * as fs from 'fs';

/**
 * An independent reader of TensorBoard event files for the tests: TFRecord framing with every
 * masked CRC-32C checked (bit-by-bit CRC, not the writer's table), and a generic protobuf wire
 * decoder. Throws on any framing or CRC error.
 */

function crc32cBitwise(buf: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? ((crc >>> 1) ^ 0x82f63b78) >>> 0 : crc >>> 1;
  }
  return ~crc >>> 0;
}

function masked(buf: Uint8Array): number {
  const c = crc32cBitwise(buf);
  const rotated = ((c >>> 15) | (c << 17)) >>> 0;
  return (rotated + 0xa282ead8) % 2 ** 32;
}

export function readRecords(file: string): Buffer[] {
  const b = fs.readFileSync(file);
  const out: Buffer[] = [];
  let o = 0;
  while (o < b.length) {
    if (o + 12 > b.length) throw new Error(`truncated record header at byte ${o}`);
    const lenBytes = b.subarray(o, o + 8);
    const len = Number(b.readBigUInt64LE(o));
    if (b.readUInt32LE(o + 8) !== masked(lenBytes)) throw new Error(`length CRC mismatch at byte ${o}`);
    const data = b.subarray(o + 12, o + 12 + len);
    if (data.length !== len || o + 16 + len > b.length) throw new Error(`truncated record at byte ${o}`);
    if (b.readUInt32LE(o + 12 + len) !== masked(data)) throw new Error(`data CRC mismatch at byte ${o}`);
    out.push(Buffer.from(data));
    o += 16 + len;
  }
  return out;
}

export interface Field {
  field: number;
  wire: number;
  /** varint as bigint, fixed64/fixed32 as their raw little-endian bytes, length-delimited as bytes. */
  value: bigint | Buffer;
}

export function decodeMessage(buf: Buffer): Field[] {
  const out: Field[] = [];
  let o = 0;
  const readVarint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (o >= buf.length) throw new Error('truncated varint');
      const byte = buf[o++];
      v |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
      shift += 7n;
    }
  };
  while (o < buf.length) {
    const key = Number(readVarint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: readVarint() });
    else if (wire === 1) {
      out.push({ field, wire, value: buf.subarray(o, o + 8) });
      o += 8;
    } else if (wire === 5) {
      out.push({ field, wire, value: buf.subarray(o, o + 4) });
      o += 4;
    } else if (wire === 2) {
      const n = Number(readVarint());
      out.push({ field, wire, value: buf.subarray(o, o + n) });
      o += n;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (o > buf.length) throw new Error('field runs past the message');
  }
  return out;
}

export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: Record<string, number>;
  images: Record<string, { height: number; width: number; colorspace: number; png: Buffer }>;
}

const one = (fields: Field[], n: number): Field | undefined => fields.find((f) => f.field === n);

/** Event { wall_time=1 double, step=2 int64, file_version=3 string, summary=5 }. */
export function decodeEvent(rec: Buffer): DecodedEvent {
  const f = decodeMessage(rec);
  const wt = one(f, 1);
  const ev: DecodedEvent = {
    wallTime: wt ? (wt.value as Buffer).readDoubleLE(0) : 0,
    step: Number((one(f, 2)?.value as bigint | undefined) ?? 0n),
    scalars: {},
    images: {},
  };
  const fv = one(f, 3);
  if (fv) ev.fileVersion = (fv.value as Buffer).toString('utf8');
  const summary = one(f, 5);
  if (summary) {
    for (const v of decodeMessage(summary.value as Buffer).filter((x) => x.field === 1)) {
      const vf = decodeMessage(v.value as Buffer);
      const tag = (one(vf, 1)!.value as Buffer).toString('utf8');
      const simple = one(vf, 2);
      if (simple) ev.scalars[tag] = (simple.value as Buffer).readFloatLE(0);
      const img = one(vf, 4);
      if (img) {
        const imf = decodeMessage(img.value as Buffer);
        ev.images[tag] = {
          height: Number(one(imf, 1)!.value),
          width: Number(one(imf, 2)!.value),
          colorspace: Number(one(imf, 3)!.value),
          png: one(imf, 4)!.value as Buffer,
        };
      }
    }
  }
  return ev;
}

export function readEventFile(file: string): DecodedEvent[] {
  return readRecords(file).map(decodeEvent);
}
