/**
 * COCO evaluation benchmark: a generated COCO-sized problem (5,000 images, 80 categories,
 * ~36k ground-truth boxes, ~100k detections; masks on 500 images) timed through
 * evaluate + accumulate, the part pycocotools spends its time in.
 *
 * The problem is generated deterministically from a seed with its own PRNG. With `writeDir` the
 * ground truth and results are written as COCO JSON so bench/reference/coco_pycocotools.py can
 * time pycocotools on exactly the same input; when /usr/bin/python3 can import pycocotools the
 * comparison runs here too (set PYTHONPATH for a local build).
 *
 *   node dist/bench/coco_bench.js [--quick] [--write DIR] [--no-python] [--repeats N] [--python-repeats N]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { COCO, COCOeval, CocoAnnotation, CocoDataset, CocoResult, countsToString, rleFrBbox, rleFrPoly } from '../detection/coco';

export interface CocoBenchOptions {
  quick?: boolean;
  /** Write gt_bbox.json, dt_bbox.json, gt_segm.json, dt_segm.json here. */
  writeDir?: string;
  /** Run bench/reference/coco_pycocotools.py when pycocotools is importable (default true). */
  python?: boolean;
  /** Timed repetitions of our evaluation (fastest and median reported). */
  repeats?: number;
  /** Timed repetitions of pycocotools (default 1: it takes ~30 s per bbox run). */
  pythonRepeats?: number;
}

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const r2 = (x: number) => Math.round(x * 100) / 100;
/** COCO's 80 category ids (1..90 with gaps). */
const COCO_CAT_IDS = Array.from({ length: 90 }, (_, i) => i + 1).filter((id) => ![12, 26, 29, 30, 45, 66, 68, 69, 71, 83].includes(id));

interface Problem {
  gt: CocoDataset;
  results: CocoResult[];
}

/** Star-shaped polygon inscribed in box b (flat x, y list). */
function starPolygon(rand: () => number, b: number[]): number[] {
  const k = 8 + Math.floor(rand() * 9);
  const angles = Array.from({ length: k }, () => rand() * 2 * Math.PI).sort((x, y) => x - y);
  const cx = b[0] + b[2] / 2;
  const cy = b[1] + b[3] / 2;
  const out: number[] = [];
  for (const a of angles) {
    const s = 0.6 + 0.4 * rand();
    out.push(r2(cx + (Math.cos(a) * s * b[2]) / 2), r2(cy + (Math.sin(a) * s * b[3]) / 2));
  }
  return out;
}

function shoelace(p: number[]): number {
  let s = 0;
  const n = p.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    s += p[2 * i] * p[2 * j + 1] - p[2 * j] * p[2 * i + 1];
  }
  return Math.abs(s) / 2;
}

function extent(p: number[]): number[] {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < p.length; i += 2) {
    x0 = Math.min(x0, p[i]);
    x1 = Math.max(x1, p[i]);
    y0 = Math.min(y0, p[i + 1]);
    y1 = Math.max(y1, p[i + 1]);
  }
  return [x0, y0, r2(x1 - x0), r2(y1 - y0)];
}

/**
 * Builds the problem. `masks`: ground truth gets polygon (crowd: uncompressed RLE) segmentations
 * and detections compressed-RLE masks instead of boxes.
 */
