import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '../../plugins/backbones';
import { registry } from '../../src/core/registry';
import { Rng } from '../../src/core/rng';
import type { Module } from '../../src/nn/module';
import { serializeSafetensors } from '../../src/nn/safetensors';
import { moduleStateDict } from '../../src/nn/state_dict';

/**
 * A run directory as `sslight pretrain` leaves it (config.yaml, checkpoints/latest, a checkpoint
 * with state.json and model.safetensors), holding a backbone with random weights and random BN
 * statistics under student.backbone.*, without the cost of training.
 */
export function writeFakeRun(dir: string, backbone: Record<string, unknown>, seed = 7): string {
  const { name, ...opts } = backbone as { name: string };
  const def = registry.get('backbone', name);
  const module = def.create(def.schema.parse(opts), { rng: new Rng(seed) }) as unknown as Module;
  const rng = new Rng(seed + 1);
  for (const [k, { tensor }] of module.stateTensors()) {
    if (tensor.dtype !== 'float32' || tensor.rank !== 1) continue;
    const n = tensor.size;
    const u = tf.tidy(() => tf.tensor1d(Array.from({ length: n }, () => rng.uniform())));
    const value = tf.tidy(() =>
      k.endsWith('running_var') || k.endsWith('.weight') ? tf.add(0.5, u) : k.endsWith('running_mean') || k.endsWith('.bias') ? tf.mul(0.2, tf.sub(u, 0.5)) : u.clone(),
    );
    tensor.assign(value);
    u.dispose();
    value.dispose();
  }
  const ckpt = path.join(dir, 'checkpoints', 'step_00000001');
  fs.mkdirSync(ckpt, { recursive: true });
  fs.writeFileSync(path.join(dir, 'checkpoints', 'latest'), 'step_00000001\n');
  fs.writeFileSync(path.join(ckpt, 'state.json'), JSON.stringify({ step: 1 }));
  fs.writeFileSync(path.join(ckpt, 'model.safetensors'), serializeSafetensors(moduleStateDict(module, 'student.backbone.')));
  const config = {
    data: { name: 'generated', num_images: 16, image_size: 32 },
    views: { name: 'sslight', global_crop_size: 32, local_crop_size: 16, n_local: 2 },
    method: { name: 'dino', out_dim: 32, hidden_dim: 16, bottleneck_dim: 8 },
    backbone,
    optimizer: { name: 'lars', lr: 0.3 },
  };
  fs.writeFileSync(path.join(dir, 'config.yaml'), JSON.stringify(config, null, 1));
  module.dispose();
  return dir;
}
