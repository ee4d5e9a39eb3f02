/**
 * The tiny DINO pre-training the CLI and grid tests run end to end on wasm: 48 generated 32 px
 * images, a width-0.25 MobileNetV2 on 16 / 8 px views, batch 8 (6 steps an epoch).
 * `callbacks` is the YAML body of the `callbacks:` section, one `name: {...}` per line.
 */
export function tinyDinoConfig(callbacks: string[], epochs = 1): string {
  return `
data: {name: generated, num_images: 48, image_size: 32}
views: {name: sslight, global_crop_size: 16, local_crop_size: 8, n_local: 2}
method: {name: dino, out_dim: 64, hidden_dim: 32, bottleneck_dim: 16, alpha: 0.4, warmup_teacher_temp_epochs: 1}
backbone: {name: mobilenetv2, width: 0.25}
optimizer: {name: lars, lr: 0.3, warmup_epochs: 1}
trainer: {epochs: ${epochs}, batch_size: 8, seed: 3}
callbacks:
${callbacks.map((c) => `  ${c}`).join('\n')}
`;
}
