/**
 * Detection speed (issue 7, item 10): the coco-mini MobileNetV2 and ResNet-18 Mask R-CNN FPN
 * configs, a training step at batch 2 through the real trainer and inference one image at a time,
 * with a breakdown of where a step's time goes; torchvision's Mask R-CNN with the same sizes
 * (bench/reference/maskrcnn_torch.py) runs in the same invocation when /usr/bin/python3 has torch.
 */
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import '../src/run/builtins';
import { loadConfigFile } from '../src/core/config';
import { ofType, type EventBus } from '../src/core/events';
import { resolveDetectionConfig } from '../detection/engine/config';
import { buildDetectionContainer, createDetectionTrainer, DetectionTokens } from '../detection/engine/compose';
import { inferTidy } from '../detection/engine/evaluate';
import type { MaskRcnn } from '../detection/modeling/meta_arch/mask_rcnn';
import { CocoDetectionDataset } from '../detection/data/coco_dataset';
import { DetectionLoader } from '../detection/data/loader';
import { toOriginalImage } from '../detection/postprocess/results';
import { wasmHeapBytes } from './train_bench';
import { KernelTimer, printKernelShares, type KernelShare } from './kernel_timer';
import { selectBackend } from '../src/core/backend';
import { nativeStatus } from '../src/kernels/native';

const ROOT = path.resolve(__dirname, '..', '..');
const COCO_MINI = path.join(ROOT, '..', 'shared', 'datasets', 'coco-mini');

