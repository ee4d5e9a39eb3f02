#!/usr/bin/env python3
"""Writes the pycocotools reference fixtures under test/fixtures/coco/.

Not run by CI, and the project never depends on Python: this script only records what
pycocotools itself computes, so the TypeScript port can be tested against it.

Needs numpy and pycocotools (the PyPI release, 2.0.8 or later, or a build of
github.com/ppwwyyxx/cocoapi which it is made from). Run from the repository root:

    python3 detection/coco/testdata/make_reference.py [--coco-mini /path/to/coco-mini]

Every case is generated from a fixed seed, so rerunning gives the same files.
"""
import argparse
import contextlib
import copy
import io
import json
import os
import random
import sys

import numpy as np
import pycocotools
from pycocotools import mask as maskUtils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

OUT = os.path.join('test', 'fixtures', 'coco')


def r2(x):
    return round(float(x), 2)


def quiet(fn, *a, **k):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*a, **k)
    return out, buf.getvalue()


def coco_from(dataset):
    c = COCO()
    c.dataset = copy.deepcopy(dataset)
    quiet(c.createIndex)
    return c


def rle_json(r):
    counts = r['counts'] if isinstance(r['counts'], str) else r['counts'].decode('ascii')
    return {'size': [int(r['size'][0]), int(r['size'][1])], 'counts': counts}


# ----------------------------------------------------------------------------- cases

def boundary_box(rng):
    """Boxes whose w*h sits on or next to the 32^2 / 96^2 area limits."""
    w, h = rng.choice([(32, 32), (16, 64), (96, 96), (48, 192), (31.99, 32), (32.01, 32), (96.01, 96), (95.99, 96)])
    return float(w), float(h)


def random_box(rng, W, H):
    kind = rng.random()
    if kind < 0.25:
        w, h = boundary_box(rng)
    else:
        s = np.exp(rng.uniform(np.log(4), np.log(min(W, H) * 0.9)))
        ar = np.exp(rng.uniform(-0.8, 0.8))
        w, h = r2(s * ar), r2(s / ar)
    x = r2(rng.uniform(-5, max(1, W - w * 0.8)))
    y = r2(rng.uniform(-5, max(1, H - h * 0.8)))
    return [x, y, w, h]


def jitter(rng, b, amount):
    x, y, w, h = b
    return [r2(x + rng.gauss(0, amount * w)), r2(y + rng.gauss(0, amount * h)),
            r2(max(0.5, w * (1 + rng.gauss(0, amount)))), r2(max(0.5, h * (1 + rng.gauss(0, amount))))]


def make_bbox_case(seed, n_img, cat_ids, max_gt, dets_per_img_extra, tie_levels, many=False):
    rng = random.Random(seed)
    images, anns, res = [], [], []
    cats = [{'id': c, 'name': 'c%d' % c, 'supercategory': 's%d' % (c % 2)} for c in cat_ids]
    aid = 1000
    for i in range(n_img):
        iid = 7 + 3 * i
        W, H = rng.randint(120, 640), rng.randint(120, 640)
        images.append({'id': iid, 'width': W, 'height': H, 'file_name': '%d.jpg' % iid})
        n_gt = 0 if i % 7 == 3 else rng.randint(1, max_gt)
        gts = []
        for _ in range(n_gt):
            b = random_box(rng, W, H)
            crowd = 1 if rng.random() < 0.08 else 0
            if crowd:
                b = [b[0], b[1], r2(b[2] * 2 + 20), r2(b[3] * 2 + 20)]
            area_mode = rng.random()
            if area_mode < 0.6:
                area = r2(b[2] * b[3])
            elif area_mode < 0.8:
                area = r2(b[2] * b[3] * rng.uniform(0.4, 1.0))
            else:
                area = float(rng.choice([1024, 9216, 1023.99, 1024.01, 9215.5, 9216.01]))
            aid += rng.randint(1, 3)
            g = {'id': aid, 'image_id': iid, 'category_id': rng.choice(cat_ids), 'bbox': b,
                 'area': area, 'iscrowd': crowd, 'segmentation': [[b[0], b[1], b[0], b[1] + b[3], b[0] + b[2], b[1] + b[3], b[0] + b[2], b[1]]]}
            gts.append(g)
            anns.append(g)
        if i % 11 == 5:
            continue  # an image without detections
        dets = []
        for g in gts:
            if rng.random() < 0.85:
                for _ in range(1 if rng.random() < 0.8 else 3):  # duplicates
                    cat = g['category_id'] if rng.random() < 0.9 else rng.choice(cat_ids)
                    dets.append((jitter(rng, g['bbox'], rng.choice([0.02, 0.05, 0.1, 0.25])), cat))
            if g['iscrowd']:
                for _ in range(rng.randint(1, 4)):
                    x, y, w, h = g['bbox']
                    dets.append(([r2(x + rng.uniform(0, w / 2)), r2(y + rng.uniform(0, h / 2)), r2(w / 4), r2(h / 4)], g['category_id']))
        for _ in range(rng.randint(0, dets_per_img_extra)):
            if rng.random() < 0.2:
                w, h = boundary_box(rng)
                dets.append(([r2(rng.uniform(0, W - 10)), r2(rng.uniform(0, H - 10)), w, h], rng.choice(cat_ids)))
            else:
                dets.append((random_box(rng, W, H), rng.choice(cat_ids)))
        rng.shuffle(dets)
        for b, cat in dets:
            score = round(rng.random(), 1 if rng.random() < tie_levels else 4)
            res.append({'image_id': iid, 'category_id': cat, 'bbox': b, 'score': score})
    gt = {'info': {'description': 'generated'}, 'images': images, 'annotations': anns, 'categories': cats}
    return gt, res


