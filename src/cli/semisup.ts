import type { CommandModule } from 'yargs';
import { Rng } from '../core/rng';
import { ensureGradients } from '../nn/gradients';
import { FineTuner, labelledSubset, topKCorrect } from '../eval/semisup';
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

interface SemisupArgs extends EvalArgs {
  percent: number;
  epochs?: number;
  'batch-size': number;
  lr: number;
}

export interface SemisupResult extends EvalProvenance {
  top1: number;
  top5: number;
  percent: number;
  numLabelled: number;
  epochs: number;
  batchSize: number;
  optimizer: string;
  baseLr: number;
  trainLoss: number[];
  numTest: number;
}

/** Appendix B's batch (lr scales by batch/256) and base lr; the paper's batch is 1024. */
export const SEMISUP_DEFAULTS = { batchSize: 256, lr: 0.03 } as const;

/** Appendix B: 60 epochs on 1% of the labels, 30 on 10%. */
export const SEMISUP_EPOCHS: Record<number, number> = { 1: 60, 10: 30 };

/**
 * `sslight semisup`: fine-tune the whole network with a linear classifier on 1% or 10% of the
 * train labels (per class, fixed choice), SGD Nesterov momentum 0.9, lr 0.03 x batch/256 cosine
 * to 1e-6, random crop + flip; top-1 / top-5 on the test split's centre crops.
 */
export const semisupCommand: CommandModule<object, SemisupArgs> = {
  command: 'semisup',
  describe: 'semi-supervised fine-tuning on 1% or 10% of the labels (paper Appendix B)',
  builder: (y) =>
    evalOptions(y)
      .option('percent', { type: 'number', demandOption: true, describe: 'labelled fraction of each class: 1 or 10' })
      .option('epochs', { type: 'number', describe: 'fine-tuning epochs (default 60 for 1%, 30 for 10%)' })
      .option('batch-size', { type: 'number', default: SEMISUP_DEFAULTS.batchSize, describe: 'batch (lr scales by batch/256)' })
      .option('lr', { type: 'number', default: SEMISUP_DEFAULTS.lr, describe: 'base lr (x batch/256)' }) as never,
  handler: async (args) => {
    if (args.percent !== 1 && args.percent !== 10) throw new EvalInputError(`--percent must be 1 or 10, got ${args.percent}`);
    const epochs = args.epochs ?? SEMISUP_EPOCHS[args.percent];
    for (const [n, v] of [['epochs', epochs], ['batch-size', args['batch-size']]] as const) {
      if (!(Number.isInteger(v) && v > 0)) throw new EvalInputError(`--${n} must be a positive integer, got ${v}`);
    }
    if (!(args.lr > 0)) throw new EvalInputError(`--lr must be > 0, got ${args.lr}`);
    if (args['max-train'] !== undefined) throw new EvalInputError('--max-train does not apply to semisup: the labelled subset is --percent of each class');
    const setup = await prepareEval(args);
    await ensureGradients();
    const labelled = labelledSubset(setup.train.length, (i) => setup.train.labelOf(i), args.percent);
    const batchSize = Math.min(args['batch-size'], labelled.length);
    const trainLoader = new ImageLoader(
      setup.train,
      { size: setup.imageSize, mode: 'train', batchSize, subset: labelled },
      setup.config.trainer.seed,
    );
    const opt = {
      name: 'sgd',
      lr: args.lr,
      momentum: 0.9,
      nesterov: true,
      min_lr: 1e-6,
      warmup_epochs: 0,
      weight_decay: 0,
    };
    const tuner = new FineTuner(setup.backbone, {
      numClasses: setup.numClasses,
      optimizer: opt,
      batchSize,
      epochs,
      stepsPerEpoch: trainLoader.stepsPerEpoch,
      rng: new Rng(setup.config.trainer.seed + 3),
    });
    let trainLoss: number[];
    let top1 = 0;
    let top5 = 0;
    let numTest: number;
    try {
      trainLoss = await trainEpochs('semisup', trainLoader, epochs, (b) => tuner.step(b.images, b.labels));
      const k = Math.min(5, setup.numClasses);
      numTest = await forEachTestBatch(testImages(setup), (b) => {
        const c = topKCorrect(tuner.logits(b.images), b.labels, setup.numClasses, k);
        top1 += c.top1;
        top5 += c.topk;
      });
    } finally {
      tuner.dispose();
      setup.backbone.dispose();
    }
    const result: SemisupResult = {
      top1: top1 / numTest,
      top5: top5 / numTest,
      percent: args.percent,
      numLabelled: labelled.length,
      epochs,
      batchSize,
      optimizer: 'sgd (nesterov, momentum 0.9)',
      baseLr: args.lr,
      trainLoss,
      numTest,
      ...evalProvenance(setup, args),
    };
    const what = describeEvaluated(result);
    reportEval(
      setup,
      `semisup_${args.percent}`,
      result,
      `semisup ${args.percent}% top-1: ${(result.top1 * 100).toFixed(2)}%, top-5: ${(result.top5 * 100).toFixed(2)}% ` +
        `(${what}, ${labelled.length} labelled images, ${epochs} epochs of batch ${batchSize}, ${numTest} test images)`,
    );
  },
};