export interface DetectionBenchCase {
  name: string;
  backend: string;
  /** Median training step (batch 2, data loading included) through the trainer. */
  train_step_ms: number | null;
  train_images_per_s: number | null;
  /** Where a step's time goes (medians, ms): backbone + FPN forward, the whole loss forward, the rest (backward + update). */
  breakdown_ms: Record<string, number> | null;
  infer_ms: number | null;
  infer_images_per_s: number | null;
  /** Mask pasting + RLE of the detections into the original image (part of evaluation, not of infer_ms). */
  postprocess_ms: number | null;
  peak_wasm_heap_mb: number | null;
  torch?: Record<string, unknown>;
  train_ratio_to_torch?: number;
  infer_ratio_to_torch?: number;
  error?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function torchReference(arch: string, steps: number, width: number, fpnChannels: number): Record<string, unknown> | null {
  const py = '/usr/bin/python3';
  if (!fs.existsSync(py)) return null;
  try {
    execFileSync(py, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const script = path.join(ROOT, 'bench', 'reference', 'maskrcnn_torch.py');
  const out = execFileSync(py, [script, '--arch', arch, '--steps', String(steps), '--threads', '2', '--width', String(width), '--fpn-channels', String(fpnChannels)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
}

/** The coco-mini config of `arch`, with absolute paths and one training size (320), as the torch reference uses. */
function benchConfig(arch: 'mobilenetv2' | 'resnet18') {
  const doc = loadConfigFile(path.join(ROOT, 'configs', 'detection', `mask_rcnn_fpn_${arch}_coco_mini.yaml`));
  const data = doc.data as Record<string, unknown>;
  return resolveDetectionConfig({
    ...doc,
    data: {
      ...data,
      train: { annotations: path.join(COCO_MINI, 'annotations', 'instances_train.json'), images: path.join(COCO_MINI, 'train') },
      val: null,
      min_size_train: [320],
    },
    callbacks: {},
  });
}

async function benchCase(arch: 'mobilenetv2' | 'resnet18', o: { warmup: number; steps: number }): Promise<DetectionBenchCase> {
  const name = `maskrcnn_${arch}_coco_mini_b2`;
  const config = benchConfig(arch);
  const c = buildDetectionContainer(config, { runDir: null, backendName: tf.getBackend(), maxSteps: o.warmup + o.steps });
  const trainer = createDetectionTrainer(c);
  const model = c.resolve<MaskRcnn>(DetectionTokens.Model);
  const stepMs: number[] = [];
  c.resolve<EventBus>(DetectionTokens.Events).events$.pipe(ofType('step:end')).subscribe((e) => stepMs.push(e.step_ms));
  const result: DetectionBenchCase = {
    name,
    backend: tf.getBackend(),
    train_step_ms: null,
    train_images_per_s: null,
    breakdown_ms: null,
    infer_ms: null,
    infer_images_per_s: null,
    postprocess_ms: null,
    peak_wasm_heap_mb: null,
  };
  try {
    await trainer.run();
    const step = median(stepMs.slice(o.warmup));
    result.train_step_ms = step;
    result.train_images_per_s = 2000 / step;

    // The parts of one step, on a batch of the same loader (forward passes without the tape).
    const loader = new DetectionLoader(new CocoDetectionDataset({ annotations: config.data.train.annotations, images: config.data.train.images }), {
      mode: 'train',
      batchSize: 2,
      minSizes: [320],
      maxSize: config.data.max_size_train,
    });
    const batch = await loader.loadBatch(0, 0);
    const fwd: number[] = [];
    const losses: number[] = [];
    for (let i = 0; i < o.steps + 1; i++) {
      let t = performance.now();
      tf.tidy(() => {
        const levels = model.features(batch.images);
        levels[levels.length - 1].tensor.dataSync();
      });
      if (i > 0) fwd.push(performance.now() - t);
      t = performance.now();
      tf.tidy(() => {
        const l = model.forwardTrain(batch.images, batch.imageSizes, batch.targets);
        tf.addN(Object.values(l) as tf.Scalar[]).dataSync();
      });
      if (i > 0) losses.push(performance.now() - t);
    }
    batch.dispose();
    loader.dispose();
    const f = median(fwd);
    const l = median(losses);
    result.breakdown_ms = { backbone_fpn_forward: f, heads_forward: l - f, loss_forward_total: l, backward_update_and_data: step - l };

    // Inference, one val image at a time at the test size.
    model.eval();
    const val = new CocoDetectionDataset({ annotations: path.join(COCO_MINI, 'annotations', 'instances_val.json'), images: path.join(COCO_MINI, 'val'), filterEmpty: false });
    const vl = new DetectionLoader(val, { mode: 'test', batchSize: 1, minSizes: config.data.min_size_test, maxSize: config.data.max_size_test });
    const inf: number[] = [];
    const post: number[] = [];
    for (let k = 0; k < o.steps + 1; k++) {
      const b = await vl.loadBatch(0, k);
      const t = performance.now();
      const [det] = inferTidy(model, b.images, b.imageSizes);
      if (k > 0) inf.push(performance.now() - t);
      const t2 = performance.now();
      const rec = val.record(k);
      toOriginalImage(det, b.imageSizes[0], [rec.height, rec.width]);
      if (k > 0) post.push(performance.now() - t2);
      b.dispose();
    }
    vl.dispose();
    result.infer_ms = median(inf);
    result.infer_images_per_s = 1000 / result.infer_ms;
    result.postprocess_ms = median(post);
  } catch (e) {
    result.error = (e as Error).message;
  } finally {
    model.dispose();
    (c.resolve(DetectionTokens.Optimizer) as { dispose?: () => void }).dispose?.();
  }
  const heap = wasmHeapBytes();
  result.peak_wasm_heap_mb = heap === null ? null : heap / 2 ** 20;
  return result;
}

/** Both backbones on the active backend, then torchvision's; skipped when coco-mini is absent. */
export async function runDetectionBench(opts: { quick?: boolean } = {}): Promise<DetectionBenchCase[] | { skipped: string }> {
  if (!fs.existsSync(path.join(COCO_MINI, 'annotations', 'instances_train.json'))) return { skipped: `${COCO_MINI} not found` };
  const o = { warmup: 1, steps: opts.quick ? 2 : 7 }; // medians of 7: 3 left 50% swings in torch's numbers
  const out: DetectionBenchCase[] = [];
  for (const arch of ['mobilenetv2', 'resnet18'] as const) {
    process.stderr.write(`bench: detection ${arch} on ${tf.getBackend()}...\n`);
    const r = await benchCase(arch, o);
    const { model } = benchConfig(arch);
    const width = (model.backbone.options as { width?: number }).width ?? 1.0;
    const ref = torchReference(arch, o.steps, width, model.fpn.out_channels);
    if (ref) {
      r.torch = ref;
      if (r.train_images_per_s) r.train_ratio_to_torch = r.train_images_per_s / (ref.train_images_per_s as number);
      if (r.infer_images_per_s) r.infer_ratio_to_torch = r.infer_images_per_s / (ref.infer_images_per_s as number);
    }
    out.push(r);
  }
  return out;
}

export function printDetectionTable(rows: DetectionBenchCase[]): void {
  const head = ['detection', 'backend', 'train img/s', 'torch', 'ratio', 'infer img/s', 'torch', 'ratio', 'fwd backbone+fpn / heads / bwd+upd ms'];
  const f = (v: unknown, d = 2) => (typeof v === 'number' ? v.toFixed(d) : '-');
  const lines = rows.map((r) => [
    r.name,
    r.backend,
    r.error ? `error: ${r.error}` : f(r.train_images_per_s),
    f(r.torch?.train_images_per_s),
    f(r.train_ratio_to_torch),
    f(r.infer_images_per_s),
    f(r.torch?.infer_images_per_s),
    f(r.infer_ratio_to_torch),
    r.breakdown_ms ? `${f(r.breakdown_ms.backbone_fpn_forward, 0)} / ${f(r.breakdown_ms.heads_forward, 0)} / ${f(r.breakdown_ms.backward_update_and_data, 0)}` : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const line = (r: string[]) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ');
  console.log(line(head));
  for (const l of lines) console.log(line(l));
}

/**
 * Where the time of a coco-mini detection training step (batch 2, through the trainer) and of
 * inference (one val image) goes, per top-level kernel of the active backend, after one warm-up.
 */
export async function profileDetection(arch: 'mobilenetv2' | 'resnet18', steps = 3): Promise<{ train: KernelShare[]; trainStepMs: number[]; infer: KernelShare[]; inferMs: number[] }> {
  const config = benchConfig(arch);
  const c = buildDetectionContainer(config, { runDir: null, backendName: tf.getBackend(), maxSteps: steps + 1 });
  const trainer = createDetectionTrainer(c);
  const model = c.resolve<MaskRcnn>(DetectionTokens.Model);
  const timer = new KernelTimer(tf.getBackend());
  try {
    const stepMs: number[] = [];
    const events = c.resolve<EventBus>(DetectionTokens.Events).events$;
    events.pipe(ofType('step:start')).subscribe(() => (timer.measuring = stepMs.length >= 1));
    events.pipe(ofType('step:end')).subscribe((e) => {
      stepMs.push(e.step_ms);
      timer.measuring = false;
    });
    await trainer.run();
    const measured = stepMs.slice(1);
    const train = timer.report(measured.length, measured.reduce((a, b) => a + b, 0));

    model.eval();
    const inferTimer = new KernelTimer(tf.getBackend());
    const val = new CocoDetectionDataset({ annotations: path.join(COCO_MINI, 'annotations', 'instances_val.json'), images: path.join(COCO_MINI, 'val'), filterEmpty: false });
    const vl = new DetectionLoader(val, { mode: 'test', batchSize: 1, minSizes: config.data.min_size_test, maxSize: config.data.max_size_test });
    const inferMs: number[] = [];
    try {
      for (let k = 0; k < steps + 1; k++) {
        const b = await vl.loadBatch(0, k);
        inferTimer.measuring = k > 0;
        const t = performance.now();
        inferTidy(model, b.images, b.imageSizes);
        inferTimer.measuring = false;
        if (k > 0) inferMs.push(performance.now() - t);
        b.dispose();
      }
    } finally {
      inferTimer.restore();
      vl.dispose();
    }
    return { train, trainStepMs: stepMs, infer: inferTimer.report(inferMs.length, inferMs.reduce((a, b) => a + b, 0)), inferMs };
  } finally {
    timer.restore();
    model.dispose();
    (c.resolve(DetectionTokens.Optimizer) as { dispose?: () => void }).dispose?.();
  }
}

if (require.main === module) {
  // node dist/bench/detection_bench.js profile <mobilenetv2|resnet18> [steps]  (SSLIGHT_NATIVE=0: wasm only)
  const [mode, arch = 'mobilenetv2', steps = '3'] = process.argv.slice(2);
  if (mode !== 'profile' || (arch !== 'mobilenetv2' && arch !== 'resnet18')) {
    console.error('usage: node dist/bench/detection_bench.js profile <mobilenetv2|resnet18> [steps]');
    process.exit(2);
  }
  selectBackend('wasm')
    .then(() => profileDetection(arch, Number(steps)))
    .then((r) => {
      console.log(`${arch} training step (batch 2), ${nativeStatus().detail}; steps ${r.trainStepMs.map((x) => x.toFixed(0)).join(', ')} ms`);
      printKernelShares(r.train);
      console.log(`\n${arch} inference (1 image); ${r.inferMs.map((x) => x.toFixed(0)).join(', ')} ms`);
      printKernelShares(r.infer);
    });
}
