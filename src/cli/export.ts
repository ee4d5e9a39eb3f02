import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { selectBackend } from '../core/backend';
import { CheckpointStore, atomicWrite } from '../core/checkpoint';
import { loadConfigFile, resolveConfig } from '../core/config';
import { CheckpointError } from '../core/errors';
import type { Module } from '../nn/module';
import { serializeSafetensors } from '../nn/safetensors';
import { moduleStateDict } from '../nn/state_dict';
import { backboneToTfjs } from '../../plugins/backbones/tfjs_graph';
import { buildEvaluableBackbone } from '../run/evaluable';
import { loadPlugins } from './common';
import { EvalInputError, loadBackboneWeights } from './eval_setup';
import { withoutInitialWeights } from './weights_flags';

interface ExportArgs {
  run?: string;
  checkpoint?: string;
  out: string;
  format: string;
  backend?: string;
  plugin?: string[];
}

/**
 * `sslight export`: a run's pre-trained backbone for other tools. `torchvision`: safetensors
 * with torchvision's names and layouts (OIHW, BN running stats, num_batches_tracked), for
 * `torchvision.models.X().load_state_dict(..., strict=False)`. `tfjs`: a tfjs LayersModel
 * (model.json + weights) in inference form, BN folded, for `tf.loadLayersModel` in a browser.
 */
export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export',
  describe: "write a run's backbone as torchvision safetensors or a tfjs LayersModel",
  builder: (y) =>
    y
      .option('run', { type: 'string', describe: 'run directory (its checkpoints/latest)' })
      .option('checkpoint', { type: 'string', describe: 'checkpoint directory' })
      .option('out', { type: 'string', demandOption: true, describe: 'output: a .safetensors file (torchvision), model.json or a directory (tfjs)' })
      .option('format', { type: 'string', choices: ['torchvision', 'tfjs'], default: 'torchvision', describe: 'what to write' })
      .option('backend', { type: 'string', describe: 'force a backend: tensorflow-gpu, tensorflow, wasm, cpu' })
      .option('plugin', { type: 'string', array: true, describe: 'load an external plugin module' }) as never,
  handler: async (args) => {
    loadPlugins(args.plugin);
    if (!!args.run === !!args.checkpoint) throw new EvalInputError('give one of --run DIR or --checkpoint DIR');
    const source = path.resolve((args.run ?? args.checkpoint) as string);
    if (!fs.existsSync(source)) throw new EvalInputError(`${source}: no such directory`);
    let checkpointDir: string;
    try {
      checkpointDir = CheckpointStore.resolve(source, true) as string;
    } catch (e) {
      if (e instanceof CheckpointError) throw new EvalInputError(e.message);
      throw e;
    }
    const config = resolveConfig(withoutInitialWeights(runConfig(source, checkpointDir)));
    await selectBackend(args.backend);
    const name = config.backbone.name;
    // The method names its evaluable backbone and the checkpoint prefix it is saved under.
    const { module: backbone, prefix: savedPrefix } = buildEvaluableBackbone(config);
    const module = backbone as unknown as Module;
    try {
      const prefix = loadBackboneWeights(backbone, checkpointDir, savedPrefix);
      module.eval();
      const out = path.resolve(args.out);
      if (args.format === 'torchvision') {
        if (name.startsWith('vit')) process.stderr.write("sslight: note: ViT keys are DINO's VisionTransformer names (torchvision's vit_* name them differently)\n");
        if (config.backbone.options.small_input) process.stderr.write('sslight: note: small_input changes the stem, so torchvision\'s standard model will refuse those shapes\n');
        fs.mkdirSync(path.dirname(out), { recursive: true });
        const meta = { format: 'pt', sslight_backbone: name, sslight_options: JSON.stringify(config.backbone.options), sslight_checkpoint: checkpointDir };
        atomicWrite(out, serializeSafetensors(moduleStateDict(module), meta));
        process.stderr.write(`sslight: wrote ${name} (${prefix}*) in torchvision layout to ${out}\n`);
      } else {
        const modelJson = out.endsWith('.json') ? out : path.join(out, 'model.json');
        const weightsName = `${path.basename(modelJson, '.json')}.weights.bin`;
        let art;
        try {
          art = backboneToTfjs(backbone, name, weightsName);
        } catch (e) {
          throw new EvalInputError((e as Error).message);
        }
        fs.mkdirSync(path.dirname(modelJson), { recursive: true });
        atomicWrite(path.join(path.dirname(modelJson), weightsName), art.weights);
        atomicWrite(modelJson, Buffer.from(JSON.stringify(art.modelJson)));
        process.stderr.write(`sslight: wrote ${name} as a tfjs LayersModel (BN folded) to ${modelJson} + ${weightsName}\n`);
      }
    } finally {
      module.dispose();
    }
  },
};

/** The run's config.yaml, else the config saved in the checkpoint's state.json. */
function runConfig(source: string, checkpointDir: string): Record<string, unknown> {
  for (const f of [path.join(source, 'config.yaml'), path.join(path.dirname(path.dirname(checkpointDir)), 'config.yaml')]) {
    if (fs.existsSync(f)) return loadConfigFile(f);
  }
  try {
    const st = JSON.parse(fs.readFileSync(path.join(checkpointDir, 'state.json'), 'utf8')) as { config?: unknown };
    if (st.config && typeof st.config === 'object') return st.config as Record<string, unknown>;
  } catch (e) {
    throw new EvalInputError(`${checkpointDir}/state.json is unreadable: ${(e as Error).message}`);
  }
  throw new EvalInputError(`no config found for ${checkpointDir}`);
}
