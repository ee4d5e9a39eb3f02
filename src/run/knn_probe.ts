import type { ResolvedConfig } from '../core/config';
import { registry } from '../core/registry';
import type { Backbone, Dataset, KnnProbe, KnnProbeOptions, SSLMethod } from '../core/interfaces';
import { balancedSubset, extractFeatures } from '../eval/features';
import { knnAccuracy } from '../eval/knn';
import { ImageLoader } from '../../data/image_loader';

/** `sslight knn`'s eval transform keeps 0.875 of the short side (EVAL_CROP_FRACTION in cli/eval_setup.ts). */
const CROP_FRACTION = 0.875;

/** The backbone of a method's student network (`student.backbone`, `encoder_q.backbone`). */
export function studentBackbone(method: SSLMethod): Backbone {
  for (const m of Object.values(method.studentModules())) {
    const b = (m as unknown as { backbone?: Backbone }).backbone;
    if (b && typeof b.forward === 'function') return b;
  }
  throw new Error(`method '${method.name}': no student module has a backbone to evaluate`);
}

/**
 * k-NN of the student backbone during training, on class-balanced subsets of the config's
 * dataset (train split for the neighbours, test split for the queries) at the global crop size.
 * The method is looked up on each call, so the probe can be made before the method exists.
 */
export function createKnnProbe(config: ResolvedConfig, train: () => Dataset, method: () => SSLMethod): KnnProbe {
  let test: Dataset | null = null;
  const gc = config.views.options.global_crop_size;
  const size = typeof gc === 'number' ? gc : 224;
  const features = (dataset: Dataset, n: number, backbone: Backbone) => {
    const subset = balancedSubset(dataset.length, (i) => dataset.labelOf(i), n);
    const loader = new ImageLoader(dataset, { size, mode: 'eval', batchSize: Math.min(64, subset.length), cropFraction: CROP_FRACTION, subset });
    return extractFeatures(backbone, loader.batches());
  };
  return {
    async knn(o: KnnProbeOptions) {
      test ??= registry.get('dataset', config.data.name).create(config.data.options, { split: 'test' });
      const backbone = studentBackbone(method());
      const tr = await features(train(), o.numTrain, backbone);
      try {
        const te = await features(test, o.numTest, backbone);
        try {
          const numClasses = train().classNames.length;
          const top1 = knnAccuracy(tr.features, tr.labels, te.features, te.labels, { k: o.k, temperature: o.temperature, numClasses });
          return { top1, numTrain: tr.labels.length, numTest: te.labels.length };
        } finally {
          te.features.dispose();
        }
      } finally {
        tr.features.dispose();
      }
    },
  };
}
