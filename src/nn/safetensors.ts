/**
 * The safetensors format, no dependencies: 8-byte little-endian header length N, N bytes of JSON
 * header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}, then
 * the raw little-endian data. Offsets are relative to the end of the header. We write keys sorted,
 * data contiguous in key order and the header padded with spaces to a multiple of 8 (what the
 * reference writer does, so the data start stays aligned).
 */
import * as os from 'os';

export type SafeDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export type SafeData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  /** Row-major values. F16 / BF16 are raw 16-bit patterns (Uint16Array), BOOL is Uint8Array. */
  data: SafeData;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

const ITEM_SIZE: Record<SafeDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

type ArrayCtor = { new (buffer: ArrayBuffer, byteOffset?: number, length?: number): SafeData; name: string };
const CTOR: Record<SafeDtype, ArrayCtor> = {
  F64: Float64Array, F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, I64: BigInt64Array,
  I32: Int32Array, I16: Int16Array, I8: Int8Array, U64: BigUint64Array, U32: Uint32Array,
  U16: Uint16Array, U8: Uint8Array, BOOL: Uint8Array,
};

// Typed arrays use the host byte order; the format is little-endian.
if (os.endianness() !== 'LE') throw new Error('safetensors: big-endian hosts are not supported');

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`safetensors: ${message}`);
    this.name = 'SafetensorsError';
  }
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function checkTensor(name: string, t: SafeTensor): void {
  if (!(t.dtype in ITEM_SIZE)) throw new SafetensorsError(`'${name}': unknown dtype ${t.dtype}`);
  if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`'${name}': bad shape [${t.shape}]`);
  const ctor = CTOR[t.dtype];
  if (t.data.constructor !== ctor) {
    throw new SafetensorsError(`'${name}': dtype ${t.dtype} needs a ${ctor.name}, got ${t.data.constructor.name}`);
  }
  if (t.data.length !== numel(t.shape)) {
    throw new SafetensorsError(`'${name}': shape [${t.shape}] has ${numel(t.shape)} elements, data has ${t.data.length}`);
  }
}

/** Serialise tensors (and optional string metadata) to the bytes of a .safetensors file. */
export function serializeSafetensors(
  tensors: Map<string, SafeTensor> | Record<string, SafeTensor>,
  metadata?: Record<string, string>,
): Buffer {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata '${k}' must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new SafetensorsError(`'__metadata__' is reserved`);
    checkTensor(name, t);
    const bytes = t.data.length * ITEM_SIZE[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const headerBuf = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBuf.length + offset);
  out.writeBigUInt64LE(BigInt(headerBuf.length), 0);
  headerBuf.copy(out, 8);
  let pos = 8 + headerBuf.length;
  for (const [, t] of entries) {
    const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(src, pos);
    pos += src.length;
  }
  return out;
}

/** Parse the bytes of a .safetensors file. Data is copied into fresh (aligned) typed arrays. */
export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.length < 8) throw new SafetensorsError(`file too short (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) throw new SafetensorsError(`header length ${n} exceeds file size ${bytes.length}`);
  const headerLen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLen).toString('utf8'));
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError('header is not a JSON object');
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const spans: Array<[number, number, string]> = [];
  const tensors = new Map<string, SafeTensor>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      for (const [k, v] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(`metadata '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = info.dtype as SafeDtype;
    if (typeof dtype !== 'string' || !(dtype in ITEM_SIZE)) throw new SafetensorsError(`'${name}': unsupported dtype ${String(info.dtype)}`);
    const shape = info.shape as number[];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(`'${name}': bad shape ${JSON.stringify(info.shape)}`);
    }
    const offs = info.data_offsets as number[];
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[0] > offs[1]) {
      throw new SafetensorsError(`'${name}': bad data_offsets ${JSON.stringify(info.data_offsets)}`);
    }
    const [begin, end] = offs;
    if (end > dataLen) throw new SafetensorsError(`'${name}': data_offsets [${begin}, ${end}] past the end of the data (${dataLen} bytes)`);
    const size = ITEM_SIZE[dtype];
    if (end - begin !== numel(shape) * size) {
      throw new SafetensorsError(`'${name}': ${end - begin} bytes do not hold shape [${shape}] of ${dtype}`);
    }
    const copy = new ArrayBuffer(end - begin);
    new Uint8Array(copy).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { dtype, shape: [...shape], data: new CTOR[dtype](copy) });
    spans.push([begin, end, name]);
  }
  // Like the reference reader: tensors must tile the data area exactly, no gaps or overlaps.
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let expect = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== expect) throw new SafetensorsError(`'${name}' starts at ${begin}, expected ${expect} (gap or overlap)`);
    expect = end;
  }
  if (expect !== dataLen) throw new SafetensorsError(`tensors cover ${expect} of ${dataLen} data bytes`);
  return { tensors, metadata };
}

/** Aliases under the names the checkpoint store uses. */
export const encodeSafetensors = serializeSafetensors;
export const decodeSafetensors = parseSafetensors;
export type SafetensorsEntry = SafeTensor;
