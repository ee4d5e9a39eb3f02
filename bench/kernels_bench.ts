import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/core/backend';
import { nativeKernels, nativeStatus, resetNativeForTests } from '../src/kernels/native';
import { baseKernel } from '../src/kernels/wasm/originals';
import { KernelTimer, printKernelShares, type KernelShare } from './kernel_timer';

/**
 * Micro-benchmark of the heavy training kernels on wasm (1 thread) at MobileNetV2 shapes for
 * 64x64 inputs, batch 32. Each entry: best-of-N milliseconds and GFLOP/s (2 x multiply-adds).
 */

interface KernelCase {
  name: string;
  kernel: string;
  /** Builds the inputs (fresh tensors) and attrs. */
  inputs: () => Record<string, tf.Tensor>;
  attrs: Record<string, unknown>;
  macs: number;
  /** Call the shipped wasm kernel instead of ours (for comparison). */
  shipped?: boolean;
  reps?: number;
}

export interface KernelTiming {
  kernel: string;
  ms: number;
  gflops: number;
  shapes: string;
}

const B = 32;

function convCases(): KernelCase[] {
  const cases: KernelCase[] = [];
  const conv = (tag: string, h: number, ci: number, co: number, k: number, s: number, grads: Array<'input' | 'filter'>) => {
    const oh = Math.ceil(h / s);
    const macs = B * oh * oh * k * k * ci * co;
    const x = () => tf.randomNormal([B, h, h, ci]);
    const w = () => tf.randomNormal([k, k, ci, co]);
    const dy = () => tf.randomNormal([B, oh, oh, co]);
    const common = { strides: [s, s], pad: 'same', dataFormat: 'NHWC' };
    cases.push({ name: `conv${k}x${k} ${tag} fwd`, kernel: 'Conv2D', inputs: () => ({ x: x(), filter: w() }), attrs: { ...common, dilations: [1, 1] }, macs });
    if (grads.includes('input')) {
      cases.push({ name: `conv${k}x${k} ${tag} backprop input`, kernel: 'Conv2DBackpropInput', inputs: () => ({ dy: dy(), filter: w() }), attrs: { ...common, inputShape: [B, h, h, ci] }, macs });
    }
    if (grads.includes('filter')) {
      cases.push({ name: `conv${k}x${k} ${tag} backprop filter`, kernel: 'Conv2DBackpropFilter', inputs: () => ({ x: x(), dy: dy() }), attrs: { ...common, filterShape: [k, k, ci, co] }, macs });
    }
  };
  conv('stem 64x64 3->32 s2', 64, 3, 32, 3, 2, ['filter']);
  conv('expand 16x16 24->144', 16, 24, 144, 1, 1, ['input', 'filter']);
  conv('project 16x16 144->24', 16, 144, 24, 1, 1, ['input', 'filter']);
  conv('3x3 16x16 64->64', 16, 64, 64, 3, 1, ['input', 'filter']);
  const dw = (tag: string, h: number, c: number, s: number) => {
    const oh = Math.ceil(h / s);
    const macs = B * oh * oh * 9 * c;
    const x = () => tf.randomNormal([B, h, h, c]);
    const w = () => tf.randomNormal([3, 3, c, 1]);
    const dy = () => tf.randomNormal([B, oh, oh, c]);
    const common = { strides: [s, s], pad: 'same', dilations: [1, 1] };
    cases.push({ name: `dw3x3 ${tag} fwd`, kernel: 'DepthwiseConv2dNative', inputs: () => ({ x: x(), filter: w() }), attrs: common, macs });
    cases.push({ name: `dw3x3 ${tag} backprop input`, kernel: 'DepthwiseConv2dNativeBackpropInput', inputs: () => ({ dy: dy(), filter: w() }), attrs: { ...common, inputShape: [B, h, h, c] }, macs });
    cases.push({ name: `dw3x3 ${tag} backprop filter`, kernel: 'DepthwiseConv2dNativeBackpropFilter', inputs: () => ({ x: x(), dy: dy() }), attrs: { ...common, filterShape: [3, 3, c, 1] }, macs });
  };
  dw('32x32x96 s2', 32, 96, 2);
  dw('32x32x32 s1', 32, 32, 1);
  dw('16x16x144 s1', 16, 144, 1);
  // The shipped scalar-loop kernels we replace, for comparison (one repetition: they are slow).
  cases.push({
    name: 'conv1x1 expand 16x16 24->144 backprop input (shipped)',
    kernel: 'Conv2DBackpropInput',
    inputs: () => ({ dy: tf.randomNormal([B, 16, 16, 144]), filter: tf.randomNormal([1, 1, 24, 144]) }),
    attrs: { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', inputShape: [B, 16, 16, 24] },
    macs: B * 16 * 16 * 24 * 144,
    shipped: true,
    reps: 1,
  });
  return cases;
}

function reductionCases(): KernelCase[] {
  const shape = [B, 32, 32, 96];
  const make = (shipped: boolean): KernelCase => ({
    name: `sum over N,H,W of ${shape.join('x')}${shipped ? ' (shipped)' : ''}`,
    kernel: 'Sum',
    inputs: () => ({ x: tf.randomNormal(shape) }),
    attrs: { axis: [0, 1, 2], keepDims: false },
    macs: tf.util.sizeFromShape(shape) / 2, // one add per element
    shipped,
    reps: shipped ? 2 : undefined,
  });
  return [make(false), make(true)];
}

function timeCase(c: KernelCase): KernelTiming {
  const inputs = c.inputs();
  const backend = tf.backend();
  const run = (): void => {
    if (c.shipped) {
      const infos = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, { dataId: t.dataId, shape: t.shape, dtype: t.dtype }]));
      const out = baseKernel(c.kernel).kernelFunc({ inputs: infos, backend, attrs: c.attrs as tf.NamedAttrMap }) as tf.TensorInfo;
      backend.disposeData(out.dataId);
    } else {
      (tf.engine().runKernel(c.kernel, inputs as tf.NamedTensorMap, c.attrs as tf.NamedAttrMap) as tf.Tensor).dispose();
    }
  };
  run(); // warm-up: operator creation, heap growth
  let best = Infinity;
  const reps = c.reps ?? 5;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    best = Math.min(best, performance.now() - t0);
  }
  const shapes = Object.entries(inputs)
    .map(([k, t]) => `${k}[${t.shape.join(',')}]`)
    .join(' ');
  for (const t of Object.values(inputs)) t.dispose();
  return { kernel: c.kernel, ms: Number(best.toFixed(2)), gflops: Number(((2 * c.macs) / best / 1e6).toFixed(2)), shapes };
}

