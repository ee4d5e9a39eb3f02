/** max |ours - ref| / max |ref|: the "relative" tolerance of feature comparisons with PyTorch. */
export function relativeError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) throw new Error(`relativeError: ${ours.length} values vs ${ref.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(ours[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  return d / m;
}
