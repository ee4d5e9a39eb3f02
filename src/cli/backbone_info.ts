import { selectBackend } from '../core/backend';
import { loadConfig, type ResolvedConfig } from '../core/config';
import { backboneRows, formatBackboneTable } from './backbone_table';

/** `sslight info --backbones [--config FILE]`. */
export async function printBackboneTable(args: { backend?: string; config?: string; set?: string[]; only?: string[] }): Promise<void> {
  await selectBackend(args.backend);
  let config: ResolvedConfig | undefined;
  const sizes: number[] = [];
  if (args.config) {
    config = loadConfig(args.config, args.set ?? []);
    for (const key of ['global_crop_size', 'local_crop_size']) {
      const v = config.views.options[key];
      if (typeof v === 'number') sizes.push(v);
    }
  }
  console.log(formatBackboneTable(backboneRows(sizes, config, args.only)));
  console.log('params: all parameters (BN affine included); GMACs: conv, linear and attention matmuls, batch 1');
}
