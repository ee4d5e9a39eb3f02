import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { CommandModule } from 'yargs';
import { selectBackend } from '../core/backend';
import { ConfigError } from '../core/errors';
import { atomicWrite } from '../core/checkpoint';
import { parseSafetensors, serializeSafetensors } from '../nn/safetensors';
import type { Module } from '../nn/module';
import { loadPlugins } from './common';
import { applyWeightsFlags, backboneFromFlags, weightsOptions, type WeightsArgs } from './weights_flags';

interface EmbedArgs extends WeightsArgs {
  backbone: string;
  set?: string[];
  input: string;
  output: string;
  'batch-size': number;
  backend?: string;
  plugin?: string[];
}

/**
 * `sslight embed`: pooled backbone features (eval mode) of images given in PyTorch's layout,
 * so the same weights can be checked against PyTorch outside any dataset.
 */
export const embedCommand: CommandModule<object, EmbedArgs> = {
  command: 'embed',
  describe: 'features of images (safetensors `images` [N, 3, H, W]) from a backbone with given weights',
  builder: (y) =>
    weightsOptions(y)
      .option('backbone', { type: 'string', demandOption: true, describe: 'backbone plugin name (sslight info --backbones)' })
      .option('set', { type: 'string', array: true, describe: 'backbone option, e.g. --set backbone.width=0.35' })
      .option('input', { type: 'string', demandOption: true, describe: 'safetensors file with float32 `images` [N, 3, H, W], normalised' })
      .option('output', { type: 'string', demandOption: true, describe: 'safetensors file to write float32 `features` [N, D] to' })
      .option('batch-size', { type: 'number', default: 32, describe: 'images per forward pass' })
      .option('backend', { type: 'string', describe: 'force a backend: tensorflow-gpu, tensorflow, wasm, cpu' })
      .option('plugin', { type: 'string', array: true, describe: 'load an external plugin module' }) as never,
  handler: async (args) => {
    loadPlugins(args.plugin);
    const bs = args['batch-size'];
    if (!(Number.isInteger(bs) && bs > 0)) throw new ConfigError('', `--batch-size must be a positive integer, got ${bs}`);
    const images = readImages(args.input);
    await selectBackend(args.backend);
    const { backbone } = backboneFromFlags(args.backbone, args.set);
    const module = backbone as unknown as Module;
    try {
      applyWeightsFlags(module, args);
      module.eval();
      const [n, c, h, w] = images.shape;
      const chunks: Float32Array[] = [];
      let dim = 0;
      for (let s = 0; s < n; s += bs) {
        const m = Math.min(bs, n - s);
        const out = tf.tidy(() => {
          const x = tf.tensor4d(images.data.subarray(s * c * h * w, (s + m) * c * h * w), [m, c, h, w]);
          return backbone.forward(tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D);
        });
        dim = out.shape[1];
        chunks.push(out.dataSync() as Float32Array);
        out.dispose();
      }
      const features = new Float32Array(n * dim);
      let at = 0;
      for (const ch of chunks) {
        features.set(ch, at);
        at += ch.length;
      }
      fs.mkdirSync(path.dirname(path.resolve(args.output)), { recursive: true });
      atomicWrite(path.resolve(args.output), serializeSafetensors({ features: { dtype: 'F32', shape: [n, dim], data: features } }));
      process.stderr.write(`sslight: wrote features [${n}, ${dim}] to ${args.output}\n`);
    } finally {
      module.dispose();
    }
  },
};

function readImages(file: string): { shape: [number, number, number, number]; data: Float32Array } {
  if (!fs.existsSync(file)) throw new ConfigError('', `--input ${file}: no such file`);
  let tensors;
  try {
    tensors = parseSafetensors(fs.readFileSync(file)).tensors;
  } catch (e) {
    throw new ConfigError('', `--input ${file}: ${(e as Error).message}`);
  }
  const t = tensors.get('images');
  if (!t) throw new ConfigError('', `--input ${file} has no 'images' tensor (found: ${[...tensors.keys()].join(', ') || 'none'})`);
  if (t.dtype !== 'F32' || t.shape.length !== 4 || t.shape[1] !== 3) {
    throw new ConfigError('', `--input ${file}: 'images' must be F32 [N, 3, H, W], got ${t.dtype} [${t.shape}]`);
  }
  return { shape: t.shape as [number, number, number, number], data: t.data as Float32Array };
}
