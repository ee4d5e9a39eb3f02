/**
 * detection/ops timings next to torchvision's on identical inputs (bench/reference/
 * detection_ops_torch.py, 1 thread): pairwise IoU + matching of 20 boxes x 100k anchors, NMS of
 * 2000 boxes, RoIAlign (ROIAlignV2, 7x7, 512 RoIs on a 2 x 80 x 107 x 256 map) and the FPN pooler
 * (P2-P5, 1024 RoIs, adaptive sampling, unaligned as torchvision's MultiScaleRoIAlign) forward and
 * backward through tfjs on the wasm backend. Process CPU time (the machine is shared), median of
 * 5 after a warm-up. Usage: node dist/bench/detection_ops_bench.js [--torch]
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { Matcher, MultiScaleRoIAlign, nms, pairwiseIou, roiAlign } from '../detection/ops';
import { ensureGradients } from '../src/nn/gradients';

/** The same LCG as the torch script, so both see the same boxes. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function randomBoxes(n: number, seed: number, span: number, minSide: number, maxSide: number): Float32Array {
  const u = lcg(seed);
  const out = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const x = u() * span;
    const y = u() * span;
    out.set([x, y, x + minSide + u() * (maxSide - minSide), y + minSide + u() * (maxSide - minSide)], 4 * i);
  }
  return out;
}

function cpuMs(f: () => void): number {
  f(); // warm-up
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = process.cpuUsage();
    f();
    const d = process.cpuUsage(t);
    times.push((d.user + d.system) / 1000);
  }
  return times.sort((a, b) => a - b)[2];
}

async function main(): Promise<void> {
  await ensureGradients();
  await tf.setBackend('wasm');
  const rows: Array<[string, number]> = [];
  const anchors = randomBoxes(100000, 1, 800, 16, 300);
  const gt = randomBoxes(20, 2, 700, 30, 230);
  rows.push(['pairwise_iou_20x100k', cpuMs(() => pairwiseIou(gt, anchors))]);
  const iou = pairwiseIou(gt, anchors);
  const matcher = new Matcher([0.3, 0.7], [0, -1, 1], true);
  rows.push(['matcher_20x100k', cpuMs(() => matcher.match(iou, 20, 100000))]);
  const boxes = randomBoxes(2000, 3, 400, 10, 120);
  const scores = Float32Array.from({ length: 2000 }, lcg(4));
  rows.push(['nms_2000_0.7', cpuMs(() => nms(boxes, scores, 0.7))]);
  const shape: [number, number, number, number] = [2, 80, 107, 256];
  // A multiplicative hash of the index (vectorised on the torch side).
  const features = tf.tensor4d(Float32Array.from({ length: 2 * 80 * 107 * 256 }, (_, i) => (Math.imul(i, 2654435761) >>> 0) / 4294967296), shape);
  const rb = randomBoxes(512, 6, 300, 8, 200);
  const rois = tf.tensor2d(Array.from({ length: 512 }, (_, k) => [k % 2, ...rb.subarray(4 * k, 4 * k + 4)]).flat(), [512, 5]);
  const o = { outputSize: [7, 7] as [number, number], spatialScale: 0.25, samplingRatio: 0, aligned: true };
  const upstream = tf.ones([512, 7, 7, 256]);
  // Never return a typed array from tf.tidy: it walks every element looking for tensors.
  const timed = (f: () => tf.Tensor) => () => {
    const t = f();
    t.dataSync();
    t.dispose();
  };
  rows.push(['roi_align_fwd_512x7x7x256', cpuMs(timed(() => roiAlign(features, rois, o)))]);
  const grad = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(roiAlign(f as tf.Tensor4D, rois, o), upstream)));
  rows.push(['roi_align_fwd_bwd_512x7x7x256', cpuMs(timed(() => grad(features)))]);
  tf.dispose([features, rois, upstream]);
  // The detector's case: an FPN pooler over P2-P5 of a 320 x 428 image, each RoI on its level.
  const sizes: Array<[number, number]> = [[80, 107], [40, 54], [20, 27], [10, 14]];
  const levels = sizes.map(([h, w], l) =>
    tf.tensor4d(Float32Array.from({ length: 2 * h * w * 256 }, (_, i) => (Math.imul(i + l, 2654435761) >>> 0) / 4294967296), [2, h, w, 256]),
  );
  const fb = randomBoxes(1024, 7, 300, 16, 320);
  const fpnRois = tf.tensor2d(Array.from({ length: 1024 }, (_, k) => [k % 2, ...fb.subarray(4 * k, 4 * k + 4)]).flat(), [1024, 5]);
  const pooler = new MultiScaleRoIAlign({ outputSize: [7, 7], samplingRatio: 0, aligned: false, scales: [1 / 4, 1 / 8, 1 / 16, 1 / 32] });
  const up2 = tf.ones([1024, 7, 7, 256]);
  rows.push(['fpn_pooler_fwd_1024x7x7x256', cpuMs(timed(() => pooler.apply(levels, fpnRois)))]);
  const fpnGrad = tf.grads((...fs: tf.Tensor[]) => tf.sum(tf.mul(pooler.apply(fs as tf.Tensor4D[], fpnRois), up2)));
  rows.push(['fpn_pooler_fwd_bwd_1024x7x7x256', cpuMs(timed(() => tf.addN(fpnGrad(levels).map((g) => tf.sum(g)))))]);
  tf.dispose([...levels, fpnRois, up2]);
  let torch: Record<string, number> = {};
  if (process.argv.includes('--torch')) {
    const script = path.resolve(__dirname, '..', '..', 'bench', 'reference', 'detection_ops_torch.py');
    torch = JSON.parse(execFileSync('/usr/bin/python3', [script], { encoding: 'utf8' })) as Record<string, number>;
  }
  console.log('case | sslight ms (cpu) | torchvision ms (cpu, 1 thread)');
  for (const [name, ms] of rows) console.log(`${name} | ${ms.toFixed(1)} | ${torch[name]?.toFixed(1) ?? '-'}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
