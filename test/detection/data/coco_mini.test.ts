import { expect } from 'chai';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { CocoDetectionDataset } from '../../../detection/data/coco_dataset';
import { DetectionLoader } from '../../../detection/data/loader';
import { sharedDataset } from '../../helpers/reference';

describe('detection/data on coco-mini (../shared/datasets/coco-mini)', () => {
  const root = sharedDataset('coco-mini');
  before(function () {
    if (!root) this.skip(); // the real dataset lives beside the checkout, not in CI
  });
  const split = (s: 'train' | 'val', filterEmpty = true) =>
    new CocoDetectionDataset({ annotations: path.join(root!, 'annotations', `instances_${s}.json`), images: path.join(root!, s), filterEmpty });

  it('loads 343 train / 100 val images; training keeps the 340 / 98 with non-crowd instances', () => {
    const train = split('train');
    const val = split('val');
    expect(train.coco.getImgIds().length).to.equal(343);
    expect(val.coco.getImgIds().length).to.equal(100);
    expect(split('val', false).length).to.equal(100);
    expect(train.length).to.equal(340);
    expect(val.length).to.equal(98);
    const count = (d: CocoDetectionDataset) => Array.from({ length: d.length }, (_, i) => d.record(i).target.classes.length).reduce((a, b) => a + b, 0);
    // 2,974 / 845 instances less the 29 / 11 crowd regions.
    expect(count(train)).to.equal(2945);
    expect(count(val)).to.equal(834);
    expect(train.numClasses).to.equal(80);
    expect(train.categories.names[0]).to.equal('person');
    expect(train.catIdOf(80)).to.equal(90);
  });

  it('decodes images at the annotated size (short side 320) and batches them', async () => {
    const val = split('val');
    const im = await val.loadImage(0);
    expect(Math.min(im.width, im.height)).to.equal(320);
    const before = tf.memory().numTensors;
    const loader = new DetectionLoader(val, { mode: 'test', batchSize: 2, minSizes: 320, maxSize: 533 });
    const b = await loader.loadBatch(0, 0);
    expect(b.imageIds).to.deep.equal([val.record(0).imageId, val.record(1).imageId]);
    expect(b.images.shape[1] % 32).to.equal(0);
    expect(b.scales).to.deep.equal([1, 1]);
    for (const t of b.targets) {
      expect(t.classes.length).to.be.greaterThan(0);
      expect(t.masks.length).to.equal(t.classes.length);
      expect(Math.min(...t.classes)).to.be.at.least(1);
      expect(Math.max(...t.classes)).to.be.at.most(80);
    }
    b.dispose();
    expect(tf.memory().numTensors).to.equal(before);
  });
});
