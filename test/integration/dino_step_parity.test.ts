/**
 * End-to-end parity of SSLight-DINO training steps with PyTorch: MobileNetV2 (torchvision names)
 * + DINO head with BN, multi-crop grouped by resolution, eq. 3 / eq. 2, weight norm and L2
 * normalisation in the backward pass, LARS (paper rule) / AdamW with their exclusions, gradient
 * clipping, frozen last layer, EMA teacher, centering, schedules, and the PyTorch-layout
 * checkpoint. Three steps through the real Trainer, compared with
 * `test/fixtures/dino_step/reference.json` (made by `make_reference.py` from the same seeded
 * inputs, see `dino_step_case.ts`): the losses, the center after each step, lr / wd / teacher
 * momentum / teacher temperature per step, and for every state-dict entry of student and teacher
 * (parameters and BN buffers, by PyTorch name) the sum, norm and a cos(i)-probe of its change,
 * plus the head's last layer in full. SSLIGHT_PARITY_VERBOSE=1 prints the closest calls.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { selectBackend } from '../../src/core/backend';
import type { SafeTensor } from '../../src/nn/safetensors';
import { repoRoot } from '../helpers/reference';
import { inMode, kernelModes } from '../kernels/wasm/compare';
import { CASES, STEPS, buildCase, readModel, summarize, type StepCase } from './dino_step_case';

const FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'dino_step', 'reference.json');

interface CaseRef {
  losses: number[];
  centers: number[][];
  schedule: Array<{ lr: number; wd: number; momentum: number; teacher_temp: number }>;
  init: { fingerprint: number[] };
  /** Per entry: [sum, norm, probe] of the change, then PyTorch's float32 noise of each. */
  summaries: Record<string, number[]>;
  full: Record<string, number[]>;
  noise: { losses: number[]; centers: number[]; full: Record<string, number> };
}

interface Reference {
  cases: Record<string, CaseRef>;
}

/**
 * Tolerances. Both sides compute in float32 with different summation orders, and the randomly
 * initialised BN network amplifies rounding: `noise` (stored per compared number in the fixture) is
 * the largest difference between PyTorch's float32 run and the same run in float64 or from initial
 * weights perturbed by one ulp. Every check allows
 *   rtol * |reference| + NOISE * noise + a float32 rounding floor,
 * so a quantity that float32 resolves well is held to rtol, and one that is pure rounding noise in
 * exact arithmetic (the gradient of a BN shift followed by another BN is exactly zero) only to
 * its noise level.
 */
const TOL = {
  loss: 1e-4,
  center: { rtol: 1e-4, atol: 1e-6 },
  schedule: 1e-6,
  /** Relative tolerance on the change of each tensor over the 3 steps (its sum, norm, probe). */
  delta: 1e-2,
  /** Multiple of PyTorch's float32 noise allowed on top. */
  noise: 10,
  /**
   * Rounding floor per element, relative to the value: values are rounded at every update (an
   * EMA with m and 1 - m rounded to float32 shrinks the teacher by ~2e-8 per step, systematically).
   */
  ulp: 3e-7,
  /**
   * Absolute floor per element of BN running means. The mean of a BN's input is exactly zero when
   * the layer before is a bias-free 1x1 conv of a BN output; in float32 it is summation noise that
   * grows with the reduction size (xnnpack's sums: ~1e-7), unrelated to PyTorch's.
   */
  meanAtol: 2e-7,
};

/** sum / sum-of-squares / probe fingerprint of a whole state (catches changed inputs). */
function fingerprint(state: Map<string, SafeTensor>): number[] {
  let sum = 0;
  let sumsq = 0;
  let probe = 0;
  for (const name of [...state.keys()].sort()) {
    const d = state.get(name)!.data as ArrayLike<number | bigint>;
    for (let k = 0; k < d.length; k++) {
      const v = Number(d[k]);
      sum += v;
      sumsq += v * v;
      probe += v * Math.cos(k);
    }
  }
  return [sum, sumsq, probe];
}