/**
 * Times the kernels on wasm, once with the XNNPACK compositions and, when the optional native
 * addon is built, once with it; restores the previously active backend afterwards.
 */
export async function runKernelBench(): Promise<Record<string, unknown>> {
  const previous = tf.getBackend();
  await selectBackend('wasm');
  const saved = process.env.SSLIGHT_NATIVE;
  const modes: Record<string, Record<string, KernelTiming>> = {};
  try {
    const available = nativeKernels() !== null;
    for (const mode of available ? ['xnnpack', 'native'] : ['xnnpack']) {
      process.env.SSLIGHT_NATIVE = mode === 'native' ? '1' : '0';
      resetNativeForTests();
      const results: Record<string, KernelTiming> = {};
      for (const c of [...convCases(), ...reductionCases()]) {
        if (c.shipped && mode === 'native') continue;
        results[c.name] = timeCase(c);
      }
      modes[mode] = results;
    }
  } finally {
    if (saved === undefined) delete process.env.SSLIGHT_NATIVE;
    else process.env.SSLIGHT_NATIVE = saved;
    resetNativeForTests();
    if (previous && previous !== 'wasm') await tf.setBackend(previous);
  }
  const winograd = await runWinogradBench();
  return { backend: 'wasm', threads: 1, native_gemm: nativeStatus().detail, batch: B, input: '64x64 MobileNetV2 shapes', modes, winograd };
}

export interface WinogradTiming {
  shape: string;
  kernel: string;
  im2col_ms: number;
  winograd_ms: number;
  speedup: number;
}

/**
 * 3x3 stride-1 "same" convolutions and their gradients at detector and CIFAR ResNet shapes, on
 * the native addon (`threads`, default 1): im2col + sgemm against Winograd F(2x2, 3x3), best of `reps`,
 * alternating the two so that a busy machine slows both alike. Empty without the addon.
 */
export async function runWinogradBench(reps = 5, threads = 1): Promise<WinogradTiming[]> {
  await selectBackend('wasm');
  const native = nativeKernels();
  if (!native?.setWinograd) return [];
  const shapes: Array<[string, number, number, number, number, number]> = [
    // [tag, N, H, W, Ci, Co]
    ['ResNet-18 C2, coco-mini batch 2', 2, 80, 120, 64, 64],
    ['ResNet-18 C3', 2, 40, 60, 128, 128],
    ['ResNet-18 C4', 2, 20, 30, 256, 256],
    ['ResNet-18 C5', 2, 10, 15, 512, 512],
    ['FPN / RPN P2, 128 channels', 2, 80, 120, 128, 128],
    ['FPN / RPN P4', 2, 20, 30, 128, 128],
    ['mask head, 64 RoIs of 14x14', 64, 14, 14, 128, 128],
    ['CIFAR ResNet-18 layer1, batch 32', 32, 32, 32, 64, 64],
    ['CIFAR ResNet-18 layer4, batch 32', 32, 4, 4, 512, 512],
  ];
  const out: WinogradTiming[] = [];
  native.setThreads(threads);
  try {
    for (const [tag, n, h, w, ci, co] of shapes) {
      const x = tf.randomNormal([n, h, w, ci]);
      const f = tf.randomNormal([3, 3, ci, co]);
      const dy = tf.randomNormal([n, h, w, co]);
      const common = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1] };
      const kernels: Array<[string, Record<string, tf.Tensor>, Record<string, unknown>]> = [
        ['Conv2D', { x, filter: f }, common],
        ['Conv2DBackpropInput', { dy, filter: f }, { ...common, inputShape: [n, h, w, ci] }],
        ['Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: [3, 3, ci, co] }],
      ];
      for (const [kernel, inputs, attrs] of kernels) {
        const best = [Infinity, Infinity];
        for (let r = 0; r <= reps; r++) {
          for (const wino of [0, 1]) {
            native.setWinograd(wino === 1 ? 2 : 0);
            const t0 = performance.now();
            (tf.engine().runKernel(kernel, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor).dispose();
            if (r > 0) best[wino] = Math.min(best[wino], performance.now() - t0);
          }
        }
        out.push({
          shape: `${tag}: [${n},${h},${w},${ci}] -> ${co}`,
          kernel,
          im2col_ms: Number(best[0].toFixed(2)),
          winograd_ms: Number(best[1].toFixed(2)),
          speedup: Number((best[0] / best[1]).toFixed(2)),
        });
      }
      tf.dispose([x, f, dy]);
    }
  } finally {
    resetNativeForTests(); // the addon's defaults (threads, Winograd policy) again
  }
  return out;
}

