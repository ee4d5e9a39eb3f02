import type { SafeData, SafeDtype, SafeTensor } from '../safetensors';
import { isZip, ZipError, ZipReader } from './zip';
import { PickleError, PyGlobal, unpickle, type PyCallable } from './pickle';

/**
 * Files written by `torch.save` (PyTorch >= 1.6, the zip format): `<root>/data.pkl` is a pickle
 * whose tensors point, through persistent ids ('storage', StorageType, key, location, numel), at
 * raw little-endian storages `<root>/data/<key>`. Tensors become `TorchTensor`s (contiguous,
 * row-major copies); storages shared between tensors, offsets and strides are honoured.
 */
export class TorchFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TorchFileError';
  }
}

/** One tensor read from the file, in PyTorch layout. F16/BF16 data are raw 16-bit patterns. */
export class TorchTensor implements SafeTensor {
  constructor(readonly dtype: SafeDtype, readonly shape: number[], readonly data: SafeData) {}
}

const STORAGE_DTYPES: Record<string, SafeDtype> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

type Ctor = { new (buffer: ArrayBuffer): SafeData; new (n: number): SafeData; BYTES_PER_ELEMENT: number };
const CTORS: Record<SafeDtype, Ctor> = {
  F64: Float64Array, F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, I64: BigInt64Array,
  I32: Int32Array, I16: Int16Array, I8: Int8Array, U64: BigUint64Array, U32: Uint32Array,
  U16: Uint16Array, U8: Uint8Array, BOOL: Uint8Array,
} as unknown as Record<SafeDtype, Ctor>;

interface StorageRef {
  dtype: SafeDtype;
  key: string;
  numel: number;
}

