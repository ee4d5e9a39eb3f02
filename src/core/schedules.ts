/**
 * Per-iteration schedules exactly as DINO's `utils.cosine_scheduler` (float64), plus the
 * per-epoch teacher-temperature schedule of DINO/SSLight.
 *
 * The array form (`cosineSchedule`) is for tests and plots; trainers use `cosineScheduleAt` /
 * `CosineSchedule.at`, which compute one value in O(1) with the same float64 arithmetic, so a
 * 200-epoch run never allocates a multi-million entry array.
 */

export interface CosineScheduleSpec {
  base: number;
  final: number;
  epochs: number;
  nIterPerEpoch: number;
  warmupEpochs?: number;
  startWarmupValue?: number;
}

function checkSpec(epochs: number, nIterPerEpoch: number, warmupEpochs: number): void {
  if (!Number.isInteger(nIterPerEpoch) || nIterPerEpoch < 1) {
    throw new RangeError(`schedule: nIterPerEpoch must be a positive integer, got ${nIterPerEpoch}`);
  }
  if (!(epochs >= 0) || !(warmupEpochs >= 0)) {
    throw new RangeError(`schedule: epochs (${epochs}) and warmupEpochs (${warmupEpochs}) must be >= 0`);
  }
  if (warmupEpochs > epochs) {
    throw new RangeError(`schedule: warmupEpochs (${warmupEpochs}) exceeds epochs (${epochs})`);
  }
}

/** numpy.linspace(a, b, m)[i]: a + i*step with step = (b-a)/(m-1), last point exactly b. */
function linspaceAt(a: number, b: number, m: number, i: number): number {
  if (m === 1) return a;
  if (i === m - 1) return b;
  return a + i * ((b - a) / (m - 1));
}

/**
 * The value of DINO's cosine schedule at global iteration `it` (0-based). Iterations past the
 * end return the last value (the schedule is indexed defensively; DINO would raise).
 */
export function cosineScheduleAt(
  it: number,
  base: number,
  final: number,
  epochs: number,
  nIterPerEpoch: number,
  warmupEpochs = 0,
  startWarmupValue = 0,
): number {
  checkSpec(epochs, nIterPerEpoch, warmupEpochs);
  const warmupIters = Math.floor(warmupEpochs * nIterPerEpoch);
  const total = Math.floor(epochs * nIterPerEpoch);
  if (total === 0) return base;
  const i = Math.min(Math.max(0, Math.floor(it)), total - 1);
  if (i < warmupIters) return linspaceAt(startWarmupValue, base, warmupIters, i);
  const n = total - warmupIters;
  const k = i - warmupIters;
  return final + 0.5 * (base - final) * (1 + Math.cos((Math.PI * k) / n));
}

/** The whole per-iteration schedule as DINO builds it (length epochs * nIterPerEpoch). */
export function cosineSchedule(
  base: number,
  final: number,
  epochs: number,
  nIterPerEpoch: number,
  warmupEpochs = 0,
  startWarmupValue = 0,
): Float64Array {
  checkSpec(epochs, nIterPerEpoch, warmupEpochs);
  const total = Math.floor(epochs * nIterPerEpoch);
  const out = new Float64Array(total);
  for (let it = 0; it < total; it++) {
    out[it] = cosineScheduleAt(it, base, final, epochs, nIterPerEpoch, warmupEpochs, startWarmupValue);
  }
  return out;
}

/** A cosine schedule bound to its parameters, for repeated per-step lookups. */
export class CosineSchedule {
  readonly warmupEpochs: number;
  readonly startWarmupValue: number;

  constructor(
    readonly base: number,
    readonly final: number,
    readonly epochs: number,
    readonly nIterPerEpoch: number,
    warmupEpochs = 0,
    startWarmupValue = 0,
  ) {
    checkSpec(epochs, nIterPerEpoch, warmupEpochs);
    this.warmupEpochs = warmupEpochs;
    this.startWarmupValue = startWarmupValue;
  }

  static from(spec: CosineScheduleSpec): CosineSchedule {
    return new CosineSchedule(
      spec.base,
      spec.final,
      spec.epochs,
      spec.nIterPerEpoch,
      spec.warmupEpochs ?? 0,
      spec.startWarmupValue ?? 0,
    );
  }

  get length(): number {
    return Math.floor(this.epochs * this.nIterPerEpoch);
  }

  at(it: number): number {
    return cosineScheduleAt(
      it,
      this.base,
      this.final,
      this.epochs,
      this.nIterPerEpoch,
      this.warmupEpochs,
      this.startWarmupValue,
    );
  }
}

/**
 * DINO's teacher temperature at an EPOCH: linear warm-up from `warmupTeacherTemp` to
 * `teacherTemp` over `warmupEpochs` epochs (numpy linspace, so the last warm-up epoch already
 * has `teacherTemp`), then constant. Epochs past `nEpochs` keep `teacherTemp`.
 */
export function teacherTempAt(
  epoch: number,
  warmupTeacherTemp: number,
  teacherTemp: number,
  warmupEpochs: number,
): number {
  const e = Math.max(0, Math.floor(epoch));
  const w = Math.max(0, Math.floor(warmupEpochs));
  if (e < w) return linspaceAt(warmupTeacherTemp, teacherTemp, w, e);
  return teacherTemp;
}

/** The per-epoch teacher-temperature array (length nEpochs), as DINOLoss builds it. */
export function teacherTempSchedule(
  warmupTeacherTemp: number,
  teacherTemp: number,
  warmupEpochs: number,
  nEpochs: number,
): Float64Array {
  if (warmupEpochs > nEpochs) {
    throw new RangeError(`teacher temperature: warm-up epochs (${warmupEpochs}) exceed epochs (${nEpochs})`);
  }
  const out = new Float64Array(nEpochs);
  for (let e = 0; e < nEpochs; e++) out[e] = teacherTempAt(e, warmupTeacherTemp, teacherTemp, warmupEpochs);
  return out;
}

/**
 * Detectron2's WarmupMultiStepLR at iteration `it` (0-based): linear warm-up of the factor from
 * `warmupFactor` to 1 over `warmupIters` (factor = warmupFactor (1 - it/warmupIters) + it/warmupIters),
 * times `gamma` for every milestone in `steps` that is <= it (bisect_right).
 */
export function warmupMultiStepAt(
  it: number,
  base: number,
  steps: readonly number[],
  gamma = 0.1,
  warmupIters = 0,
  warmupFactor = 0.001,
): number {
  const i = Math.max(0, Math.floor(it));
  let decays = 0;
  for (const s of steps) if (s <= i) decays++;
  let factor = 1;
  if (i < warmupIters) {
    const alpha = i / warmupIters;
    factor = warmupFactor * (1 - alpha) + alpha;
  }
  return base * factor * gamma ** decays;
}

/** A WarmupMultiStepLR bound to its parameters (milestones must increase). */
export class WarmupMultiStepSchedule {
  constructor(
    readonly base: number,
    readonly steps: readonly number[],
    readonly gamma = 0.1,
    readonly warmupIters = 0,
    readonly warmupFactor = 0.001,
  ) {
    for (let k = 1; k < steps.length; k++) {
      if (!(steps[k] > steps[k - 1])) throw new RangeError(`schedule: steps must increase, got [${steps.join(', ')}]`);
    }
    if (!(warmupIters >= 0) || !Number.isInteger(warmupIters)) throw new RangeError(`schedule: warmupIters must be an integer >= 0, got ${warmupIters}`);
  }

  at(it: number): number {
    return warmupMultiStepAt(it, this.base, this.steps, this.gamma, this.warmupIters, this.warmupFactor);
  }
}
