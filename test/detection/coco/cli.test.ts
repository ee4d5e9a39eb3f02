import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cocoEvalMain } from '../../../detection/coco';
import { EvalCase, loadData, readFixture } from './fixtures';

describe('detection/coco CLI (coco-eval)', () => {
  let dir: string;
  let gtFile: string;
  let dtFile: string;
  let segmGt: string;
  let segmDt: string;
  const data = loadData('bbox_a');

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coco-cli-'));
    gtFile = path.join(dir, 'gt.json');
    dtFile = path.join(dir, 'dt.json');
    fs.writeFileSync(gtFile, JSON.stringify(data.gt));
    fs.writeFileSync(dtFile, JSON.stringify(data.results));
    const s = loadData('segm_a');
    segmGt = path.join(dir, 'segm_gt.json');
    segmDt = path.join(dir, 'segm_dt.json');
    fs.writeFileSync(segmGt, JSON.stringify(s.gt));
    fs.writeFileSync(segmDt, JSON.stringify(s.results));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await cocoEvalMain(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  }

  it('prints pycocotools\' summary and writes the stats JSON (bbox)', async () => {
    const ref = readFixture<EvalCase>('eval_bbox_basic.json');
    const json = path.join(dir, 'out.json');
    const r = await run(['--gt', gtFile, '--dt', dtFile, '--iou-type', 'bbox', '--json', json]);
    expect(r.code).to.equal(0);
    expect(r.out).to.deep.equal(ref.expected.lines);
    const written = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(written.iouType).to.equal('bbox');
    expect(written.stats).to.deep.equal(ref.expected.stats);
  });

  it('evaluates masks with --iou-type segm', async () => {
    const ref = readFixture<EvalCase>('eval_segm_masks.json');
    const r = await run(['--gt', segmGt, '--dt', segmDt, '--iou-type=segm']);
    expect(r.code).to.equal(0);
    expect(r.out).to.deep.equal(ref.expected.lines);
  });

  it('passes --use-cats, --max-dets, --img-ids and --cat-ids to the parameters', async () => {
    const ref = readFixture<EvalCase>('eval_bbox_custom_params.json');
    const json = path.join(dir, 'custom.json');
    const p = ref.expected;
    const r = await run([
      '--gt', gtFile, '--dt', dtFile, '--iou-type', 'bbox', '--max-dets', '20,1,5',
      '--img-ids', ref.params.imgIds!.join(','), '--cat-ids', ref.params.catIds!.join(','), '--json', json,
    ]);
    expect(r.code).to.equal(0);
    expect(JSON.parse(fs.readFileSync(json, 'utf8')).stats).to.deep.equal(p.stats);
    const u = await run(['--gt', gtFile, '--dt', dtFile, '--iou-type', 'bbox', '--use-cats', '0']);
    expect(u.out).to.deep.equal(readFixture<EvalCase>('eval_bbox_usecats0.json').expected.lines);
  });

  it('also accepts --iou-type keypoints (10 stats)', async () => {
    const ref = readFixture<EvalCase>('eval_keypoints.json');
    const k = loadData('kps_a');
    const g = path.join(dir, 'kps_gt.json');
    const t = path.join(dir, 'kps_dt.json');
    fs.writeFileSync(g, JSON.stringify(k.gt));
    fs.writeFileSync(t, JSON.stringify(k.results));
    const r = await run(['--gt', g, '--dt', t, '--iou-type', 'keypoints']);
    expect(r.code).to.equal(0);
    expect(r.out).to.deep.equal(ref.expected.lines);
  });

  const bad: [string, () => string[], RegExp][] = [
    ['a missing required flag', () => ['--gt', gtFile, '--iou-type', 'bbox'], /--dt is required/],
    ['an unknown flag', () => ['--gt', gtFile, '--dt', dtFile, '--iou-type', 'bbox', '--foo', '1'], /unknown argument '--foo'/],
    ['a bad iou type', () => ['--gt', gtFile, '--dt', dtFile, '--iou-type', 'keypoint'], /--iou-type must be bbox or segm/],
    ['bad --max-dets', () => ['--gt', gtFile, '--dt', dtFile, '--iou-type', 'bbox', '--max-dets', '1,x,3'], /--max-dets must be/],
    ['too few --max-dets', () => ['--gt', gtFile, '--dt', dtFile, '--iou-type', 'bbox', '--max-dets', '1,10'], /at least 3/],
    ['bad --use-cats', () => ['--gt', gtFile, '--dt', dtFile, '--iou-type', 'bbox', '--use-cats', '2'], /--use-cats must be 0 or 1/],
    ['a missing file', () => ['--gt', path.join(dir, 'nope.json'), '--dt', dtFile, '--iou-type', 'bbox'], /nope\.json: cannot read ground truth/],
  ];
  for (const [what, argv, re] of bad) {
    it(`exits 2 on ${what}`, async () => {
      const r = await run(argv());
      expect(r.code).to.equal(2);
      expect(r.err.join('\n')).to.match(re);
      expect(r.out).to.deep.equal([]);
    });
  }

  const badInput: [string, (d: { gt: any; results: any[] }) => void, RegExp][] = [
    ['results for an unknown image id', (d) => (d.results[3].image_id = 424242), /results\[3\]: image_id 424242 is not an image/],
    ['a result with a 3-number bbox', (d) => (d.results[5].bbox = [1, 2, 3]), /results\[5\]: "bbox" must be \[x, y, width, height\]/],
    ['a result without score', (d) => delete d.results[0].score, /results\[0\]: missing "score"/],
    ['a ground truth without iscrowd', (d) => delete d.gt.annotations[2].iscrowd, /annotations\[2\] \(id \d+\): missing "iscrowd"/],
    ['a ground truth with a bad bbox', (d) => (d.gt.annotations[4].bbox = [1, 2]), /annotations\[4\] \(id \d+\): "bbox" must be/],
    ['ground truth without images', (d) => delete d.gt.images, /needs a "images" list/],
  ];
  for (const [what, mutate, re] of badInput) {
    it(`exits 2 naming the record on ${what}`, async () => {
      const d = JSON.parse(JSON.stringify(data));
      mutate(d);
      const g = path.join(dir, 'bad_gt.json');
      const t = path.join(dir, 'bad_dt.json');
      fs.writeFileSync(g, JSON.stringify(d.gt));
      fs.writeFileSync(t, JSON.stringify(d.results));
      const r = await run(['--gt', g, '--dt', t, '--iou-type', 'bbox']);
      expect(r.code).to.equal(2);
      expect(r.err.join('\n')).to.match(re);
    });
  }

  it('exits 2 on a results file that is not JSON', async () => {
    const t = path.join(dir, 'garbage.json');
    fs.writeFileSync(t, '[{"image_id": 7,');
    const r = await run(['--gt', gtFile, '--dt', t, '--iou-type', 'bbox']);
    expect(r.code).to.equal(2);
    expect(r.err.join('\n')).to.match(/garbage\.json: results is not valid JSON/);
  });
});
