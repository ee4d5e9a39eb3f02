import * as tf from '@tensorflow/tfjs-core';
import type { ResolvedConfig } from '../core/config';
import type { Backbone } from '../core/interfaces';
import { registry } from '../core/registry';
import { Rng } from '../core/rng';
import { countMacs } from '../nn/macs';
import type { Module } from '../nn/module';

/** One row of `sslight info --backbones`. */
export interface BackboneRow {
  /** Plugin name, with the ViT patch size (`vit_tiny/16`) or `(config)` for the config's own backbone. */
  name: string;
  params: number;
  featureDim: number;
  /** MACs of one forward pass (batch 1) by square input size. */
  macs: Record<number, number>;
}

/** ViT plugins are listed once per patch size (the paper's /16 and the cheaper /32). */
const VIT_PATCHES = [16, 32];

/**
 * Parameters, feature dimension and MACs (conv, linear and attention matmuls, batch 1: the
 * convention of reference/backbones.json) of every backbone plugin at default options, at 224 and
 * at `sizes`; with a config, one more row for its backbone with its options.
 */
export function backboneRows(sizes: number[], config?: ResolvedConfig, only?: string[]): BackboneRow[] {
  const rows: BackboneRow[] = [];
  for (const name of registry.names('backbone')) {
    if (only && !only.includes(name)) continue;
    const def = registry.get('backbone', name);
    const hasPatch = 'shape' in def.schema && 'patch_size' in (def.schema as unknown as { shape: object }).shape;
    for (const patch of hasPatch ? VIT_PATCHES : [null]) {
      const options = def.schema.parse(patch ? { patch_size: patch } : {});
      rows.push(measure(patch ? `${name}/${patch}` : name, def.create(options, { rng: new Rng(0) }), sizes));
    }
  }
  if (config) {
    const b = registry.get('backbone', config.backbone.name).create(config.backbone.options, { rng: new Rng(0) });
    rows.push(measure(`${config.backbone.name} (config)`, b, sizes));
  }
  return rows;
}

function measure(name: string, backbone: Backbone, sizes: number[]): BackboneRow {
  const module = backbone as unknown as Module;
  try {
    module.eval();
    const macs: Record<number, number> = {};
    for (const s of [...new Set([224, ...sizes])]) {
      try {
        macs[s] = countMacs(() => tf.tidy(() => void backbone.forward(tf.zeros([1, s, s, 3]) as tf.Tensor4D)));
      } catch {
        // e.g. a crop smaller than one ViT patch: no forward pass at that size
      }
    }
    return { name, params: module.numParameters(), featureDim: backbone.featureDim, macs };
  } finally {
    module.dispose();
  }
}

export function formatBackboneTable(rows: BackboneRow[]): string {
  const sizes = [...new Set(rows.flatMap((r) => Object.keys(r.macs).map(Number)))].sort((a, b) => b - a);
  const header = ['backbone', 'params', 'dim', ...sizes.map((s) => `GMACs@${s}`)];
  const body = rows.map((r) => [
    r.name,
    r.params.toLocaleString('en-US'),
    String(r.featureDim),
    ...sizes.map((s) => (r.macs[s] === undefined ? '-' : (r.macs[s] / 1e9).toFixed(4))),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [header, ...body].map((cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}