function close(a: number, e: number, tol: number): boolean {
  return Math.abs(a - e) <= tol;
}

/**
 * Compare every state-dict entry's change. Returns the failures (all of them, so one run shows the
 * whole picture) and the worst error / tolerance ratios.
 */
function compareSummaries(
  ours: Record<string, number[]>,
  ref: Record<string, number[]>,
  final: Map<string, SafeTensor>,
): { bad: string[]; worst: Array<[number, string]> } {
  const bad: string[] = [];
  const worst: Array<[number, string]> = [];
  const oursNames = Object.keys(ours).sort();
  const refNames = Object.keys(ref).sort();
  const missing = refNames.filter((n) => !(n in ours));
  const extra = oursNames.filter((n) => !(n in ref));
  if (missing.length) bad.push(`missing from our checkpoint: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}`);
  if (extra.length) bad.push(`not in PyTorch's state dict: ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', ...' : ''}`);
  for (const name of refNames) {
    const o = ours[name];
    if (!o) continue;
    const data = final.get(name)!.data as ArrayLike<number | bigint>;
    const n = data.length;
    if (name.endsWith('num_batches_tracked')) {
      if (o[0] !== ref[name][0]) bad.push(`${name}: changed by ${o[0]}, in torch by ${ref[name][0]}`);
      continue;
    }
    let vnorm = 0;
    for (let k = 0; k < n; k++) vnorm += Number(data[k]) ** 2;
    vnorm = Math.sqrt(vnorm);
    const [dsum, dnorm, dprobe, nsum, nnorm, nprobe] = ref[name];
    // One noise scale per tensor: a single float32-vs-float64 sample can be small by chance in
    // one of the three numbers.
    const noise = TOL.noise * Math.max(nsum, nnorm, nprobe);
    const floor = TOL.ulp * vnorm + (name.endsWith('.running_mean') ? TOL.meanAtol : 0) + 1e-12;
    const sq = Math.sqrt(n);
    const ratios: Array<[string, number]> = [
      ['change.sum', Math.abs(o[0] - dsum) / (TOL.delta * dnorm * sq + noise + floor * sq)],
      ['change.norm', Math.abs(o[1] - dnorm) / (TOL.delta * dnorm + noise + floor)],
      ['change.probe', Math.abs(o[2] - dprobe) / (TOL.delta * dnorm * sq + noise + floor * sq)],
    ];
    for (const [what, r] of ratios) worst.push([r, `${name} ${what}`]);
    const failed = ratios.filter(([, r]) => !(r <= 1)).map(([what, r]) => `${what} (${r.toFixed(1)}x tol)`);
    if (failed.length) {
      bad.push(
        `${name}: ${failed.join(', ')}: change [sum, norm, probe] ours [${o.map((v) => v.toPrecision(6)).join(', ')}] vs torch ` +
          `[${ref[name].slice(0, 3).map((v) => v.toPrecision(6)).join(', ')}], torch float32 noise [${ref[name].slice(3)}]`,
      );
    }
  }
  worst.sort((a, b) => b[0] - a[0]);
  return { bad, worst: worst.slice(0, 6) };
}

