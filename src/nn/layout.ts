import type { TorchLayout } from './module';

/**
 * Our (tfjs) parameter layouts versus PyTorch's, as axis permutations:
 *   conv       HWIO [kh, kw, in, out]  <->  OIHW [out, in, kh, kw]
 *   depthwise  [kh, kw, C, 1]          <->  [C, 1, kh, kw]
 *   linear     [in, out]               <->  [out, in]
 */
const TO_TORCH: Record<TorchLayout, number[] | null> = {
  same: null,
  conv: [3, 2, 0, 1],
  depthwise: [2, 3, 0, 1],
  linear: [1, 0],
};
const FROM_TORCH: Record<TorchLayout, number[] | null> = {
  same: null,
  conv: [2, 3, 1, 0],
  depthwise: [2, 3, 0, 1],
  linear: [1, 0],
};

export function toTorchPerm(layout: TorchLayout): number[] | null {
  return TO_TORCH[layout];
}

export function fromTorchPerm(layout: TorchLayout): number[] | null {
  return FROM_TORCH[layout];
}

export function permuteShape(shape: number[], perm: number[] | null): number[] {
  return perm ? perm.map((a) => shape[a]) : [...shape];
}

type Indexable = { length: number; [i: number]: number | bigint };

/**
 * out[i_perm...] = data[i...]: output axis k is input axis perm[k] (numpy.transpose semantics).
 * Plain JS so conversion does not depend on a backend or allocate tensors.
 */
export function permute<T extends Indexable>(data: T, shape: number[], perm: number[] | null, make: (n: number) => T): T {
  if (!perm) {
    const out = make(data.length);
    for (let i = 0; i < data.length; i++) out[i] = data[i];
    return out;
  }
  if (perm.length !== shape.length) throw new Error(`permute: perm [${perm}] does not fit shape [${shape}]`);
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let a = rank - 1; a >= 0; a--) {
    inStrides[a] = s;
    s *= shape[a];
  }
  const outShape = perm.map((a) => shape[a]);
  const strideOfOut = perm.map((a) => inStrides[a]);
  const out = make(data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < data.length; o++) {
    out[o] = data[src];
    // increment the output multi-index, tracking the matching input offset
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]++;
      src += strideOfOut[k];
      if (idx[k] < outShape[k]) break;
      src -= strideOfOut[k] * outShape[k];
      idx[k] = 0;
    }
  }
  return out;
}
