import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import sharp from 'sharp';
import '../../../data/datasets'; // registers the dataset plugins
import type { ImageFolderDataset } from '../../../data/datasets';
import { registry } from '../../../src/core/registry';
import { ConfigError, DataError } from '../../../src/core/errors';
import { sharedDataset } from '../../helpers/reference';
import '../../../plugins/views'; // registers dino and sslight
import { ViewLoader } from '../../../data/loader';

function make(split: 'train' | 'test', options: Record<string, unknown>): ImageFolderDataset {
  const def = registry.get('dataset', 'image_folder');
  return def.create(def.schema.parse(options), { split }) as ImageFolderDataset;
}

/** A w x h RGB image whose pixel (x, y) is (x*20, y*20, seed). */
function pattern(w: number, h: number, seed: number): Buffer {
  const d = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) d.set([x * 20, y * 20, seed], (y * w + x) * 3);
  return d;
}

async function writeImage(file: string, raw: Buffer, w: number, h: number, channels: 1 | 3 | 4): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(raw, { raw: { width: w, height: h, channels } });
  await (file.toLowerCase().endsWith('.png') ? img.png() : img.jpeg({ quality: 95 })).toFile(file);
}

describe('data/datasets/image_folder: class folders decoded with sharp', () => {
  let root: string;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-imgfolder-'));
    await writeImage(path.join(root, 'train/cat/a.png'), pattern(5, 4, 1), 5, 4, 3);
    await writeImage(path.join(root, 'train/cat/b.jpg'), pattern(6, 6, 2), 6, 6, 3);
    // Grey PNG and RGBA PNG: must come out as 3 channels.
    await writeImage(path.join(root, 'train/dog/grey.png'), Buffer.from([0, 50, 100, 150, 200, 250]), 3, 2, 1);
    const rgba = Buffer.from([10, 20, 30, 0, 40, 50, 60, 255]);
    await writeImage(path.join(root, 'train/dog/rgba.PNG'), rgba, 2, 1, 4);
    // Not an image at all, and a JPEG cut in half: both must be reported, not crash.
    fs.writeFileSync(path.join(root, 'train/dog/corrupt.jpg'), Buffer.from('definitely not a jpeg'));
    await writeImage(path.join(root, 'train/dog/whole.jpg'), pattern(12, 12, 3), 12, 12, 3);
    const whole = fs.readFileSync(path.join(root, 'train/dog/whole.jpg'));
    fs.writeFileSync(path.join(root, 'train/dog/truncated.jpg'), whole.subarray(0, Math.floor(whole.length / 2)));
    fs.rmSync(path.join(root, 'train/dog/whole.jpg'));
    fs.writeFileSync(path.join(root, 'train/dog/notes.txt'), 'ignored: not an image extension');
    await writeImage(path.join(root, 'test/cat/c.png'), pattern(4, 4, 9), 4, 4, 3);
    await writeImage(path.join(root, 'test/dog/d.png'), pattern(4, 4, 8), 4, 4, 3);
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('scans root/<split>/<class>/* sorted, with labels by sorted class name', () => {
    const train = make('train', { root });
    expect(train.classNames).to.deep.equal(['cat', 'dog']);
    expect(train.length).to.equal(6);
    expect(Array.from({ length: 6 }, (_, i) => path.basename(train.fileOf(i)))).to.deep.equal([
      'a.png', 'b.jpg', 'corrupt.jpg', 'grey.png', 'rgba.PNG', 'truncated.jpg',
    ]);
    expect(Array.from({ length: 6 }, (_, i) => train.labelOf(i))).to.deep.equal([0, 0, 1, 1, 1, 1]);
    const test = make('test', { root });
    expect(test.length).to.equal(2);
    expect(make('train', { root, max_per_class: 1 }).length).to.equal(2);
  });

  it("layout 'images' reads the images directly in root as one unlabelled class", () => {
    const cat = path.join(root, 'train/cat');
    const ds = make('train', { root: cat, layout: 'images' });
    expect(ds.classNames).to.deep.equal(['cat']);
    expect(Array.from({ length: ds.length }, (_, i) => path.basename(ds.fileOf(i)))).to.deep.equal(['a.png', 'b.jpg']);
    expect(Array.from({ length: ds.length }, (_, i) => ds.labelOf(i))).to.deep.equal([0, 0]);
    expect(make('test', { root: cat, layout: 'images', max_per_class: 1 }).length).to.equal(1);
    // A folder of class folders has no images of its own: the error says where it looked.
    expect(() => make('train', { root: path.join(root, 'train'), layout: 'images' })).to.throw(ConfigError, /no images .* directly in/);
  });

  it('decodes PNG exactly, grey to three equal channels, and drops alpha', async () => {
    const ds = make('train', { root });
    const a = await ds.get(0);
    expect([a.image.width, a.image.height, a.label]).to.deep.equal([5, 4, 0]);
    expect(Buffer.from(a.image.data).equals(pattern(5, 4, 1))).to.equal(true);
    expect(a.source).to.equal(path.join(root, 'train/cat/a.png'));
    const grey = await ds.get(3);
    expect(Array.from(grey.image.data)).to.deep.equal([0, 0, 0, 50, 50, 50, 100, 100, 100, 150, 150, 150, 200, 200, 200, 250, 250, 250]);
    const rgba = await ds.get(4);
    expect(rgba.image.data.length).to.equal(6);
    expect(Array.from(rgba.image.data.subarray(3))).to.deep.equal([40, 50, 60]);
    const jpg = await ds.get(1);
    expect([jpg.image.width, jpg.image.height, jpg.image.data.length]).to.deep.equal([6, 6, 108]);
  });

  it('rejects corrupt and truncated files with a DataError naming the file', async () => {
    const ds = make('train', { root });
    for (const i of [2, 5]) {
      let err: unknown = null;
      await ds.get(i).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(DataError);
      expect((err as DataError).source).to.equal(ds.fileOf(i));
      expect((err as DataError).message).to.contain(path.basename(ds.fileOf(i)));
    }
  });

  it('feeds the ViewLoader, which skips the two broken files and reports each once', async () => {
    const ds = make('train', { root });
    const def = registry.get('views', 'dino');
    const views = def.create(def.schema.parse({ global_crop_size: 8, local_crop_size: 4, n_local: 2 }), {});
    const skipped: string[] = [];
    const loader = new ViewLoader(ds, views, 3, 1, { onSkip: (source, _reason, total) => skipped.push(`${total}:${path.basename(source)}`) });
    for (const epoch of [0, 1, 2])
      for (let k = 0; k < loader.stepsPerEpoch; k++) {
        const b = await loader.loadHostBatch(epoch, k);
        expect(b.labels).to.have.length(3);
        expect(Array.from(b.indices).some((i) => i === 2 || i === 5)).to.equal(false);
      }
    expect(loader.skippedCount).to.equal(2);
    expect(skipped.map((s) => s.slice(2)).sort()).to.deep.equal(['corrupt.jpg', 'truncated.jpg']);
    expect(skipped.map((s) => s[0])).to.deep.equal(['1', '2']);
  });

  it('with cache on, decodes each file once (a deleted file still loads from memory)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-imgcache-'));
    try {
      await writeImage(path.join(dir, 'x/one.png'), pattern(3, 3, 5), 3, 3, 3);
      const cached = make('train', { root: dir, cache: true });
      const uncached = make('train', { root: dir });
      const first = await cached.get(0);
      fs.rmSync(path.join(dir, 'x/one.png'));
      expect((await cached.get(0)).image).to.equal(first.image);
      let err: unknown = null;
      await uncached.get(0).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(DataError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resizes the short side at decode time when resize_short is set', async () => {
    const s = await make('train', { root, resize_short: 8 }).get(0);
    expect([s.image.width, s.image.height]).to.deep.equal([10, 8]);
  });

  it('uses the flat layout when root has no split folders', () => {
    const flat = make('test', { root: path.join(root, 'train') });
    expect(flat.classNames).to.deep.equal(['cat', 'dog']);
    expect(flat.length).to.equal(6);
  });

  it('names the key and the path when root is missing or the split folder is absent', () => {
    const missing = path.join(root, 'nope');
    expect(() => make('train', { root: missing })).to.throw(ConfigError, /root.*nope/);
    expect(() => make('test', { root, test_dir: 'val' })).to.throw(ConfigError, /val/);
    const schema = registry.get('dataset', 'image_folder').schema;
    expect(schema.safeParse({}).success).to.equal(false);
    expect(schema.safeParse({ root, max_per_klass: 3 }).success).to.equal(false);
  });

  it('loads CIFAR-10 in the standard class order when ../shared has it', async function () {
    const cifar = sharedDataset('cifar10');
    if (!cifar) this.skip();
    const train = make('train', { root: cifar!, max_per_class: 3 });
    expect(train.classNames).to.deep.equal([
      'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
    ]);
    expect(train.length).to.equal(30);
    const s = await train.get(29);
    expect([s.image.width, s.image.height, s.label]).to.deep.equal([32, 32, 9]);
    const test = make('test', { root: cifar!, max_per_class: 1 });
    expect(test.length).to.equal(10);
    expect(path.basename(path.dirname(path.dirname(test.fileOf(0))))).to.equal('test');
  });
});