async function runCase(c: StepCase, ref: CaseRef): Promise<void> {
  const b = buildCase(c);
  try {
    const initDir = await b.trainer.saveCheckpoint('init');
    const init = readModel(initDir!);
    const fp = fingerprint(init);
    ref.init.fingerprint.forEach((e, i) => {
      if (!close(fp[i], e, 1e-9 * Math.max(1, Math.abs(e)) + 1e-6)) {
        throw new Error(
          `the initial state differs from the one the fixture was made from (fingerprint [${fp}] vs [${ref.init.fingerprint}]): ` +
            `the model's initialisation or the case changed; regenerate with test/fixtures/dino_step/make_reference.py`,
        );
      }
    });
    const result = await b.trainer.run();
    expect(result.step).to.equal(STEPS);
    const finalDir = await b.trainer.saveCheckpoint('final');
    const final = readModel(finalDir!);

    // Schedules as the step:end events report them (lr and wd of the step, teacher momentum used
    // after it, teacher temperature of its epoch).
    expect(b.stepMetrics).to.have.length(STEPS);
    b.stepMetrics.forEach((m, i) => {
      for (const key of ['lr', 'wd', 'momentum', 'teacher_temp'] as const) {
        const e = ref.schedule[i][key];
        expect(close(m[key], e, TOL.schedule * Math.abs(e) + 1e-12), `step ${i + 1} ${key}: ours ${m[key]}, torch ${e}`).to.equal(true);
      }
    });

    const { bad, worst } = compareSummaries(summarize(init, final), ref.summaries, final);
    if (process.env.SSLIGHT_PARITY_VERBOSE) {
      console.log(`    losses ours [${result.losses.join(', ')}] torch [${ref.losses.join(', ')}]`);
      console.log(`    worst error/tolerance: ${worst.map(([r, w]) => `${w} ${r.toFixed(3)}`).join('; ')}`);
    }
    const lossOk = result.losses.map((l, i) => Math.abs(l - ref.losses[i]) <= TOL.loss * Math.abs(ref.losses[i]) + TOL.noise * ref.noise.losses[i]);
    expect(
      lossOk.every((ok) => ok),
      `losses: ours [${result.losses.join(', ')}], torch [${ref.losses.join(', ')}]`,
    ).to.equal(true);

    expect(b.centers).to.have.length(STEPS);
    b.centers.forEach((cen, i) => {
      cen.forEach((v, k) => {
        const e = ref.centers[i][k];
        if (!close(v, e, TOL.center.atol + TOL.center.rtol * Math.abs(e) + TOL.noise * ref.noise.centers[i])) {
          throw new Error(`center after step ${i + 1} [${k}]: ours ${v}, torch ${e}`);
        }
      });
    });

    expect(bad, `state dict after ${STEPS} steps:\n  ${bad.join('\n  ')}`).to.deep.equal([]);

    // A few tensors in full (the head's last layer: weight norm + L2-normalised input).
    for (const [name, expected] of Object.entries(ref.full)) {
      const got = Array.from(final.get(name)!.data as Float32Array);
      const start = Array.from(init.get(name)!.data as Float32Array);
      let dmax = 0;
      for (let k = 0; k < expected.length; k++) dmax = Math.max(dmax, Math.abs(expected[k] - start[k]));
      got.forEach((v, k) => {
        const e = expected[k];
        if (!close(v, e, TOL.delta * dmax + TOL.noise * ref.noise.full[name] + TOL.ulp * (Math.abs(e) + 1e-3))) {
          throw new Error(`${name}[${k}]: ours ${v}, torch ${e} (initial ${start[k]}, largest change ${dmax})`);
        }
      });
    }
  } finally {
    b.dispose();
  }
}

describe('integration: a DINO training step matches PyTorch', function () {
  this.timeout(120000);
  const ref: Reference | null = fs.existsSync(FIXTURE) ? (JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Reference) : null;

  before(function () {
    if (!ref) this.skip();
  });

  after(async () => {
    await tf.setBackend('cpu');
  });

  // wasm in every kernel mode this machine has (XNNPACK compositions; native addon when built):
  // ~1-2 s per case. The pure-JS cpu backend gives the same results but takes ~40 s per case, so
  // it runs only with SSLIGHT_PARITY_CPU=1.
  for (const mode of kernelModes()) {
    for (const c of CASES) {
      it(`${c.name}: 3 steps on wasm [${mode}] (losses, centers, schedules, every student/teacher tensor)`, async () => {
        await inMode(mode, async () => {
          await selectBackend('wasm');
          try {
            await runCase(c, ref!.cases[c.name]);
          } finally {
            await tf.setBackend('cpu');
          }
        });
      });
    }
  }

  if (process.env.SSLIGHT_PARITY_CPU === '1') {
    for (const c of CASES) {
      it(`${c.name}: 3 steps on cpu`, async () => {
        await tf.setBackend('cpu');
        await runCase(c, ref!.cases[c.name]);
      });
    }
  }
});
