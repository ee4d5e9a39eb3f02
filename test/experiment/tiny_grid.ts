import * as fs from 'fs';
import * as path from 'path';
import { tinyDinoConfig } from '../helpers/tiny_config';

/** A 4-cell grid (2 view recipes x 2 seeds) of 6-step DINO runs on generated images, k-NN only. */
export const TINY_BASE = tinyDinoConfig(['jsonl: {}', 'checkpoint: {every_steps: 2, keep: 3}']);

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
