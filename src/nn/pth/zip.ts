import * as zlib from 'zlib';

/**
 * The subset of the zip format that `torch.save` writes (PyTorch's miniz-based writer): a
 * central directory, entries stored (method 0) or deflated (8), zip64 extras when sizes or
 * offsets overflow 32 bits. Read-only, whole file in memory.
 */
export class ZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZipError';
  }
}

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const eocd = this.findEocd();
    let count = this.view.getUint16(eocd + 10, true);
    let cdOffset = this.view.getUint32(eocd + 16, true);
    // zip64: the 32-bit fields saturate and the real values live in the zip64 end record.
    const loc = eocd - 20;
    if (loc >= 0 && this.view.getUint32(loc, true) === EOCD64_LOCATOR) {
      const rec = this.u64(loc + 8);
      if (rec + 56 > bytes.length || this.view.getUint32(rec, true) !== EOCD64) throw new ZipError('bad zip64 end-of-central-directory record');
      count = this.u64(rec + 32);
      cdOffset = this.u64(rec + 48);
    }
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      this.need(p, 46);
      if (this.view.getUint32(p, true) !== CENTRAL) throw new ZipError(`central directory entry ${i} has a bad signature`);
      const method = this.view.getUint16(p + 10, true);
      let compressedSize = this.view.getUint32(p + 20, true);
      let size = this.view.getUint32(p + 24, true);
      const nameLen = this.view.getUint16(p + 28, true);
      const extraLen = this.view.getUint16(p + 30, true);
      const commentLen = this.view.getUint16(p + 32, true);
      let localHeaderOffset = this.view.getUint32(p + 42, true);
      this.need(p + 46, nameLen + extraLen);
      const name = Buffer.from(bytes.buffer, bytes.byteOffset + p + 46, nameLen).toString('utf8');
      // zip64 extended information extra field (id 1): present values replace saturated ones, in order.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = this.view.getUint16(e, true);
        const len = this.view.getUint16(e + 2, true);
        if (id === 1) {
          let q = e + 4;
          if (size === 0xffffffff) { size = this.u64(q); q += 8; }
          if (compressedSize === 0xffffffff) { compressedSize = this.u64(q); q += 8; }
          if (localHeaderOffset === 0xffffffff) { localHeaderOffset = this.u64(q); q += 8; }
        }
        e += 4 + len;
      }
      this.entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      p = eEnd + commentLen;
    }
  }

  /** The bytes of one entry (a view into the file for stored entries). */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) throw new ZipError(`no entry '${name}'`);
    const p = entry.localHeaderOffset;
    this.need(p, 30);
    if (this.view.getUint32(p, true) !== LOCAL) throw new ZipError(`entry '${name}' has a bad local header`);
    const start = p + 30 + this.view.getUint16(p + 26, true) + this.view.getUint16(p + 28, true);
    this.need(start, entry.compressedSize);
    const raw = this.bytes.subarray(start, start + entry.compressedSize);
    if (entry.method === 0) return raw;
    if (entry.method === 8) {
      const out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) }); // no zip bombs
      if (out.length !== entry.size) throw new ZipError(`entry '${name}' inflates to ${out.length} bytes, expected ${entry.size}`);
      return out;
    }
    throw new ZipError(`entry '${name}' uses unsupported compression method ${entry.method}`);
  }

  private findEocd(): number {
    const min = Math.max(0, this.bytes.length - 22 - 0xffff);
    for (let p = this.bytes.length - 22; p >= min; p--) {
      if (this.view.getUint32(p, true) === EOCD) return p;
    }
    throw new ZipError('no end-of-central-directory record (truncated or not a zip file)');
  }

  private u64(p: number): number {
    this.need(p, 8);
    const v = this.view.getBigUint64(p, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`64-bit field at ${p} is too large`);
    return Number(v);
  }

  private need(p: number, n: number): void {
    if (p < 0 || p + n > this.bytes.length) throw new ZipError(`truncated zip: needs bytes ${p}..${p + n} of ${this.bytes.length}`);
  }
}
