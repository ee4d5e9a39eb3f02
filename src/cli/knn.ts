import type { CommandModule } from 'yargs';
import { extractFeatures, type ExtractedFeatures } from '../eval/features';
import { progress } from '../core/progress';
import { KNN_DEFAULTS, knnPredict, top1 } from '../eval/knn';
import { ImageLoader } from '../../data/image_loader';
import {
  EVAL_CROP_FRACTION,
  EvalInputError,
  evalOptions,
  positiveInt,
  prepareEval,
  reportEval,
  evalProvenance,
  describeEvaluated,
  type EvalArgs,
  type EvalProvenance,
  type EvalSetup,
} from './eval_setup';

/** Features of the chosen images of a split, with the eval transform (centre crop, normalise). */
export async function splitFeatures(
  setup: EvalSetup,
  which: 'train' | 'test',
  batchSize = 64,
): Promise<ExtractedFeatures> {
  const dataset = which === 'train' ? setup.train : setup.test;
  const subset = which === 'train' ? setup.trainIndices : setup.testIndices;
  const loader = new ImageLoader(dataset, {
    size: setup.imageSize,
    mode: 'eval',
    batchSize: Math.min(batchSize, subset.length),
    cropFraction: EVAL_CROP_FRACTION,
    subset,
    onSkip: (source, reason) => process.stderr.write(`sslight: skipping unreadable image ${source}: ${reason}\n`),
  });
  const bar = progress(`${which} features`, subset.length, { unit: 'img' });
  const out = await extractFeatures(setup.backbone, loader.batches(), { onProgress: (n) => bar.update(n) });
  bar.done(`(${out.features.shape.join('x')})`);
  return out;
}

interface KnnArgs extends EvalArgs {
  k: number;
  temperature: number;
}

export interface KnnResult extends EvalProvenance {
  top1: number;
  k: number;
  temperature: number;
  numTrain: number;
  numTest: number;
}

/** `sslight knn`: DINO's weighted k-NN top-1 on the config's dataset (train split -> test split). */
export const knnCommand: CommandModule<object, KnnArgs> = {
  command: 'knn',
  describe: 'weighted k-NN top-1 of a run\'s backbone features (DINO protocol)',
  builder: (y) =>
    evalOptions(y)
      .option('k', { type: 'number', default: KNN_DEFAULTS.k, describe: 'neighbours that vote' })
      .option('temperature', { type: 'number', default: KNN_DEFAULTS.temperature, describe: 'vote weight exp(sim / T)' }) as never,
  handler: async (args) => {
    positiveInt('k', args.k);
    if (!(args.temperature > 0)) throw new EvalInputError(`--temperature must be > 0, got ${args.temperature}`);
    const setup = await prepareEval(args);
    const train = await splitFeatures(setup, 'train');
    let acc: number;
    let numTest: number;
    try {
      const test = await splitFeatures(setup, 'test');
      try {
        const pred = knnPredict(train.features, train.labels, test.features, {
          k: args.k,
          temperature: args.temperature,
          numClasses: setup.numClasses,
        });
        acc = top1(pred, test.labels);
        numTest = test.labels.length;
      } finally {
        test.features.dispose();
      }
    } finally {
      train.features.dispose();
      setup.backbone.dispose();
    }
    const result: KnnResult = {
      top1: acc,
      k: args.k,
      temperature: args.temperature,
      numTrain: train.labels.length,
      numTest,
      ...evalProvenance(setup, args),
    };
    const what = describeEvaluated(result);
    reportEval(
      setup,
      'knn',
      result,
      `knn top-1: ${(acc * 100).toFixed(2)}% (${what}, k=${result.k}, T=${result.temperature}, ` +
        `${result.numTrain} train / ${result.numTest} test images, ${result.numClasses} classes, ${result.imageSize}px)`,
    );
  },
};