export function generateCocoProblem(numImages: number, seed: number, masks: boolean): Problem {
  const rand = prng(seed);
  const images: CocoDataset['images'] = [];
  const anns: CocoAnnotation[] = [];
  const results: CocoResult[] = [];
  let annId = 1;
  const pickCat = () => (rand() < 0.25 ? 1 : COCO_CAT_IDS[1 + Math.floor(rand() * 79)]);
  const randomBox = (W: number, H: number, minS: number, maxS: number) => {
    const s = Math.exp(Math.log(minS) + rand() * (Math.log(maxS) - Math.log(minS)));
    const ar = Math.exp((rand() - 0.5) * 1.5);
    const w = Math.min(W - 1, s * Math.sqrt(ar));
    const h = Math.min(H - 1, s / Math.sqrt(ar));
    return [r2(rand() * (W - w)), r2(rand() * (H - h)), r2(w), r2(h)];
  };
  for (let i = 0; i < numImages; i++) {
    const id = 1000 + i * 7;
    const [W, H] = rand() < 0.7 ? [640, 480] : [480, 640];
    images.push({ id, width: W, height: H, file_name: `${id}.jpg` });
    const nGt = Math.min(40, Math.floor(-Math.log(1 - rand()) * 7.7));
    const dets: CocoResult[] = [];
    const addDet = (cat: number, box: number[], poly: number[] | null, score: number) => {
      const rec: CocoResult = { image_id: id, category_id: cat, score: Math.round(score * 1000) / 1000 };
      if (masks) {
        const r = poly ? rleFrPoly(poly, H, W) : rleFrBbox(box, H, W);
        rec.segmentation = { size: [H, W], counts: countsToString(r.counts) };
      } else rec.bbox = box;
      dets.push(rec);
    };
    for (let j = 0; j < nGt; j++) {
      const cat = pickCat();
      const crowd = rand() < 0.01 ? 1 : 0;
      let box = randomBox(W, H, 6, crowd ? 500 : 400);
      const ann: CocoAnnotation = { id: annId++, image_id: id, category_id: cat, iscrowd: crowd, bbox: box, area: 0 };
      let poly: number[] | null = null;
      if (masks && !crowd) {
        poly = starPolygon(rand, box);
        box = extent(poly);
        ann.bbox = box;
        ann.segmentation = [poly];
        ann.area = r2(shoelace(poly));
      } else if (masks) {
        const r = rleFrBbox(box, H, W);
        ann.segmentation = { size: [H, W], counts: Array.from(r.counts) };
        ann.area = r2(box[2] * box[3]);
      } else {
        ann.area = r2(box[2] * box[3] * (0.6 + 0.3 * rand()));
      }
      anns.push(ann);
      if (crowd) continue;
      const copies = rand() < 0.75 ? (rand() < 0.15 ? 2 : 1) : 0;
      for (let c = 0; c < copies; c++) {
        const sd = 0.03 + 0.15 * rand();
        const dx = (rand() - 0.5) * 2 * sd * box[2];
        const dy = (rand() - 0.5) * 2 * sd * box[3];
        const sx = 1 + (rand() - 0.5) * 2 * sd;
        const sy = 1 + (rand() - 0.5) * 2 * sd;
        const dBox = [r2(box[0] + dx), r2(box[1] + dy), r2(Math.max(1, box[2] * sx)), r2(Math.max(1, box[3] * sy))];
        const dPoly = poly ? poly.map((v, q) => r2(q % 2 === 0 ? box[0] + dx + (v - box[0]) * sx : box[1] + dy + (v - box[1]) * sy)) : null;
        const dCat = rand() < 0.05 ? pickCat() : cat;
        addDet(dCat, dBox, dPoly, c === 0 ? 0.3 + 0.7 * Math.sqrt(rand()) : 0.5 * rand());
      }
    }
    const nFp = Math.max(0, 20 - dets.length + Math.floor(rand() * 11) - 5);
    for (let j = 0; j < nFp; j++) {
      const box = randomBox(W, H, 8, 300);
      addDet(pickCat(), box, masks ? starPolygon(rand, box) : null, 0.6 * rand());
    }
    for (const d of dets) results.push(d);
  }
  const categories = COCO_CAT_IDS.map((cid) => ({ id: cid, name: `cat${cid}`, supercategory: 'thing' }));
  return { gt: { info: { description: 'sslight coco bench (generated)' }, images, annotations: anns, categories }, results };
}

interface Timed {
  images: number;
  gt: number;
  dt: number;
  loadRes_s: number;
  /** evaluate + accumulate: fastest of the repeats (the least disturbed by other load). */
  eval_accumulate_s: number;
  eval_accumulate_median_s: number;
  eval_accumulate_first_s: number;
  /** evaluate and accumulate of the fastest repeat. */
  evaluate_s: number;
  accumulate_s: number;
  repeats: number;
  stats: number[];
}