/** Parse the bytes of a `torch.save` file into plain values (Maps, arrays, TorchTensors, placeholders). */
export function readTorchFile(bytes: Uint8Array, label = 'file'): unknown {
  if (!isZip(bytes)) {
    if (bytes.length >= 2 && bytes[0] === 0x80) {
      throw new TorchFileError(
        `${label}: a legacy (pre-1.6, non-zip) torch.save file; re-save it with torch >= 1.6 (the default zip format)`,
      );
    }
    throw new TorchFileError(`${label}: not a torch.save zip archive`);
  }
  let zip: ZipReader;
  try {
    zip = new ZipReader(bytes);
  } catch (e) {
    throw new TorchFileError(`${label}: ${(e as Error).message}`);
  }
  const pkl = [...zip.entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (pkl.length !== 1) throw new TorchFileError(`${label}: expected one data.pkl in the archive, found ${pkl.length}`);
  const root = pkl[0].slice(0, -'data.pkl'.length);
  const order = zip.entries.has(`${root}byteorder`) ? Buffer.from(zip.read(`${root}byteorder`)).toString('utf8').trim() : 'little';
  if (order !== 'little') throw new TorchFileError(`${label}: byte order '${order}' is not supported (only little-endian)`);

  const storages = new Map<string, SafeData>();
  const storageData = (ref: StorageRef): SafeData => {
    let data = storages.get(ref.key);
    if (!data) {
      const name = `${root}data/${ref.key}`;
      let raw: Uint8Array;
      try {
        raw = zip.read(name);
      } catch (e) {
        throw new TorchFileError(`${label}: storage '${ref.key}': ${(e as Error).message}`);
      }
      const ctor = CTORS[ref.dtype];
      if (raw.length !== ref.numel * ctor.BYTES_PER_ELEMENT) {
        throw new TorchFileError(`${label}: storage '${ref.key}' has ${raw.length} bytes, expected ${ref.numel} x ${ref.dtype}`);
      }
      const copy = new ArrayBuffer(raw.length); // aligned copy
      new Uint8Array(copy).set(raw);
      data = new ctor(copy);
      storages.set(ref.key, data);
    }
    return data;
  };

  const persistentLoad = (pid: unknown): StorageRef => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      throw new TorchFileError(`${label}: unsupported persistent id ${JSON.stringify(String(pid))}`);
    }
    const [, type, key, , numel] = pid as [string, unknown, unknown, unknown, unknown];
    const typeName = type instanceof PyGlobal ? type.name : String(type);
    const dtype = STORAGE_DTYPES[typeName];
    if (!dtype) throw new TorchFileError(`${label}: unsupported storage type ${typeName}`);
    if (typeof key !== 'string' || !/^[\w.-]+$/.test(key)) throw new TorchFileError(`${label}: bad storage key ${String(key)}`);
    if (typeof numel !== 'number' || !Number.isInteger(numel) || numel < 0) throw new TorchFileError(`${label}: bad storage size ${String(numel)}`);
    return { dtype, key, numel };
  };

  const rebuildTensor: PyCallable = (args) => {
    const [storage, offset, size, stride] = args as [StorageRef, unknown, unknown, unknown];
    if (!storage || typeof storage !== 'object' || !('key' in storage)) throw new TorchFileError(`${label}: tensor without a storage`);
    if (!isIntList(size) || !isIntList(stride) || size.length !== stride.length || typeof offset !== 'number') {
      throw new TorchFileError(`${label}: tensor with bad size/stride/offset`);
    }
    return new TorchTensor(storage.dtype, [...size], gather(storageData(storage), offset, size, stride, storage, label));
  };
  const callables: Record<string, PyCallable> = {
    'torch._utils._rebuild_tensor_v2': rebuildTensor,
    'torch._utils._rebuild_tensor': rebuildTensor,
    'torch._utils._rebuild_parameter': (args) => args[0],
    'torch._utils._rebuild_parameter_with_state': (args) => args[0],
    // torch 2.x wraps tensor subclasses: _rebuild_from_type_v2(func, type, args, state) = func(*args).
    'torch._tensor._rebuild_from_type_v2': (args) => {
      const [fn, , inner] = args as [unknown, unknown, unknown[]];
      const impl = fn instanceof PyGlobal ? callables[fn.qualified] : undefined;
      if (!impl || !Array.isArray(inner)) throw new TorchFileError(`${label}: unsupported tensor rebuild`);
      return impl(inner);
    },
  };
  try {
    return unpickle(zip.read(pkl[0]), { persistentLoad, callables });
  } catch (e) {
    if (e instanceof PickleError || e instanceof ZipError) throw new TorchFileError(`${label}: ${e.message}`);
    throw e;
  }
}

function isIntList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0);
}

/** Copy the strided view (offset, size, stride) of a storage into a contiguous array. */
function gather(src: SafeData, offset: number, size: number[], stride: number[], ref: StorageRef, label: string): SafeData {
  const n = size.reduce((a, b) => a * b, 1);
  const ctor = CTORS[ref.dtype];
  if (n === 0) return new ctor(0);
  const last = offset + size.reduce((acc, d, i) => acc + (d - 1) * stride[i], 0);
  if (offset < 0 || last >= src.length) {
    throw new TorchFileError(`${label}: tensor view [${size}] at offset ${offset} runs past storage '${ref.key}' (${src.length} elements)`);
  }
  let contiguous = true;
  for (let i = size.length - 1, s = 1; i >= 0; i--) {
    if (size[i] !== 1 && stride[i] !== s) contiguous = false;
    s *= size[i];
  }
  if (contiguous) return (src as Uint8Array).slice(offset, offset + n) as unknown as SafeData;
  const out = new ctor(n) as unknown as { [i: number]: number | bigint };
  const idx = new Array<number>(size.length).fill(0);
  let at = offset;
  const s = src as unknown as { [i: number]: number | bigint };
  for (let o = 0; o < n; o++) {
    out[o] = s[at];
    for (let k = size.length - 1; k >= 0; k--) {
      idx[k]++;
      at += stride[k];
      if (idx[k] < size[k]) break;
      at -= stride[k] * size[k];
      idx[k] = 0;
    }
  }
  return out as unknown as SafeData;
}
