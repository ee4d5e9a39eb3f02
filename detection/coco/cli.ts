/**
 * `sslight coco-eval`: pycocotools-equivalent evaluation of a results file.
 *
 *   sslight coco-eval --gt GT.json --dt RESULTS.json --iou-type bbox|segm
 *       [--use-cats 0|1] [--max-dets 1,10,100] [--img-ids 1,2,3] [--cat-ids 1,3] [--json OUT.json]
 *
 * Prints the 12 summary lines as pycocotools does; --json also writes {"iouType", "stats"}.
 * (--iou-type keypoints is accepted as well and gives pycocotools' 10 keypoint stats.)
 * Exit codes: 0 ok, 2 bad usage or malformed input (the message names the flag, file or record).
 * Parses a plain argv array itself so it can be wired into any command front end.
 */
import * as fs from 'fs';
import { COCO } from './coco';
import { COCOeval } from './cocoeval';
import { CocoFormatError, MaskError } from './errors';
import type { IouType } from './params';
import type { CocoDataset, CocoResult } from './types';

const USAGE =
  'usage: sslight coco-eval --gt GT.json --dt RESULTS.json --iou-type bbox|segm ' +
  '[--use-cats 0|1] [--max-dets 1,10,100] [--img-ids 1,2,3] [--cat-ids 1,3] [--json OUT.json]';

const FLAGS = ['--gt', '--dt', '--iou-type', '--use-cats', '--max-dets', '--img-ids', '--cat-ids', '--json'] as const;
type Flag = (typeof FLAGS)[number];

/** Bad command line: reported with the usage line, exit code 2. */
class UsageError extends Error {}

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const defaultIo: CliIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

export interface CocoEvalOptions {
  gt: string;
  dt: string;
  iouType: IouType;
  useCats?: number;
  maxDets?: number[];
  imgIds?: number[];
  catIds?: number[];
  json?: string;
}

export function parseCocoEvalArgs(argv: readonly string[]): CocoEvalOptions {
  const vals = new Map<Flag, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = (eq >= 0 ? arg.slice(0, eq) : arg) as Flag;
    if (!FLAGS.includes(name)) throw new UsageError(`unknown argument '${arg}'`);
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || value === '' || (eq < 0 && value.startsWith('--'))) throw new UsageError(`${name} needs a value`);
    if (vals.has(name)) throw new UsageError(`${name} given more than once`);
    vals.set(name, value);
  }
  const gt = vals.get('--gt');
  const dt = vals.get('--dt');
  const iouType = vals.get('--iou-type');
  if (!gt) throw new UsageError('--gt is required');
  if (!dt) throw new UsageError('--dt is required');
  if (!iouType) throw new UsageError('--iou-type is required');
  // keypoints works too (10 stats, pycocotools' keypoint summary), beyond the documented bbox|segm.
  if (iouType !== 'bbox' && iouType !== 'segm' && iouType !== 'keypoints') {
    throw new UsageError(`--iou-type must be bbox or segm (or keypoints), got '${iouType}'`);
  }
  const opts: CocoEvalOptions = { gt, dt, iouType };
  const useCats = vals.get('--use-cats');
  if (useCats !== undefined) {
    if (useCats !== '0' && useCats !== '1') throw new UsageError(`--use-cats must be 0 or 1, got '${useCats}'`);
    opts.useCats = Number(useCats);
  }
  const maxDets = vals.get('--max-dets');
  if (maxDets !== undefined) {
    opts.maxDets = intList('--max-dets', maxDets, 1);
    if (opts.maxDets.length < 3) throw new UsageError(`--max-dets needs at least 3 values (the summary reads 3), got '${maxDets}'`);
  }
  const imgIds = vals.get('--img-ids');
  if (imgIds !== undefined) opts.imgIds = intList('--img-ids', imgIds, -Infinity);
  const catIds = vals.get('--cat-ids');
  if (catIds !== undefined) opts.catIds = intList('--cat-ids', catIds, -Infinity);
  const json = vals.get('--json');
  if (json !== undefined) opts.json = json;
  return opts;
}