function timeOurs(p: Problem, iouType: 'bbox' | 'segm', repeats: number): Timed {
  const gt = new COCO(p.gt);
  let t = performance.now();
  const dt = gt.loadRes(p.results);
  const loadRes = (performance.now() - t) / 1000;
  const runs: { ev: number; acc: number; stats: number[] }[] = [];
  for (let r = 0; r < repeats; r++) {
    const E = new COCOeval(gt, dt, iouType);
    t = performance.now();
    E.evaluate();
    const ev = (performance.now() - t) / 1000;
    t = performance.now();
    E.accumulate();
    const acc = (performance.now() - t) / 1000;
    runs.push({ ev, acc, stats: E.summarize() });
  }
  const totals = runs.map((r) => r.ev + r.acc);
  const sorted = [...totals].sort((a, b) => a - b);
  const best = runs[totals.indexOf(sorted[0])];
  return {
    images: p.gt.images!.length,
    gt: p.gt.annotations!.length,
    dt: p.results.length,
    loadRes_s: loadRes,
    eval_accumulate_s: sorted[0],
    eval_accumulate_median_s: sorted[Math.floor(sorted.length / 2)],
    eval_accumulate_first_s: totals[0],
    evaluate_s: best.ev,
    accumulate_s: best.acc,
    repeats,
    stats: best.stats,
  };
}

function pycocotoolsReference(dir: string, parts: string[], repeats: number): Record<string, { eval_accumulate_s: number; stats: number[] }> | null {
  const py = '/usr/bin/python3';
  if (!fs.existsSync(py)) return null;
  try {
    execFileSync(py, ['-c', 'import pycocotools.cocoeval'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const script = findUp(path.join('bench', 'reference', 'coco_pycocotools.py'));
  if (!script) return null;
  const out = execFileSync(py, [script, '--repeats', String(repeats), dir, ...parts], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop() as string);
}

/** The first `rel` found walking up from this file (dist/bench/ or another build folder). */
function findUp(rel: string): string | null {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, rel))) return path.join(dir, rel);
  }
  return null;
}

export async function runCocoBench(opts: CocoBenchOptions = {}): Promise<Record<string, unknown>> {
  const quick = !!opts.quick;
  const nBox = quick ? 500 : 5000;
  const nSegm = quick ? 100 : 500;
  const repeats = opts.repeats ?? (quick ? 1 : 3);
  let t = performance.now();
  const boxes = generateCocoProblem(nBox, 2024, false);
  const segm = generateCocoProblem(nSegm, 7, true);
  const generate_s = (performance.now() - t) / 1000;

  const result: Record<string, unknown> = { quick, generate_s, cpus: os.cpus().length, cpu: os.cpus()[0]?.model };
  const bbox = timeOurs(boxes, 'bbox', repeats);
  const masks = timeOurs(segm, 'segm', repeats);
  result.bbox = bbox;
  result.segm = masks;

  const dir = opts.writeDir ?? (opts.python === false ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'coco-bench-')));
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'gt_bbox.json'), JSON.stringify(boxes.gt));
    fs.writeFileSync(path.join(dir, 'dt_bbox.json'), JSON.stringify(boxes.results));
    fs.writeFileSync(path.join(dir, 'gt_segm.json'), JSON.stringify(segm.gt));
    fs.writeFileSync(path.join(dir, 'dt_segm.json'), JSON.stringify(segm.results));
    result.dir = dir;
    if (opts.python !== false) {
      const ref = pycocotoolsReference(dir, ['bbox', 'segm'], opts.pythonRepeats ?? 1);
      if (ref) {
        result.pycocotools = ref;
        for (const [name, ours] of [['bbox', bbox], ['segm', masks]] as const) {
          const theirs = ref[name];
          if (!theirs) continue;
          result[`${name}_speedup`] = theirs.eval_accumulate_s / ours.eval_accumulate_s;
          result[`${name}_max_stat_diff`] = Math.max(...ours.stats.map((s, i) => Math.abs(s - theirs.stats[i])));
        }
      }
    }
    if (!opts.writeDir) fs.rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const w = argv.indexOf('--write');
  runCocoBench({
    quick: argv.includes('--quick'),
    writeDir: w >= 0 ? argv[w + 1] : undefined,
    python: !argv.includes('--no-python'),
    repeats: argv.includes('--repeats') ? Number(argv[argv.indexOf('--repeats') + 1]) : undefined,
    pythonRepeats: argv.includes('--python-repeats') ? Number(argv[argv.indexOf('--python-repeats') + 1]) : undefined,
  })
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
