import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { CocoFormatError } from '../../../detection/coco/errors';
import { mask } from '../../../detection/coco';
import type { CocoDataset } from '../../../detection/coco/types';
import { CocoDetectionDataset } from '../../../detection/data/coco_dataset';
import { DataError, InputError } from '../../../src/core/errors';

/** Three images: one with a crowd + a polygon + an RLE instance, one with only a crowd, one empty. */
function tinyCoco(): CocoDataset {
  const rle = mask.frPyObjects([[2, 2, 6, 2, 6, 6, 2, 6]], 10, 12)[0];
  return {
    images: [
      { id: 7, file_name: 'a.png', height: 10, width: 12 },
      { id: 9, file_name: 'b.png', height: 10, width: 12 },
      { id: 11, file_name: 'c.png', height: 10, width: 12 },
    ],
    categories: [
      { id: 90, name: 'toothbrush' },
      { id: 3, name: 'car' },
      { id: 18, name: 'dog' },
    ],
    annotations: [
      { id: 1, image_id: 7, category_id: 18, bbox: [1, 1, 4, 3], iscrowd: 0, segmentation: [[1, 1, 5, 1, 5, 4, 1, 4], [1, 1, 2]] },
      { id: 2, image_id: 7, category_id: 3, bbox: [0, 0, 12, 10], iscrowd: 1, segmentation: { size: [10, 12], counts: [0, 120] } },
      { id: 3, image_id: 7, category_id: 90, bbox: [2, 2, 4, 4], iscrowd: 0, segmentation: rle },
      { id: 4, image_id: 9, category_id: 3, bbox: [0, 0, 5, 5], iscrowd: 1, segmentation: { size: [10, 12], counts: [0, 50, 70] } },
      { id: 5, image_id: 7, category_id: 3, bbox: [3, 3, 0, 4], iscrowd: 0, segmentation: [[3, 3, 3, 7, 3, 5]] },
    ],
  };
}

describe('detection/data CocoDetectionDataset', () => {
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-cocods-'));
    const px = Buffer.alloc(10 * 12 * 3, 128);
    for (const f of ['a.png', 'b.png']) await sharp(px, { raw: { width: 12, height: 10, channels: 3 } }).png().toFile(path.join(dir, f));
    await sharp(Buffer.alloc(9 * 12 * 3), { raw: { width: 12, height: 9, channels: 3 } }).png().toFile(path.join(dir, 'c.png'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('maps category ids in ascending order to classes 1..K and keeps the names', () => {
    const ds = new CocoDetectionDataset({ annotations: tinyCoco(), images: dir });
    expect(ds.categories).to.deep.equal({ catIds: [3, 18, 90], names: ['car', 'dog', 'toothbrush'] });
    expect(ds.numClasses).to.equal(3);
    expect(ds.catIdOf(2)).to.equal(18);
  });

  it('leaves out crowd and empty-box instances and skips images without instances (train)', () => {
    const ds = new CocoDetectionDataset({ annotations: tinyCoco(), images: dir });
    expect(ds.length).to.equal(1);
    const r = ds.record(0);
    expect(r.imageId).to.equal(7);
    expect(Array.from(r.target.classes)).to.deep.equal([2, 3]);
    expect(Array.from(r.target.boxes)).to.deep.equal([1, 1, 5, 4, 2, 2, 6, 6]);
    // Polygons keep only valid parts (>= 3 points); RLE passes through.
    expect(r.target.masks[0]).to.deep.equal({ polygons: [[1, 1, 5, 1, 5, 4, 1, 4]] });
    expect(r.target.masks[1]).to.have.property('rle');
  });

  it('keeps every image for evaluation (filterEmpty: false)', () => {
    const ds = new CocoDetectionDataset({ annotations: tinyCoco(), images: dir, filterEmpty: false });
    expect(Array.from({ length: ds.length }, (_, i) => ds.record(i).imageId)).to.deep.equal([7, 9, 11]);
    expect(ds.record(1).target.classes.length).to.equal(0);
  });

  it('decodes images with sharp and rejects a file whose size differs from the annotation', async () => {
    const ds = new CocoDetectionDataset({ annotations: tinyCoco(), images: dir, filterEmpty: false });
    const im = await ds.loadImage(0);
    expect([im.height, im.width, im.data[0]]).to.deep.equal([10, 12, 128]);
    let err: unknown;
    await ds.loadImage(2).catch((e) => (err = e));
    expect(err).to.be.instanceOf(DataError);
    expect(String(err)).to.match(/c\.png.*12x9.*12x10/);
  });

  it('names the bad record in format errors', () => {
    const d = tinyCoco();
    d.annotations![0].category_id = 5;
    expect(() => new CocoDetectionDataset({ annotations: d, images: dir })).to.throw(CocoFormatError, /annotation id 1.*category_id 5/);
    const e = tinyCoco();
    delete e.images![1].file_name;
    expect(() => new CocoDetectionDataset({ annotations: e, images: dir })).to.throw(CocoFormatError, /image id 9/);
    expect(() => new CocoDetectionDataset({ annotations: tinyCoco(), images: path.join(dir, 'nope') })).to.throw(InputError, /image folder '.*nope' does not exist/);
    expect(() => new CocoDetectionDataset({ annotations: path.join(dir, 'missing.json'), images: dir })).to.throw(InputError, /annotation file '.*missing\.json' does not exist/);
  });
});