def star_polygon(rng, cx, cy, r, n):
    pts = []
    angs = sorted(rng.uniform(0, 2 * np.pi) for _ in range(n))
    for a in angs:
        rr = r * rng.uniform(0.5, 1.0)
        pts += [r2(cx + rr * np.cos(a)), r2(cy + rr * np.sin(a))]
    return pts


def blob_mask(rng, H, W):
    m = np.zeros((H, W), dtype=np.uint8)
    for _ in range(rng.randint(1, 3)):
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        rx, ry = rng.uniform(2, W / 3), rng.uniform(2, H / 3)
        yy, xx = np.mgrid[0:H, 0:W]
        m |= (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1).astype(np.uint8)
    return m


def make_segm_case(seed, n_img):
    rng = random.Random(seed)
    cat_ids = [2, 5, 9]
    images, anns, res = [], [], []
    aid = 1
    for i in range(n_img):
        iid = 1 + i
        W, H = rng.randint(60, 130), rng.randint(60, 130)
        images.append({'id': iid, 'width': W, 'height': H})
        n_gt = 0 if i == 4 else rng.randint(1, 5)
        gts = []
        for j in range(n_gt):
            cat = rng.choice(cat_ids)
            kind = rng.random()
            if kind < 0.12:  # crowd region, uncompressed RLE with its own size
                m = blob_mask(rng, H, W)
                ucounts = uncompressed_counts(m)
                segm = {'size': [H, W], 'counts': ucounts}
                area = float(m.sum())
                crowd = 1
            elif kind < 0.2:  # compressed RLE ground truth
                m = blob_mask(rng, H, W)
                segm = rle_json(maskUtils.encode(np.asfortranarray(m)))
                area = float(m.sum())
                crowd = 0
            else:
                r = rng.uniform(2, min(W, H) / 2)
                polys = [star_polygon(rng, rng.uniform(-3, W + 3), rng.uniform(-3, H + 3), r, rng.randint(3, 9))]
                if rng.random() < 0.2:
                    polys.append(star_polygon(rng, rng.uniform(0, W), rng.uniform(0, H), r / 2, rng.randint(3, 6)))
                segm = polys
                rles = maskUtils.frPyObjects(polys, H, W)
                area = float(maskUtils.area(maskUtils.merge(rles)))
                if rng.random() < 0.3:
                    area = r2(area * rng.uniform(0.8, 1.2))
                crowd = 0
            g = {'id': aid, 'image_id': iid, 'category_id': cat, 'segmentation': segm, 'area': area, 'iscrowd': crowd}
            c = COCO()
            c.imgs = {iid: images[-1]}
            g['bbox'] = [float(v) for v in maskUtils.toBbox(c.annToRLE(g))]
            aid += 1
            gts.append(g)
            anns.append(g)
        if i == 7:
            continue
        for g in gts:
            c = COCO()
            c.imgs = {iid: images[-1]}
            m = maskUtils.decode(c.annToRLE(g))
            for _ in range(rng.randint(0, 2)):
                dm = m.copy()
                # perturb: shift and flip a few pixels
                dx, dy = rng.randint(-1, 1), rng.randint(-1, 1)
                dm = np.roll(np.roll(dm, dx, axis=1), dy, axis=0)
                x0, y0, bw, bh = [int(v) for v in maskUtils.toBbox(maskUtils.encode(np.asfortranarray(dm)))]
                noise = np.zeros((H, W), dtype=np.uint8)
                for yy in range(max(0, y0 - 1), min(H, y0 + bh + 1)):
                    for xx in range(max(0, x0 - 1), min(W, x0 + bw + 1)):
                        noise[yy, xx] = rng.random() < 0.04
                dm = (dm ^ noise).astype(np.uint8)
                cat = g['category_id'] if rng.random() < 0.9 else rng.choice(cat_ids)
                res.append(seg_result(rng, iid, cat, dm))
        for _ in range(rng.randint(0, 3)):
            res.append(seg_result(rng, iid, rng.choice(cat_ids), blob_mask(rng, H, W)))
        if i == 2:
            res.append(seg_result(rng, iid, cat_ids[0], np.zeros((H, W), dtype=np.uint8)))  # empty mask
    cats = [{'id': c, 'name': 'c%d' % c, 'supercategory': 'x'} for c in cat_ids]
    return {'images': images, 'annotations': anns, 'categories': cats}, res


