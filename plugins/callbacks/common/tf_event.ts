/**
 * The few protobuf messages of TensorBoard's event files, encoded by hand (proto3 wire format):
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; Image image = 4; }
 *   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
 */

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int64 two's complement, as protobuf encodes negatives
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

class Writer {
  private readonly parts: Buffer[] = [];
  private tag(field: number, wire: number): void {
    this.parts.push(Buffer.from(varint((field << 3) | wire)));
  }
  varint(field: number, v: number | bigint): this {
    this.tag(field, VARINT);
    this.parts.push(Buffer.from(varint(v)));
    return this;
  }
  double(field: number, v: number): this {
    this.tag(field, FIXED64);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v, 0);
    this.parts.push(b);
    return this;
  }
  float(field: number, v: number): this {
    this.tag(field, FIXED32);
    const b = Buffer.alloc(4);
    b.writeFloatLE(v, 0);
    this.parts.push(b);
    return this;
  }
  bytes(field: number, v: Uint8Array | string): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
    this.tag(field, BYTES);
    this.parts.push(Buffer.from(varint(b.length)), b);
    return this;
  }
  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export type SummaryValue =
  | { tag: string; simpleValue: number }
  | { tag: string; image: { height: number; width: number; colorspace: number; png: Uint8Array } };

function encodeValue(v: SummaryValue): Buffer {
  const w = new Writer().bytes(1, v.tag);
  if ('simpleValue' in v) return w.float(2, v.simpleValue).finish();
  const img = new Writer()
    .varint(1, v.image.height)
    .varint(2, v.image.width)
    .varint(3, v.image.colorspace)
    .bytes(4, v.image.png)
    .finish();
  return w.bytes(4, img).finish();
}

/** The first record of every event file: names the format version. */
export function fileVersionEvent(wallTime: number): Buffer {
  return new Writer().double(1, wallTime).bytes(3, 'brain.Event:2').finish();
}

export function summaryEvent(wallTime: number, step: number, values: SummaryValue[]): Buffer {
  const summary = new Writer();
  for (const v of values) summary.bytes(1, encodeValue(v));
  return new Writer().double(1, wallTime).varint(2, step).bytes(5, summary.finish()).finish();
}
