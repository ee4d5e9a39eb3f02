import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import { probeBackends, selectBackend } from '../src/core/backend';
import { VIT_STEP_SETS, benchLinearProbeStep, benchPretrainStep, type StepBenchResult } from './train_bench';

export interface BenchOptions {
  quick?: boolean;
  only?: string[];
  out?: string;
  /** Backends to measure (default: every one that loads, except plain cpu, ~1000x slower). */
  backends?: string[];
}

const ROOT = path.resolve(__dirname, '..', '..');
const STEP_CONFIG = path.join(ROOT, 'configs', 'bench', 'dino_mobilenetv2_64.yaml');

/**
 * The training steps issue 4 asks for, as config overrides of the benchmark config, and the
 * linear-probe step (`probe`: backbone plugin, batch; 64x64 images). `torchArgs` are extra
 * arguments of bench/reference/dino_step_torch.py for the matching PyTorch step.
 */
const STEP_CASES: { name: string; sets: string[]; torchArch?: string; torchArgs?: string[]; probe?: { backbone: string; batch: number } }[] = [
  // The lighter cases run first: the wasm heap grows and never shrinks, and the memory budget is
  // checked against its size, so a case after a heavier one inherits that heap (and its peak).
  // Batch 256 (DINO's linear eval uses 1024 over 8 GPUs); the probe runs the backbone 64 images at a time.
  {
    name: 'linear_probe_mobilenetv2_64_b256',
    sets: [],
    probe: { backbone: 'mobilenetv2', batch: 256 },
    torchArch: 'mobilenetv2',
    torchArgs: ['--mode', 'linear_probe', '--batch', '256', '--size', '64'],
  },
  { name: 'dino_vit_tiny16_32', sets: VIT_STEP_SETS, torchArch: 'vit_tiny' },
  { name: 'dino_mobilenetv2_64', sets: [], torchArch: 'mobilenetv2' },
  // `backbone={...}` replaces the section: `backbone.width=null` left a key resnet18's strict schema rejects.
  { name: 'dino_resnet18_64', sets: ['backbone={name: resnet18}'], torchArch: 'resnet18' },
];

function wanted(opts: BenchOptions, part: string): boolean {
  return !opts.only || opts.only.some((o) => part.startsWith(o));
}

/** Runs the PyTorch reference in the same invocation when /usr/bin/python3 has torch. */
function torchReference(arch: string, quick: boolean, extra: string[] = []): Record<string, unknown> | null {
  const py = '/usr/bin/python3';
  if (!fs.existsSync(py)) return null;
  try {
    execFileSync(py, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const script = path.join(ROOT, 'bench', 'reference', 'dino_step_torch.py');
  const out = execFileSync(py, [script, '--arch', arch, '--steps', quick ? '2' : '5', '--threads', '2', ...extra], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  return JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
}

export async function runBench(opts: BenchOptions = {}): Promise<Record<string, unknown>> {
  const quick = !!opts.quick;
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: require('os').cpus().length,
    quick,
  };
  const probes = await probeBackends();
  result.backends = probes;
  const backends = opts.backends ?? probes.filter((p) => p.available && p.name !== 'cpu').map((p) => p.name);
  // Say why a backend that loads was not measured (plain cpu trains ~1000x slower than wasm:
  // one DINO step takes minutes); `--backends cpu` measures it anyway.
  result.skipped_backends = probes
    .filter((p) => p.available && !backends.includes(p.name))
    .map((p) => ({ name: p.name, reason: 'not requested (default skips plain cpu: ~1000x slower; use --backends cpu)' }));
  for (const s of result.skipped_backends as { name: string; reason: string }[]) {
    process.stderr.write(`bench: skipping backend ${s.name}: ${s.reason}\n`);
  }

  const steps: (StepBenchResult & { torch_images_per_s?: number; ratio_to_torch?: number })[] = [];
  if (wanted(opts, 'train')) {
    for (const backend of backends) {
      await selectBackend(backend);
      for (const c of STEP_CASES) {
        process.stderr.write(`bench: ${c.name} on ${backend}...\n`);
        const o = { warmup: 1, steps: quick ? 2 : 4 };
        steps.push(c.probe ? await benchLinearProbeStep(c.probe.backbone, c.probe.batch, o) : await benchPretrainStep(c.name, STEP_CONFIG, c.sets, o));
      }
    }
    for (const c of STEP_CASES) {
      if (!c.torchArch) continue;
      const ref = torchReference(c.torchArch, quick, c.torchArgs);
      if (!ref) continue;
      for (const s of steps.filter((x) => x.name === c.name)) {
        s.torch_images_per_s = ref.images_per_s as number;
        if (s.images_per_s) s.ratio_to_torch = s.images_per_s / (ref.images_per_s as number);
      }
      result[`torch_${c.name}`] = ref;
    }
    result.train_steps = steps;
  }
  if (wanted(opts, 'kernels')) {
    await selectBackend('wasm');
    const { runKernelBench } = await import('./kernels_bench');
    result.kernels = await runKernelBench();
  }
  if (wanted(opts, 'detection')) {
    await selectBackend('wasm');
    const { runDetectionBench, printDetectionTable } = await import('./detection_bench');
    result.detection = await runDetectionBench({ quick });
    if (Array.isArray(result.detection)) printDetectionTable(result.detection);
  }
  if (wanted(opts, 'coco')) {
    const { runCocoBench } = await import('./coco_bench');
    result.coco = await runCocoBench({ quick });
  }

  const file = opts.out ?? path.join(ROOT, 'bench', 'results', `${new Date().toISOString().slice(0, 10)}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(result, null, 1));
  printTable(steps);
  if (result.coco) console.log('coco:', JSON.stringify(result.coco));
  console.log(`bench: wrote ${file}`);
  void tf;
  return result;
}

function printTable(steps: (StepBenchResult & { torch_images_per_s?: number; ratio_to_torch?: number })[]): void {
  if (!steps.length) return;
  const rows = steps.map((s) => [
    s.name,
    s.backend,
    s.images_per_s?.toFixed(1) ?? `error: ${s.error}`,
    s.torch_images_per_s?.toFixed(1) ?? '-',
    s.ratio_to_torch?.toFixed(2) ?? '-',
    s.peak_wasm_heap_mb?.toFixed(0) ?? '-',
    s.peak_rss_mb.toFixed(0),
  ]);
  const head = ['step', 'backend', 'img/s', 'torch img/s', 'ratio', 'wasm heap MB', 'rss MB'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r: string[]) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

if (require.main === module) {
  // node dist/bench/run.js [--quick] [--backends wasm,cpu] [part ...]  (parts: train, kernels, detection, coco)
  const args = process.argv.slice(2);
  const only: string[] = [];
  let backends: string[] | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--backends') backends = (args[++i] ?? '').split(',').filter(Boolean);
    else if (!args[i].startsWith('--')) only.push(args[i]);
  }
  runBench({ quick: args.includes('--quick'), only: only.length ? only : undefined, backends }).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
