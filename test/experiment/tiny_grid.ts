import * as fs from 'fs';
import * as path from 'path';

/** A 4-cell grid (2 view recipes x 2 seeds) of 6-step DINO runs on generated images, k-NN only. */
export const TINY_BASE = `
data: {name: generated, num_images: 48, image_size: 32}
views: {name: sslight, global_crop_size: 16, local_crop_size: 8, n_local: 2}
method: {name: dino, out_dim: 64, hidden_dim: 32, bottleneck_dim: 16, alpha: 0.4, warmup_teacher_temp_epochs: 1}
backbone: {name: mobilenetv2, width: 0.25}
optimizer: {name: lars, lr: 0.3, warmup_epochs: 1}
trainer: {epochs: 1, batch_size: 8, seed: 3}
callbacks:
  jsonl: {}
  checkpoint: {every_steps: 2, keep: 3}
`;

export function writeTinyGrid(dir: string, extra = ''): string {
  fs.writeFileSync(path.join(dir, 'tiny.yaml'), TINY_BASE);
  const file = path.join(dir, 'grid.yaml');
  fs.writeFileSync(
    file,
    `name: tiny
base: tiny.yaml
axes:
  views:
    dino: {views.name: dino, views.local_crop_size: 6, method.alpha: null}
    sslight: {views.name: sslight}
  seed: [0, 1]
evaluations:
  knn: {k: 5, max_train: 32, max_test: 16}
${extra}`,
  );
  return file;
}
