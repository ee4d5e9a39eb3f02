import type { CommandModule } from 'yargs';
import { Rng } from '../core/rng';
import { ensureGradients } from '../nn/gradients';
import { LinearProbe } from '../eval/linear_probe';
import { ImageLoader } from '../../data/image_loader';
import {
  EvalInputError,
  describeEvaluated,
  evalOptions,
  evalProvenance,
  prepareEval,
  reportEval,
  testImages,
  type EvalArgs,
  type EvalProvenance,
} from './eval_setup';
import { forEachTestBatch, trainEpochs } from './classifier_loop';

interface LinearArgs extends EvalArgs {
  epochs: number;
  'batch-size': number;
  lr?: number;
  bn?: boolean;
  optimizer?: 'lars' | 'sgd';
}

export interface LinearResult extends EvalProvenance {
  top1: number;
  epochs: number;
  batchSize: number;
  /** BatchNorm1d (no affine) on the frozen features before the classifier (`--bn`). */
  bn: boolean;
  optimizer: string;
  baseLr: number;
  trainLoss: number[];
  numTrain: number;
  numTest: number;
}

/**
 * The paper's linear probe (Appendix A): no warm-up, cosine lr to 0, weight decay 0; CNNs LARS at
 * base lr 0.05, ViTs SGD at base lr 0.01, both x batch/256 as in DINO's eval_linear.
 */
export function probeOptimizer(
  backboneName: string,
  lr: number | undefined,
  optimizer?: 'lars' | 'sgd',
): { name: string } & Record<string, unknown> {
  const name = optimizer ?? (backboneName.startsWith('vit') ? 'sgd' : 'lars');
  return {
    name,
    lr: lr ?? (name === 'sgd' ? 0.01 : 0.05),
    warmup_epochs: 0,
    weight_decay: 0,
    min_lr: 0,
  };
}

/**
 * `sslight linear`: train a linear classifier on the frozen backbone (eval mode) with random
 * crop + flip on the train split, then top-1 on the test split's centre crops.
 */
export const linearCommand: CommandModule<object, LinearArgs> = {
  command: 'linear',
  describe: 'linear-probe top-1 of a run\'s frozen backbone (LARS for CNNs, as in the paper)',
  builder: (y) =>
    evalOptions(y)
      .option('epochs', { type: 'number', default: 100, describe: 'probe epochs over the train images' })
      .option('batch-size', { type: 'number', default: 256, describe: 'probe batch (lr scales by batch/256)' })
      .option('lr', { type: 'number', describe: 'base lr (default: LARS 0.05 for CNNs, SGD 0.01 for ViTs)' })
      .option('optimizer', {
        choices: ['lars', 'sgd'] as const,
        describe: "the probe's optimizer (default: LARS for CNNs, SGD for ViTs); LARS steps scale with the weights, so short probes from the N(0, 0.01) init barely move",
      })
      .option('bn', {
        type: 'boolean',
        describe: "BatchNorm1d without affine on the frozen features before the classifier (MAE's probe): for features far from unit scale, e.g. a random-init network",
      }) as never,
  handler: async (args) => {
    for (const n of ['epochs', 'batch-size'] as const) {
      if (!(Number.isInteger(args[n]) && args[n] > 0)) throw new EvalInputError(`--${n} must be a positive integer, got ${args[n]}`);
    }
    if (args.lr !== undefined && !(args.lr > 0)) throw new EvalInputError(`--lr must be > 0, got ${args.lr}`);
    const setup = await prepareEval(args);
    await ensureGradients();
    const batchSize = Math.min(args['batch-size'], setup.trainIndices.length);
    const trainLoader = new ImageLoader(
      setup.train,
      { size: setup.imageSize, mode: 'train', batchSize, subset: setup.trainIndices },
      setup.config.trainer.seed,
    );
    const opt = probeOptimizer(setup.config.backbone.name, args.lr, args.optimizer);
    const probe = new LinearProbe(setup.backbone, {
      numClasses: setup.numClasses,
      optimizer: opt,
      batchSize,
      epochs: args.epochs,
      stepsPerEpoch: trainLoader.stepsPerEpoch,
      bn: !!args.bn,
      rng: new Rng(setup.config.trainer.seed + 2),
    });
    let trainLoss: number[];
    let correct = 0;
    let numTest: number;
    try {
      trainLoss = await trainEpochs('linear probe', trainLoader, args.epochs, (b) => probe.step(b.images, b.labels));
      numTest = await forEachTestBatch(testImages(setup), (b) => {
        correct += Math.round(probe.accuracy(b.images, b.labels) * b.batchSize);
      });
    } finally {
      probe.dispose();
      setup.backbone.dispose();
    }
    const result: LinearResult = {
      top1: correct / numTest,
      epochs: args.epochs,
      batchSize,
      bn: !!args.bn,
      optimizer: opt.name,
      baseLr: opt.lr as number,
      trainLoss,
      numTrain: setup.trainIndices.length,
      numTest,
      ...evalProvenance(setup, args),
    };
    const what = describeEvaluated(result);
    reportEval(
      setup,
      'linear',
      result,
      `linear top-1: ${(result.top1 * 100).toFixed(2)}% (${what}, ${opt.name} base lr ${opt.lr}${args.bn ? ', BN on features' : ''}, ${args.epochs} epochs of batch ${batchSize}, ` +
        `${result.numTrain} train / ${numTest} test images, ${result.numClasses} classes, ${result.imageSize}px)`,
    );
  },
};
