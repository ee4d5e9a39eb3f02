#!/usr/bin/env python3
"""Times pycocotools on the problem bench/coco_bench.ts generates, for a same-machine comparison.

    node dist/bench/coco_bench.js --write /tmp/coco-bench --no-python   # writes the JSON files
    python3 bench/reference/coco_pycocotools.py [--repeats N] /tmp/coco-bench bbox segm

Reads gt_<type>.json / dt_<type>.json from the directory, times COCOeval.evaluate() +
accumulate() (what the TypeScript bench times; fastest of N repeats) and prints one JSON line:
{"bbox": {"eval_accumulate_s", "evaluate_s", "accumulate_s", "loadRes_s", "stats", ...}, ...}.
Only for benchmarking; the project never depends on Python.
"""
import contextlib
import io
import json
import os
import sys
import time

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def run_once(directory, iou_type):
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        gt = COCO(os.path.join(directory, 'gt_%s.json' % iou_type))
        t = time.perf_counter()
        dt = gt.loadRes(os.path.join(directory, 'dt_%s.json' % iou_type))
        load_res = time.perf_counter() - t
        E = COCOeval(gt, dt, iou_type)
        t = time.perf_counter()
        E.evaluate()
        t_eval = time.perf_counter() - t
        t = time.perf_counter()
        E.accumulate()
        t_acc = time.perf_counter() - t
        E.summarize()
    return {
        'eval_accumulate_s': t_eval + t_acc,
        'evaluate_s': t_eval,
        'accumulate_s': t_acc,
        'loadRes_s': load_res,
        'stats': [float(s) for s in E.stats],
    }


def run(directory, iou_type, repeats):
    runs = [run_once(directory, iou_type) for _ in range(repeats)]
    best = min(runs, key=lambda r: r['eval_accumulate_s'])
    best['eval_accumulate_all_s'] = [r['eval_accumulate_s'] for r in runs]
    best['repeats'] = repeats
    return best


def main():
    args = sys.argv[1:]
    repeats = 1
    if args[:1] == ['--repeats']:
        repeats = int(args[1])
        args = args[2:]
    directory = args[0]
    parts = args[1:] or ['bbox', 'segm']
    print(json.dumps({p: run(directory, p, repeats) for p in parts}))


if __name__ == '__main__':
    main()
