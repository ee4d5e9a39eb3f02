#!/usr/bin/env python3
"""torchvision reference for sslight's coco-mini fine-tuning: trains torchvision's Mask R-CNN, built
with the sizes of configs/detection/mask_rcnn_fpn_<arch>_coco_mini.yaml (maskrcnn_torch.build), on a
COCO-format dataset with the same schedule, and writes COCO results JSON for `sslight coco-eval`.
Not a dependency of the project: it answers "does torchvision do better with the same config and
budget?" (README, Detection).

Same as sslight's config: shortest edge a random choice of --min-sizes (train) / the last one (test),
max size 533, horizontal flip 0.5, crowd instances left out, images without instances skipped,
batch 2 shuffled each epoch, SGD momentum 0.9, weight decay 1e-4, linear warm-up from lr x 0.001,
x 0.1 at each of --steps; score > 0.05, NMS 0.5, 100 detections, masks thresholded at 0.5.
Different: torchvision's initialisation and RoIAlign (unaligned, sampling 2), its sampling RNG.

  python3 bench/reference/maskrcnn_train_torch.py --train-ann A.json --train-images DIR \
      --val-ann B.json --val-images DIR --iters 4000 --steps 3000 3600 --lr 0.02 --out OUT_DIR
  node bin/sslight.js coco-eval --gt B.json --dt OUT_DIR/results.json --iou-type bbox
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from maskrcnn_torch import build  # noqa: E402


def rle_string_decode(s):
    """COCO's compressed RLE string -> run lengths (pycocotools' rleFrString)."""
    counts, p, m = [], 0, 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if m > 2:
            x += counts[m - 2]
        counts.append(x)
        m += 1
    return counts


def rle_to_mask(counts, h, w):
    flat = np.zeros(h * w, dtype=np.uint8)
    pos, val = 0, 0
    for c in counts:
        flat[pos:pos + c] = val
        pos += c
        val ^= 1
    return flat.reshape(w, h).T  # column-major


def ann_mask(seg, h, w):
    if isinstance(seg, list):
        img = Image.new('L', (w, h), 0)
        draw = ImageDraw.Draw(img)
        for poly in seg:
            if len(poly) >= 6:
                draw.polygon([(poly[i], poly[i + 1]) for i in range(0, len(poly), 2)], fill=1)
        return np.array(img, dtype=np.uint8)
    counts = seg['counts']
    if isinstance(counts, str):
        counts = rle_string_decode(counts)
    return rle_to_mask(counts, h, w)


def mask_to_rle(m):
    """binary [H, W] -> uncompressed COCO RLE (column-major runs, starting with zeros)."""
    flat = m.T.reshape(-1).astype(np.uint8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        runs = [0] + runs
    return {'size': [int(m.shape[0]), int(m.shape[1])], 'counts': [int(r) for r in runs]}


def usable(a):
    """A training instance: not crowd, and a box torchvision accepts (positive width and height)."""
    return not a.get('iscrowd', 0) and a['bbox'][2] >= 1 and a['bbox'][3] >= 1


class Coco:
    def __init__(self, ann_file, images):
        d = json.load(open(ann_file))
        self.images_dir = images
        self.cat_ids = sorted(c['id'] for c in d['categories'])
        self.contiguous = {c: i + 1 for i, c in enumerate(self.cat_ids)}
        self.anns = {}
        for a in d['annotations']:
            self.anns.setdefault(a['image_id'], []).append(a)
        self.images = sorted(d['images'], key=lambda im: im['id'])

    def train_items(self):
        return [im for im in self.images if any(usable(a) for a in self.anns.get(im['id'], []))]

    def load(self, im, flip):
        img = Image.open(os.path.join(self.images_dir, im['file_name'])).convert('RGB')
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        h, w = x.shape[1:]
        boxes, labels, masks = [], [], []
        for a in self.anns.get(im['id'], []):
            if not usable(a):
                continue
            bx, by, bw, bh = a['bbox']
            boxes.append([bx, by, bx + bw, by + bh])
            labels.append(self.contiguous[a['category_id']])
            masks.append(ann_mask(a['segmentation'], h, w))
        boxes = torch.tensor(boxes, dtype=torch.float32)
        masks = torch.from_numpy(np.stack(masks))
        if flip:
            x = x.flip(-1)
            boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
            masks = masks.flip(-1)
        return x, {'boxes': boxes, 'labels': torch.tensor(labels, dtype=torch.int64), 'masks': masks}


def lr_at(it, a):
    f = 1.0
    if it < a.warmup:
        alpha = it / a.warmup
        f = 0.001 * (1 - alpha) + alpha
    return a.lr * f * (0.1 ** sum(1 for s in a.steps if it >= s))


def evaluate(model, coco, out_file):
    model.eval()
    results = []
    with torch.no_grad():
        for im in coco.images:
            img = Image.open(os.path.join(coco.images_dir, im['file_name'])).convert('RGB')
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
            o = model([x])[0]
            for b, l, s, m in zip(o['boxes'].tolist(), o['labels'].tolist(), o['scores'].tolist(), o['masks']):
                results.append({
                    'image_id': im['id'],
                    'category_id': coco.cat_ids[l - 1],
                    'bbox': [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    'score': s,
                    'segmentation': mask_to_rle((m[0] > 0.5).numpy()),
                })
    json.dump(results, open(out_file, 'w'))
    return len(results)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--arch', default='mobilenetv2', choices=['mobilenetv2', 'resnet18'])
    p.add_argument('--width', type=float, default=0.5)
    p.add_argument('--fpn-channels', type=int, default=128)
    p.add_argument('--train-ann', required=True)
    p.add_argument('--train-images', required=True)
    p.add_argument('--val-ann', required=True)
    p.add_argument('--val-images', required=True)
    p.add_argument('--iters', type=int, default=4000)
    p.add_argument('--steps', type=int, nargs='*', default=[3000, 3600])
    p.add_argument('--warmup', type=int, default=100)
    p.add_argument('--lr', type=float, default=0.005)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--min-sizes', type=int, nargs='+', default=[256, 288, 320])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    model = build(a.arch, channels=a.fpn_channels, width=a.width)
    model.transform.min_size = tuple(a.min_sizes)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.SGD(params, lr=lr_at(0, a), momentum=0.9, weight_decay=1e-4)
    train = Coco(a.train_ann, a.train_images)
    items = train.train_items()
    ckpt = os.path.join(a.out, 'checkpoint.pt')
    it, order = 0, []
    if os.path.exists(ckpt):
        s = torch.load(ckpt)
        model.load_state_dict(s['model'])
        opt.load_state_dict(s['opt'])
        it, order = s['iter'], s['order']
        rng.setstate(s['rng'])
        torch.set_rng_state(s['torch_rng'])
        print(f'resumed at iteration {it}', flush=True)
    log = open(os.path.join(a.out, 'log.jsonl'), 'a')
    t0 = time.time()
    model.train()
    while it < a.iters:
        batch = []
        for _ in range(a.batch):
            if not order:
                order = list(range(len(items)))
                rng.shuffle(order)
            batch.append(train.load(items[order.pop()], rng.random() < 0.5))
        for g in opt.param_groups:
            g['lr'] = lr_at(it, a)
        losses = model([b[0] for b in batch], [b[1] for b in batch])
        loss = sum(losses.values())
        if not math.isfinite(loss.item()):
            sys.exit(f'loss is {loss.item()} at iteration {it}')
        opt.zero_grad()
        loss.backward()
        opt.step()
        it += 1
        if it % 20 == 0 or it == a.iters:
            rec = {'iter': it, 'loss': loss.item(), 'lr': lr_at(it - 1, a), 'elapsed_s': time.time() - t0}
            rec.update({k: v.item() for k, v in losses.items()})
            log.write(json.dumps(rec) + '\n')
            log.flush()
            print(json.dumps(rec), flush=True)
        if it % 250 == 0 or it == a.iters:
            tmp = ckpt + '.tmp'
            torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'iter': it, 'order': order,
                        'rng': rng.getstate(), 'torch_rng': torch.get_rng_state()}, tmp)
            os.replace(tmp, ckpt)
    n = evaluate(model, Coco(a.val_ann, a.val_images), os.path.join(a.out, 'results.json'))
    print(json.dumps({'done': True, 'iters': it, 'train_s': time.time() - t0, 'detections': n}), flush=True)


if __name__ == '__main__':
    main()
