"""torchvision counterparts of bench/detection_ops_bench.ts on the same inputs (same LCG), one
thread, process CPU time, median of 5 after a warm-up. Prints a JSON object {case: ms}."""
import json
import time

import torch
from torchvision.ops import MultiScaleRoIAlign, box_iou, nms, roi_align

torch.set_num_threads(1)


def lcg(seed):
    s = seed & 0xFFFFFFFF

    def nxt():
        nonlocal s
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        return s / 4294967296

    return nxt


def random_boxes(n, seed, span, lo, hi):
    u = lcg(seed)
    out = []
    for _ in range(n):
        x, y = u() * span, u() * span
        out.append([x, y, x + lo + u() * (hi - lo), y + lo + u() * (hi - lo)])
    return torch.tensor(out, dtype=torch.float32)


def cpu_ms(f):
    f()
    times = []
    for _ in range(5):
        t = time.process_time()
        f()
        times.append((time.process_time() - t) * 1e3)
    return sorted(times)[2]


def main():
    res = {}
    anchors = random_boxes(100000, 1, 800, 16, 300)
    gt = random_boxes(20, 2, 700, 30, 230)
    res["pairwise_iou_20x100k"] = cpu_ms(lambda: box_iou(gt, anchors))
    boxes = random_boxes(2000, 3, 400, 10, 120)
    u = lcg(4)
    scores = torch.tensor([u() for _ in range(2000)], dtype=torch.float32)
    res["nms_2000_0.7"] = cpu_ms(lambda: nms(boxes, scores, 0.7))
    # Same values as the TS side (a multiplicative hash of the index), generated NHWC, used as NCHW.
    idx = torch.arange(2 * 80 * 107 * 256, dtype=torch.int64)
    feats = ((idx * 2654435761) % 4294967296).to(torch.float64).div(4294967296).to(torch.float32).reshape(2, 80, 107, 256)
    feats = feats.permute(0, 3, 1, 2).contiguous()
    rb = random_boxes(512, 6, 300, 8, 200)
    rois = torch.cat([torch.tensor([[k % 2] for k in range(512)], dtype=torch.float32), rb], 1)
    res["roi_align_fwd_512x7x7x256"] = cpu_ms(lambda: roi_align(feats, rois, (7, 7), 0.25, 0, True))
    f = feats.clone().requires_grad_(True)

    def fwd_bwd():
        f.grad = None
        roi_align(f, rois, (7, 7), 0.25, 0, True).sum().backward()

    res["roi_align_fwd_bwd_512x7x7x256"] = cpu_ms(fwd_bwd)
    sizes = [(80, 107), (40, 54), (20, 27), (10, 14)]
    levels = {}
    for l, (h, w) in enumerate(sizes):
        i = torch.arange(2 * h * w * 256, dtype=torch.int64) + l
        v = ((i * 2654435761) % 4294967296).to(torch.float64).div(4294967296).to(torch.float32)
        levels[str(l)] = v.reshape(2, h, w, 256).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    fb = random_boxes(1024, 7, 300, 16, 320)
    boxes = [fb[0::2].contiguous(), fb[1::2].contiguous()]
    pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 0)
    shapes = [(320, 428), (320, 428)]
    res["fpn_pooler_fwd_1024x7x7x256"] = cpu_ms(lambda: pooler(levels, boxes, shapes))

    def fpn_fwd_bwd():
        for t in levels.values():
            t.grad = None
        pooler(levels, boxes, shapes).sum().backward()

    res["fpn_pooler_fwd_bwd_1024x7x7x256"] = cpu_ms(fpn_fwd_bwd)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