function intList(flag: string, s: string, min: number): number[] {
  const parts = s.split(',').map((x) => x.trim());
  return parts.map((x) => {
    const v = Number(x);
    if (x === '' || !Number.isInteger(v) || v < min) {
      throw new UsageError(`${flag} must be a comma-separated list of ${min >= 1 ? 'positive ' : ''}integers, got '${s}'`);
    }
    return v;
  });
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CocoFormatError(file, `cannot read ${what}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CocoFormatError(file, `${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Runs the evaluation; returns the stats and printed lines. */
export function runCocoEval(
  opts: CocoEvalOptions,
  onProgress?: (done: number, total: number) => void,
): { stats: number[]; lines: string[] } {
  const gtData = readJson(opts.gt, 'ground truth');
  if (gtData === null || typeof gtData !== 'object' || Array.isArray(gtData)) {
    throw new CocoFormatError(opts.gt, 'ground truth must be a JSON object with "images", "annotations" and "categories"');
  }
  for (const key of ['images', 'annotations', 'categories']) {
    if (!Array.isArray((gtData as Record<string, unknown>)[key])) throw new CocoFormatError(opts.gt, `ground truth needs a "${key}" list`);
  }
  checkGt(gtData as Record<string, unknown[]>, opts.gt);
  const cocoGt = new COCO(gtData as CocoDataset);
  const results = readJson(opts.dt, 'results');
  if (!Array.isArray(results)) throw new CocoFormatError(opts.dt, 'results must be a JSON array of detection objects');
  const cocoDt = cocoGt.loadRes(results as CocoResult[]); // loadRes checks every record
  const E = new COCOeval(cocoGt, cocoDt, opts.iouType);
  if (opts.useCats !== undefined) E.params.useCats = opts.useCats;
  if (opts.maxDets) E.params.maxDets = opts.maxDets;
  if (opts.imgIds) E.params.imgIds = opts.imgIds;
  if (opts.catIds) E.params.catIds = opts.catIds;
  E.onProgress = onProgress;
  E.evaluate();
  E.accumulate();
  const stats = E.summarize();
  return { stats, lines: E.summaryLines };
}

/** The keys evaluation reads from every ground-truth record, checked up front with the record named. */
function checkGt(d: Record<string, unknown[]>, file: string): void {
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  d.images.forEach((img, i) => {
    if (!isObj(img) || typeof img.id !== 'number') throw new CocoFormatError(`${file}: images[${i}]`, 'needs a numeric "id"');
  });
  d.categories.forEach((c, i) => {
    if (!isObj(c) || typeof c.id !== 'number') throw new CocoFormatError(`${file}: categories[${i}]`, 'needs a numeric "id"');
  });
  d.annotations.forEach((a, i) => {
    const name = `${file}: annotations[${i}]${isObj(a) && a.id !== undefined ? ` (id ${String(a.id)})` : ''}`;
    if (!isObj(a)) throw new CocoFormatError(name, 'must be an object');
    for (const key of ['id', 'image_id', 'category_id', 'area']) {
      if (typeof a[key] !== 'number') throw new CocoFormatError(name, `missing numeric "${key}"`);
    }
    if (!('iscrowd' in a)) throw new CocoFormatError(name, 'missing "iscrowd" (0 or 1)');
    if ('bbox' in a && !(Array.isArray(a.bbox) && a.bbox.length === 4 && a.bbox.every((v) => typeof v === 'number'))) {
      throw new CocoFormatError(name, `"bbox" must be [x, y, width, height] (4 numbers), got ${JSON.stringify(a.bbox)}`);
    }
  });
}

/** `onProgress` reports the matching phase (the long one) to the caller's progress display. */
export async function cocoEvalMain(
  argv: string[],
  io: CliIo = defaultIo,
  onProgress?: (done: number, total: number) => void,
): Promise<number> {
  let opts: CocoEvalOptions;
  try {
    opts = parseCocoEvalArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`coco-eval: ${e.message}`);
      io.err(USAGE);
      return 2;
    }
    throw e;
  }
  try {
    const { stats, lines } = runCocoEval(opts, onProgress);
    for (const l of lines) io.out(l);
    if (opts.json) fs.writeFileSync(opts.json, `${JSON.stringify({ iouType: opts.iouType, stats }, null, 2)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof CocoFormatError || e instanceof MaskError) {
      io.err(`coco-eval: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