def uncompressed_counts(m):
    flat = np.asfortranarray(m).flatten(order='F')
    counts, p, c = [], 0, 0
    for v in flat:
        if v != p:
            counts.append(c)
            c = 0
            p = v
        c += 1
    counts.append(c)
    return counts


def seg_result(rng, iid, cat, m):
    rle = rle_json(maskUtils.encode(np.asfortranarray(m.astype(np.uint8))))
    return {'image_id': iid, 'category_id': cat, 'segmentation': rle, 'score': round(rng.random(), 1 if rng.random() < 0.3 else 3)}


# ----------------------------------------------------------------------------- evaluation

def run_eval(name, data, gt, res, iou_type, params=None, n_evalimgs=12, n_prec=300):
    cocoGt = coco_from(gt)
    cocoDt, _ = quiet(cocoGt.loadRes, copy.deepcopy(res))
    E = COCOeval(cocoGt, cocoDt, iou_type)
    params = params or {}
    if 'useCats' in params:
        E.params.useCats = params['useCats']
    if 'maxDets' in params:
        E.params.maxDets = list(params['maxDets'])
    if 'imgIds' in params:
        E.params.imgIds = list(params['imgIds'])
    if 'catIds' in params:
        E.params.catIds = list(params['catIds'])
    quiet(E.evaluate)
    quiet(E.accumulate)
    _, printed = quiet(E.summarize)
    prec = E.eval['precision']
    rng = random.Random(len(name) * 7919)
    flat = prec.reshape(-1)
    idx = sorted(set(rng.randrange(flat.size) for _ in range(n_prec)))
    nonempty = [n for n, e in enumerate(E.evalImgs) if e is not None]
    pick = sorted(set(nonempty[:: max(1, len(nonempty) // n_evalimgs)][:n_evalimgs] + nonempty[-2:]))
    evalimgs = []
    for n in pick:
        e = E.evalImgs[n]
        evalimgs.append({
            'index': n,
            'image_id': int(e['image_id']), 'category_id': int(e['category_id']),
            'aRng': [float(v) for v in e['aRng']], 'maxDet': int(e['maxDet']),
            'dtIds': [int(v) for v in e['dtIds']], 'gtIds': [int(v) for v in e['gtIds']],
            'dtMatches': e['dtMatches'].tolist(), 'gtMatches': e['gtMatches'].tolist(),
            'dtScores': [float(v) for v in e['dtScores']], 'gtIgnore': [int(v) for v in e['gtIgnore']],
            'dtIgnore': e['dtIgnore'].astype(int).tolist(),
        })
    return {
        'name': name,
        'iouType': iou_type,
        'params': params,
        'data': data,
        'expected': {
            'stats': [float(v) for v in E.stats],
            'lines': printed.rstrip('\n').split('\n'),
            'counts': [int(v) for v in E.eval['counts']],
            'evalImgsLength': len(E.evalImgs),
            'recall': E.eval['recall'].reshape(-1).tolist(),
            'precisionSamples': {'index': idx, 'value': [float(flat[i]) for i in idx]},
            'scoresSamples': {'index': idx, 'value': [float(E.eval['scores'].reshape(-1)[i]) for i in idx]},
            'evalImgs': evalimgs,
            'iouThrs': [float(v) for v in E.params.iouThrs],
            'recThrs': [float(v) for v in E.params.recThrs],
        },
    }


def make_kps_case(seed, n_img):
    """Person keypoints: 17 points, some invisible; gts without keypoints; crowd regions."""
    rng = random.Random(seed)
    images, anns, res = [], [], []
    aid = 1
    for i in range(n_img):
        iid = 50 + i
        W, H = rng.randint(200, 640), rng.randint(200, 640)
        images.append({'id': iid, 'width': W, 'height': H})
        for _ in range(0 if i == 3 else rng.randint(1, 6)):
            b = random_box(rng, W, H)
            crowd = 1 if rng.random() < 0.08 else 0
            kps, nk = [], 0
            no_kps = rng.random() < 0.15
            for _ in range(17):
                if no_kps or rng.random() < 0.25:
                    kps += [0, 0, 0]
                else:
                    kps += [r2(b[0] + rng.random() * b[2]), r2(b[1] + rng.random() * b[3]), rng.choice([1, 2])]
                    nk += 1
            area = float(rng.choice([r2(b[2] * b[3] * 0.6), 1024.0, 9216.0])) if rng.random() < 0.2 else r2(b[2] * b[3] * 0.6)
            g = {'id': aid, 'image_id': iid, 'category_id': 1, 'bbox': b, 'area': area, 'iscrowd': crowd,
                 'keypoints': kps, 'num_keypoints': nk}
            aid += 1
            anns.append(g)
            if crowd or i == 6:
                continue
            for _ in range(1 if rng.random() < 0.8 else 2):
                sd = rng.choice([1.0, 3.0, 8.0, 20.0])
                dk = []
                for q in range(17):
                    x, y, v = kps[3 * q: 3 * q + 3]
                    if v == 0:
                        x, y = b[0] + rng.random() * b[2], b[1] + rng.random() * b[3]
                    dk += [r2(x + rng.gauss(0, sd)), r2(y + rng.gauss(0, sd)), 1]
                res.append({'image_id': iid, 'category_id': 1, 'keypoints': dk, 'score': round(rng.random(), 2)})
        for _ in range(rng.randint(0, 3)):
            b = random_box(rng, W, H)
            dk = []
            for q in range(17):
                dk += [r2(b[0] + rng.random() * b[2]), r2(b[1] + rng.random() * b[3]), 1]
            res.append({'image_id': iid, 'category_id': 1, 'keypoints': dk, 'score': round(rng.random(), 2)})
    cats = [{'id': 1, 'name': 'person', 'supercategory': 'person'}]
    return {'images': images, 'annotations': anns, 'categories': cats}, res


def make_quirk_case():
    """Hand-made corner cases: a ground truth with id 0 (pycocotools then counts its match as a
    false positive), several detections inside one crowd region, areas exactly on the range
    limits, a category without ground truth, detections of a category unknown to the ground
    truth, equal scores across images, and an image without anything."""
    images = [{'id': i, 'width': 200, 'height': 200} for i in (1, 2, 3, 4)]
    cats = [{'id': 1, 'name': 'a'}, {'id': 2, 'name': 'b'}, {'id': 3, 'name': 'c'}]
    anns = [
        {'id': 0, 'image_id': 1, 'category_id': 1, 'bbox': [10, 10, 32, 32], 'area': 1024.0, 'iscrowd': 0},
        {'id': 5, 'image_id': 1, 'category_id': 1, 'bbox': [100, 100, 96, 96], 'area': 9216.0, 'iscrowd': 0},
        {'id': 6, 'image_id': 1, 'category_id': 2, 'bbox': [0, 0, 150, 150], 'area': 20000.0, 'iscrowd': 1},
        {'id': 7, 'image_id': 2, 'category_id': 2, 'bbox': [50, 50, 20, 20], 'area': 400.0, 'iscrowd': 0},
        {'id': 8, 'image_id': 2, 'category_id': 1, 'bbox': [50, 50, 20, 20], 'area': 1024.0, 'iscrowd': 0},
        {'id': 9, 'image_id': 3, 'category_id': 2, 'bbox': [5, 5, 31, 33], 'area': 1023.0, 'iscrowd': 0},
    ]
    res = [
        {'image_id': 1, 'category_id': 1, 'bbox': [10, 10, 32, 32], 'score': 0.9},
        {'image_id': 1, 'category_id': 1, 'bbox': [100, 100, 96, 96], 'score': 0.9},
        {'image_id': 1, 'category_id': 1, 'bbox': [101, 99, 95, 97], 'score': 0.5},
        {'image_id': 1, 'category_id': 2, 'bbox': [10, 10, 30, 30], 'score': 0.8},
        {'image_id': 1, 'category_id': 2, 'bbox': [60, 60, 30, 30], 'score': 0.8},
        {'image_id': 1, 'category_id': 2, 'bbox': [120, 120, 50, 50], 'score': 0.7},
        {'image_id': 2, 'category_id': 2, 'bbox': [50, 50, 20, 20], 'score': 0.9},
        {'image_id': 2, 'category_id': 1, 'bbox': [52, 50, 20, 20], 'score': 0.9},
        {'image_id': 2, 'category_id': 3, 'bbox': [0, 0, 32, 32], 'score': 0.6},
        {'image_id': 2, 'category_id': 99, 'bbox': [0, 0, 10, 10], 'score': 0.95},
        {'image_id': 3, 'category_id': 2, 'bbox': [5, 5, 32, 32], 'score': 0.3},
        {'image_id': 3, 'category_id': 2, 'bbox': [6, 5, 96, 96], 'score': 0.3},
    ]
    return {'images': images, 'annotations': anns, 'categories': cats}, res


def eval_cases():
    """Returns (datasets, cases): each case names the dataset (gt + results) it evaluates."""
    data, cases = {}, []
    gt, res = make_bbox_case(1, 30, [1, 3, 7, 12], 9, 6, 0.4)
    data['bbox_a'] = {'gt': gt, 'results': res}
    cases.append(run_eval('bbox_basic', 'bbox_a', gt, res, 'bbox'))
    cases.append(run_eval('bbox_usecats0', 'bbox_a', gt, res, 'bbox', {'useCats': 0}))
    cases.append(run_eval('bbox_custom_params', 'bbox_a', gt, res, 'bbox',
                          {'maxDets': [20, 1, 5], 'imgIds': [7, 10, 13, 16, 19, 22, 25, 28, 31, 34, 37, 40, 43, 999],
                           'catIds': [3, 12]}))
    gt2, res2 = make_bbox_case(2, 4, [1, 2], 40, 330, 0.9)
    data['bbox_many'] = {'gt': gt2, 'results': res2}
    cases.append(run_eval('bbox_many_dets', 'bbox_many', gt2, res2, 'bbox'))
    cases.append(run_eval('bbox_many_dets_usecats0_maxdets', 'bbox_many', gt2, res2, 'bbox', {'useCats': 0, 'maxDets': [1, 10, 50, 300]}))
    gt3, res3 = make_segm_case(3, 14)
    data['segm_a'] = {'gt': gt3, 'results': res3}
    cases.append(run_eval('segm_masks', 'segm_a', gt3, res3, 'segm'))
    cases.append(run_eval('segm_masks_usecats0', 'segm_a', gt3, res3, 'segm', {'useCats': 0}))
    cases.append(run_eval('bbox_from_mask_results', 'segm_a', gt3, res3, 'bbox'))
    # Mask-evaluated box results: the first record has "bbox", so loadRes takes the box path for all.
    rng = random.Random(4)
    res4 = []
    for r in res3:
        b = [float(v) for v in maskUtils.toBbox(r['segmentation'])]
        rec = {'image_id': r['image_id'], 'category_id': r['category_id'], 'bbox': b, 'score': r['score']}
        if rng.random() < 0.5:
            rec['segmentation'] = r['segmentation']
        res4.append(rec)
    res4.sort(key=lambda r: 'segmentation' in r)  # first record without segmentation
    data['segm_boxres'] = {'gt': gt3, 'results': res4}
    cases.append(run_eval('segm_box_results', 'segm_boxres', gt3, res4, 'segm'))
    gt6, res6 = make_quirk_case()
    data['quirks'] = {'gt': gt6, 'results': res6}
    cases.append(run_eval('quirks', 'quirks', gt6, res6, 'bbox'))
    cases.append(run_eval('quirks_usecats0_repeated_cats', 'quirks', gt6, res6, 'bbox', {'useCats': 0, 'catIds': [2, 1, 2]}))
    gt5, res5 = make_kps_case(6, 16)
    data['kps_a'] = {'gt': gt5, 'results': res5}
    cases.append(run_eval('keypoints', 'kps_a', gt5, res5, 'keypoints'))
    return data, cases


# ----------------------------------------------------------------------------- mask api

def mask_cases():
    rng = random.Random(5)
    out = {'encode': [], 'frPoly': [], 'frBbox': [], 'merge': [], 'iou': [], 'toBbox': [], 'strings': []}
    for _ in range(12):
        H, W = rng.randint(1, 23), rng.randint(1, 29)
        m = np.zeros((H, W), dtype=np.uint8) if rng.random() < 0.15 else blob_mask(rng, H, W)
        if rng.random() < 0.2:
            m = 1 - m
        rle = maskUtils.encode(np.asfortranarray(m))
        out['encode'].append({'h': H, 'w': W, 'maskRowMajor': m.reshape(-1).tolist(), 'rle': rle_json(rle),
                              'area': int(maskUtils.area(rle)), 'bbox': [float(v) for v in maskUtils.toBbox(rle)]})
    for _ in range(30):
        H, W = rng.randint(5, 60), rng.randint(5, 60)
        n = rng.randint(3, 12)
        poly = [r2(rng.uniform(-10, W + 10)) if k % 2 == 0 else r2(rng.uniform(-10, H + 10)) for k in range(2 * n)]
        if rng.random() < 0.3:
            poly += poly[:2]  # closed explicitly: a zero-length edge
        if rng.random() < 0.2:
            poly = [float(int(v)) for v in poly]  # vertices on integer coordinates
        rle = maskUtils.frPyObjects([poly], H, W)[0]
        out['frPoly'].append({'h': H, 'w': W, 'poly': poly, 'rle': rle_json(rle), 'area': int(maskUtils.area(rle))})
    for _ in range(20):
        H, W = rng.randint(5, 60), rng.randint(5, 60)
        b = [r2(rng.uniform(-5, W)), r2(rng.uniform(-5, H)), r2(rng.uniform(0, W)), r2(rng.uniform(0, H))]
        rle = maskUtils.frPyObjects(np.array([b], dtype=np.double), H, W)[0]
        out['frBbox'].append({'h': H, 'w': W, 'bbox': b, 'rle': rle_json(rle)})
    for _ in range(10):
        H, W = rng.randint(3, 30), rng.randint(3, 30)
        rles = [maskUtils.encode(np.asfortranarray(blob_mask(rng, H, W))) for _ in range(rng.randint(1, 4))]
        out['merge'].append({'rles': [rle_json(r) for r in rles],
                             'union': rle_json(maskUtils.merge(rles, intersect=0)),
                             'intersection': rle_json(maskUtils.merge(rles, intersect=1))})
    for _ in range(8):
        H, W = rng.randint(10, 40), rng.randint(10, 40)
        d = [maskUtils.encode(np.asfortranarray(blob_mask(rng, H, W))) for _ in range(rng.randint(1, 5))]
        g = [maskUtils.encode(np.asfortranarray(blob_mask(rng, H, W))) for _ in range(rng.randint(1, 5))]
        crowd = [rng.randint(0, 1) for _ in g]
        db = [random_box(rng, W, H) for _ in range(rng.randint(1, 6))]
        gb = [random_box(rng, W, H) for _ in range(rng.randint(1, 6))]
        gcrowd = [rng.randint(0, 1) for _ in gb]
        out['iou'].append({'dt': [rle_json(r) for r in d], 'gt': [rle_json(r) for r in g], 'iscrowd': crowd,
                           'iou': maskUtils.iou(d, g, crowd).tolist(),
                           'dtBoxes': db, 'gtBoxes': gb, 'boxIscrowd': gcrowd,
                           'boxIou': maskUtils.iou(db, gb, gcrowd).tolist()})
    # toBbox on uncompressed counts with zero-length runs (the PyPI fix) and odd run counts
    for size, counts in [([3, 4], [5, 0, 7]), ([3, 4], [0, 3, 9]), ([4, 4], [0, 0, 2, 3, 11]), ([4, 5], [2, 1, 0, 3, 14]),
                         ([5, 3], [1, 4, 2, 0, 0, 1, 7]), ([3, 3], [9]), ([3, 3], [0, 9]), ([6, 2], [3, 6, 3])]:
        r = maskUtils.frPyObjects({'size': size, 'counts': counts}, size[0], size[1])
        out['toBbox'].append({'size': size, 'counts': counts, 'rle': rle_json(r),
                              'bbox': [float(v) for v in maskUtils.toBbox(r)], 'area': int(maskUtils.area(r))})
    for counts in [[0], [1000000, 3, 2000000, 1], [7, 100, 3, 100000, 2, 5, 99999, 1], [31, 32, 33, 15, 16, 17, 1, 1]]:
        size = [1, int(sum(counts))]
        r = maskUtils.frPyObjects({'size': size, 'counts': counts}, size[0], size[1])
        out['strings'].append({'counts': counts, 'string': r['counts'].decode('ascii')})
    return out


# ----------------------------------------------------------------------------- index api

def index_cases(data):
    """COCO index queries, loadRes output and annToRLE on the generated datasets."""
    gt, res = data['bbox_a']['gt'], data['bbox_a']['results']
    c = coco_from(gt)
    out = {'queries': []}

    def add(fn, args, result):
        out['queries'].append({'fn': fn, 'args': args, 'result': result})

    for args in [{}, {'imgIds': [7, 10, 13]}, {'imgIds': 10}, {'catIds': [3]}, {'imgIds': [7, 10, 13, 16], 'catIds': [1, 12]},
                 {'areaRng': [1024, 9216]}, {'iscrowd': 1}, {'iscrowd': 0, 'catIds': [7]}, {'imgIds': [999]},
                 {'imgIds': [16, 7], 'areaRng': [0, 1e10]}]:
        add('getAnnIds', args, c.getAnnIds(**args))
    for args in [{}, {'catNms': ['c3', 'c7']}, {'supNms': ['s1']}, {'catIds': [1, 3, 99]}, {'catNms': ['c1', 'c3'], 'catIds': [3]}]:
        add('getCatIds', args, c.getCatIds(**args))
    for args in [{}, {'imgIds': [7, 10]}, {'catIds': [3]}, {'catIds': [3, 7]}, {'imgIds': [7, 10, 13, 16, 19, 22], 'catIds': [1]}]:
        ids = c.getImgIds(**args)
        add('getImgIds', args, [int(i) for i in (ids if not args else sorted(ids))])
    dt, _ = quiet(c.loadRes, copy.deepcopy(res[:6]))
    out['loadResBbox'] = {'input': res[:6], 'anns': dt.dataset['annotations']}
    gt3, res3 = data['segm_a']['gt'], data['segm_a']['results']
    c3 = coco_from(gt3)
    dt3, _ = quiet(c3.loadRes, copy.deepcopy(res3[:6]))
    anns3 = []
    for a in dt3.dataset['annotations']:
        a = dict(a)
        a['area'] = int(a['area'])
        a['bbox'] = [float(v) for v in a['bbox']]
        anns3.append(a)
    out['loadResSegm'] = {'input': res3[:6], 'anns': anns3}
    both = copy.deepcopy(res3[:4])
    for r in both:
        r['bbox'] = [1.5, 2.5, 10.0, 4.0]
    dt4, _ = quiet(c3.loadRes, copy.deepcopy(both))
    out['loadResBoth'] = {'input': both, 'anns': dt4.dataset['annotations']}
    out['annToRLE'] = []
    for a in gt3['annotations']:
        r = c3.annToRLE(copy.deepcopy(a))
        if isinstance(r['counts'], list):
            r = maskUtils.frPyObjects(r, r['size'][0], r['size'][1])
        m = c3.annToMask(copy.deepcopy(a))
        out['annToRLE'].append({'id': a['id'], 'rle': rle_json(r), 'maskSum': int(m.sum()),
                                'rowSums': [int(v) for v in m.sum(axis=1)]})
    return out


# ----------------------------------------------------------------------------- coco-mini

def mini_results(cocoGt, iou_type):
    """Deterministic detections from the real annotations; test/detection/coco mirrors this rule."""
    res = []
    for ann in sorted(cocoGt.dataset['annotations'], key=lambda a: a['id']):
        aid = ann['id']
        if ann['iscrowd'] or aid % 10 == 0:
            continue
        x, y, w, h = ann['bbox']
        score = ((aid * 7919) % 1000) / 1000.0
        box = [x + (aid % 7) - 3.0, y + (aid % 5) - 2.0, w * (0.8 + (aid % 5) * 0.1), h * (0.8 + (aid % 3) * 0.1)]
        rec = {'image_id': ann['image_id'], 'category_id': ann['category_id'], 'score': score}
        if iou_type == 'bbox':
            rec['bbox'] = box
        else:
            img = cocoGt.imgs[ann['image_id']]
            if aid % 3 == 0:
                rle = maskUtils.frPyObjects(np.array([box], dtype=np.double), img["height"], img["width"])[0]
            else:
                rle = cocoGt.annToRLE(ann)
            rec['segmentation'] = rle_json(rle)
        res.append(rec)
        if aid % 4 == 1:  # a false positive of another class
            res.append(dict(rec, category_id=cocoGt.getCatIds()[(aid // 4) % 80], score=score / 2))
    return res


def coco_mini(root):
    path = os.path.join(root, 'annotations', 'instances_val.json')
    cocoGt, _ = quiet(COCO, path)
    out = {}
    for t in ['bbox', 'segm']:
        res = mini_results(cocoGt, t)
        cocoDt, _ = quiet(cocoGt.loadRes, res)
        E = COCOeval(cocoGt, cocoDt, t)
        quiet(E.evaluate)
        quiet(E.accumulate)
        quiet(E.summarize)
        out[t] = {'stats': [float(v) for v in E.stats], 'numResults': len(res)}
    areas = []
    for ann in cocoGt.dataset['annotations']:
        areas.append(int(maskUtils.area(cocoGt.annToRLE(ann))))
    out['maskAreaSum'] = int(sum(areas))
    out['maskAreaFirst50'] = areas[:50]
    return out


def numpy_sums():
    """np.sum / np.mean of formula-generated sequences: pins numpy's summation order (pairwise
    within 8192-value blocks), which summarize's means must follow to be bit-identical."""
    out = []
    for n in [5, 100, 1000, 8192, 8193, 20000, 80800]:
        a = np.array([((i * 7919) % 1013) / 1013.0 + 1e-3 * (((i * 31) % 17) / 17.0) for i in range(n)])
        out.append({'n': n, 'sum': float(np.sum(a)), 'mean': float(np.mean(a))})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--coco-mini', default=os.path.join('..', 'shared', 'datasets', 'coco-mini'))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    # Source builds carry no version attribute: PYCOCOTOOLS_LABEL says which build was used.
    label = os.environ.get('PYCOCOTOOLS_LABEL') or getattr(pycocotools, '__version__', 'unknown')
    meta = {'generator': 'detection/coco/testdata/make_reference.py', 'pycocotools': label, 'numpy': np.__version__}
    data, cases = eval_cases()
    for name, d in data.items():
        with open(os.path.join(OUT, 'data_%s.json' % name), 'w') as f:
            json.dump(d, f, separators=(',', ':'))
    for case in cases:
        case['meta'] = meta
        with open(os.path.join(OUT, 'eval_%s.json' % case['name']), 'w') as f:
            json.dump(case, f, separators=(',', ':'))
    ix = index_cases(data)
    ix['meta'] = meta
    with open(os.path.join(OUT, 'index_api.json'), 'w') as f:
        json.dump(ix, f, separators=(',', ':'))
    m = mask_cases()
    m['numpySums'] = numpy_sums()
    m['format3'] = [{'x': x, 's': '{:0.3f}'.format(x)} for x in [0.0625, 0.1875, 0.3125, 0.4375, 0.5625, 0.9375, 0.0005, 0.0015, 1 / 3, -1, 0.99951171875]]
    m['meta'] = meta
    with open(os.path.join(OUT, 'mask_ops.json'), 'w') as f:
        json.dump(m, f, separators=(',', ':'))
    if os.path.isdir(args.coco_mini):
        cm = coco_mini(args.coco_mini)
        cm['meta'] = meta
        with open(os.path.join(OUT, 'coco_mini_val.json'), 'w') as f:
            json.dump(cm, f, indent=1)
    else:
        print('coco-mini not found at %s; its fixture was not written' % args.coco_mini, file=sys.stderr)


if __name__ == '__main__':
    main()