export interface StepProfile {
  arch: string;
  native: string;
  step_ms: number[];
  /** Per top-level kernel: ms per step, share of the whole step, calls per step (largest first). */
  kernels: KernelShare[];
  kernel_share: number;
  kernel_calls_per_step: number;
}

/**
 * Where the time of the issue-4 DINO step goes: runs the benchmark config through the real
 * trainer on wasm (`arch`: mobilenetv2 or resnet18), wrapping every registered wasm kernel so the
 * top-level ones (nested kernels count in their caller) are timed, for `steps` steps after one
 * warm-up. Shares are of the whole step as the trainer measures it (data loading included).
 */
export async function profileDinoStep(arch: string, steps = 3): Promise<StepProfile> {
  const path = await import('path');
  const { loadConfig } = await import('../src/core/config');
  const { ofType } = await import('../src/core/events');
  const { Tokens } = await import('../src/core/tokens');
  const { buildRunContainer, createTrainer } = await import('../src/run/compose');
  await import('../src/run/builtins');
  await selectBackend('wasm');
  const sets = arch === 'resnet18' ? ['backbone={name: resnet18}'] : [];
  const file = path.resolve(__dirname, '..', '..', 'configs', 'bench', 'dino_mobilenetv2_64.yaml');
  const config = loadConfig(file, [...sets, 'callbacks.progress=false', 'callbacks.jsonl=false', 'callbacks.checkpoint=false']);
  const c = buildRunContainer(config, { runDir: null, backendName: 'wasm', maxSteps: steps + 1 });
  const trainer = createTrainer(c);
  const timer = new KernelTimer('wasm');
  const stepMs: number[] = [];
  const events = c.resolve<import('../src/core/events').EventBus>(Tokens.Events);
  events.events$.pipe(ofType('step:start')).subscribe(() => (timer.measuring = stepMs.length >= 1));
  events.events$.pipe(ofType('step:end')).subscribe((e) => {
    stepMs.push(e.step_ms);
    timer.measuring = false;
  });
  try {
    await trainer.run();
  } finally {
    timer.restore();
  }
  const measured = stepMs.slice(1);
  const total = measured.reduce((a, b) => a + b, 0);
  const n = measured.length;
  const kernels = timer.report(n, total);
  return {
    arch,
    native: nativeStatus().detail,
    step_ms: stepMs,
    kernels,
    kernel_share: kernels.reduce((a, k) => a + k.share, 0),
    kernel_calls_per_step: kernels.reduce((a, k) => a + k.calls, 0),
  };
}

if (require.main === module) {
  const [mode, arch = 'mobilenetv2', steps = '3'] = process.argv.slice(2);
  if (mode === 'winograd') {
    // node dist/bench/kernels_bench.js winograd [threads]
    runWinogradBench(5, Number(process.argv[3] ?? 1)).then((rows) => {
      for (const r of rows) console.log(`${r.shape.padEnd(62)} ${r.kernel.padEnd(22)} ${String(r.im2col_ms).padStart(8)} ${String(r.winograd_ms).padStart(8)} ms  x${r.speedup}`);
    });
  } else if (mode === 'profile') {
    // node dist/bench/kernels_bench.js profile <mobilenetv2|resnet18> [steps]  (SSLIGHT_NATIVE=0: wasm only)
    profileDinoStep(arch, Number(steps)).then((r) => {
      console.log(`${r.arch}, ${r.native}; steps ${r.step_ms.map((x) => x.toFixed(0)).join(', ')} ms`);
      printKernelShares(r.kernels);
    });
  } else {
    runKernelBench().then((r) => console.log(JSON.stringify(r, null, 2)));
  }
}
