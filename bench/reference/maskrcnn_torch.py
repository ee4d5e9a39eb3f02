#!/usr/bin/env python3
"""PyTorch reference for sslight's detection benchmark, run by `npm run bench` when
/usr/bin/python3 has torch and torchvision. Not a dependency of the project.

torchvision's Mask R-CNN built with the sizes of configs/detection/mask_rcnn_fpn_<arch>_coco_mini.yaml:
--arch mobilenetv2: MobileNetV2 features (--width, the config's), FPN (--fpn-channels, the config's) on
features 13 + 18 (C4, C5) plus P6 max-pool, anchors (32,64,128)/(64,128,256)/(128,256,512) x 0.5/1/2 on
P4-P6, RoI heads on P4, P5;
--arch resnet18: ResNet-18 (--width: every stage's channels x width, rounded to 8, as sslight's
`width`) C2-C5 -> P2-P6, one anchor size per level, RoI heads on P2-P5.
Both: trainable BatchNorm, RPN top-k 1000/500 train and 500/300 test per level / image, 128 RoIs
per image, fc 512, mask head 4 x 128 channels, 80 classes; torchvision's RoIAlign (sampling 2).
Training: 2 random images of 320 x 427 (coco-mini's typical size) with 9 instances each, SGD
momentum 0.9, wd 1e-4. Inference: one image at a time at 320 x 427.
Prints one JSON line: train images/s and inference images/s (medians), peak RSS.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torchvision
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool


def resnet18_body(width):
    """torchvision's ResNet-18 with every stage's channels x width (rounded to 8; 1.0 is torchvision's)."""
    from torchvision.models.resnet import BasicBlock, ResNet

    def ch(c):
        return max(8, int(round(c * width / 8)) * 8)

    net = ResNet(BasicBlock, [2, 2, 2, 2], norm_layer=nn.BatchNorm2d)
    if width == 1.0:
        return net
    net.inplanes = ch(64)
    net.conv1 = nn.Conv2d(3, ch(64), 7, 2, 3, bias=False)
    net.bn1 = nn.BatchNorm2d(ch(64))
    net.layer1 = net._make_layer(BasicBlock, ch(64), 2)
    net.layer2 = net._make_layer(BasicBlock, ch(128), 2, stride=2)
    net.layer3 = net._make_layer(BasicBlock, ch(256), 2, stride=2)
    net.layer4 = net._make_layer(BasicBlock, ch(512), 2, stride=2)
    return net


def build(arch, channels=128, width=1.0):
    if arch == 'mobilenetv2':
        body = torchvision.models.mobilenet_v2(width_mult=width).features
        # C4 / C5 channels (96 / 1280 at width 1.0) read off the blocks
        c4, c5 = body[13].out_channels, body[18].out_channels
        backbone = BackboneWithFPN(body, {'13': '0', '18': '1'}, [c4, c5], channels, LastLevelMaxPool())
        anchors = AnchorGenerator(((32, 64, 128), (64, 128, 256), (128, 256, 512)), ((0.5, 1.0, 2.0),) * 3)
        names = ['0', '1']
        rpn_anchors = 9
    else:
        body = resnet18_body(width)
        stages = [getattr(body, f'layer{i}')[-1].conv2.out_channels for i in range(1, 5)]
        backbone = BackboneWithFPN(body, {'layer1': '0', 'layer2': '1', 'layer3': '2', 'layer4': '3'}, stages, channels, LastLevelMaxPool())
        anchors = AnchorGenerator(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5)
        names = ['0', '1', '2', '3']
        rpn_anchors = 3
    assert rpn_anchors == anchors.num_anchors_per_location()[0]
    model = MaskRCNN(
        backbone,
        num_classes=None,
        min_size=320,
        max_size=533,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=1000,
        rpn_post_nms_top_n_train=500,
        rpn_pre_nms_top_n_test=500,
        rpn_post_nms_top_n_test=300,
        box_roi_pool=MultiScaleRoIAlign(names, 7, 2),
        box_head=TwoMLPHead(channels * 49, 512),
        box_predictor=FastRCNNPredictor(512, 81),
        box_batch_size_per_image=128,
        mask_roi_pool=MultiScaleRoIAlign(names, 14, 2),
        mask_head=MaskRCNNHeads(channels, (128, 128, 128, 128), 1),
        mask_predictor=MaskRCNNPredictor(128, 128, 81),
    )
    return model


def targets(g, n=9, h=320, w=427):
    out = []
    for _ in range(2):
        xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.7, h * 0.7])
        wh = 16 + torch.rand(n, 2, generator=g) * torch.tensor([w * 0.3, h * 0.3])
        boxes = torch.cat([xy, xy + wh], 1)
        masks = torch.zeros(n, h, w, dtype=torch.uint8)
        for i, b in enumerate(boxes.round().long().tolist()):
            masks[i, b[1]:b[3], b[0]:b[2]] = 1
        out.append({'boxes': boxes, 'labels': torch.randint(1, 81, (n,), generator=g), 'masks': masks})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--arch', default='mobilenetv2', choices=['mobilenetv2', 'resnet18'])
    p.add_argument('--steps', type=int, default=4)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--width', type=float, default=1.0, help='backbone width multiplier')
    p.add_argument('--fpn-channels', type=int, default=128, help='FPN output channels')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = build(a.arch, channels=a.fpn_channels, width=a.width)
    opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9, weight_decay=1e-4)
    images = [torch.rand(3, 320, 427, generator=g) for _ in range(2)]
    tg = targets(g)
    model.train()
    times = []
    for s in range(a.steps + 1):
        t0 = time.perf_counter()
        losses = model(images, tg)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s > 0:
            times.append(time.perf_counter() - t0)
    model.eval()
    infer = []
    with torch.no_grad():
        for s in range(a.steps + 1):
            t0 = time.perf_counter()
            model([images[s % 2]])
            if s > 0:
                infer.append(time.perf_counter() - t0)
    print(json.dumps({
        'arch': a.arch,
        'width': a.width,
        'fpn_channels': a.fpn_channels,
        'torch': torch.__version__,
        'torchvision': torchvision.__version__,
        'threads': a.threads,
        'train_step_s': statistics.median(times),
        'train_images_per_s': 2 / statistics.median(times),
        'infer_s': statistics.median(infer),
        'infer_images_per_s': 1 / statistics.median(infer),
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == '__main__':
    main()
