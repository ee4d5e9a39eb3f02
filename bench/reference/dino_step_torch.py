#!/usr/bin/env python3
"""PyTorch reference for sslight's CPU benchmark (issue 4), run by `npm run bench` when
/usr/bin/python3 has torch. Not a dependency of the project.

One SSLight-DINO training step: 2 global 64x64 + 6 local 36x36 crops, student on all views,
EMA teacher on the globals, DINO head (3-layer MLP with BN, out_dim 4096), eq. 3 loss
(alpha 0.4), LARS. Prints one JSON line: images/s (median of the measured steps), peak RSS.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class Head(nn.Module):
    def __init__(self, in_dim, out_dim=4096, hidden=2048, bottleneck=256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.GELU(),
            nn.Linear(hidden, bottleneck))
        self.last = nn.utils.weight_norm(nn.Linear(bottleneck, out_dim, bias=False))
        self.last.weight_g.data.fill_(1)
        self.last.weight_g.requires_grad = False

    def forward(self, x):
        return self.last(F.normalize(self.mlp(x), dim=-1, p=2))


class Net(nn.Module):
    def __init__(self, arch):
        super().__init__()
        if arch == 'mobilenetv2':
            m = torchvision.models.mobilenet_v2()
            self.body, dim = m.features, 1280
        else:
            m = torchvision.models.resnet18()
            self.body, dim = nn.Sequential(*list(m.children())[:-2]), 512
        self.head = Head(dim)

    def forward(self, crops):
        # DINO's MultiCropWrapper: one backbone pass per resolution.
        feats = [F.adaptive_avg_pool2d(self.body(torch.cat(g)), 1).flatten(1) for g in crops]
        return self.head(torch.cat(feats))


class LARS(torch.optim.Optimizer):
    def __init__(self, params, lr, weight_decay=1e-6, momentum=0.9, eta=0.001):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g['params']:
                if p.grad is None:
                    continue
                dp = p.grad
                if p.ndim != 1:
                    dp = dp.add(p, alpha=g['weight_decay'])
                    pn, un = torch.norm(p), torch.norm(dp)
                    q = torch.where(pn > 0., torch.where(un > 0, (g['eta'] * pn / un), torch.ones_like(pn)), torch.ones_like(pn))
                    dp = dp.mul(q)
                st = self.state[p]
                if 'mu' not in st:
                    st['mu'] = torch.zeros_like(p)
                mu = st['mu']
                mu.mul_(g['momentum']).add_(dp)
                p.add_(mu, alpha=-g['lr'])


def dino_loss(s_out, t_out, center, ng, nl, alpha=0.4, ts=0.1, tt=0.04):
    s = (s_out / ts).chunk(ng + nl)
    t = F.softmax((t_out - center) / tt, dim=-1).detach().chunk(ng)
    lg, ll = 0., 0.
    for i, q in enumerate(t):
        for v in range(ng + nl):
            if v == i:
                continue
            term = torch.sum(-q * F.log_softmax(s[v], dim=-1), dim=-1).mean()
            if v < ng:
                lg = lg + term
            else:
                ll = ll + term
    return alpha * lg / (ng * (ng - 1)) + (1 - alpha) * ll / (ng * nl)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', default='mobilenetv2')
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--steps', type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    student, teacher = Net(a.arch), Net(a.arch)
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad = False
    opt = LARS([p for p in student.parameters() if p.requires_grad], lr=0.48 * a.batch / 256)
    center = torch.zeros(1, 4096)
    ng, nl, B = 2, 6, a.batch
    times = []
    for it in range(a.warmup + a.steps):
        g = [torch.randn(B, 3, 64, 64) for _ in range(ng)]
        l = [torch.randn(B, 3, 36, 36) for _ in range(nl)]
        t0 = time.perf_counter()
        with torch.no_grad():
            t_out = teacher([g])
        s_out = student([g, l])
        loss = dino_loss(s_out, t_out, center, ng, nl)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for ps, pt in zip(student.parameters(), teacher.parameters()):
                pt.mul_(0.996).add_(ps.detach(), alpha=0.004)
            center = center * 0.9 + t_out.mean(0, keepdim=True) * 0.1
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[a.warmup:])
    print(json.dumps({
        'arch': a.arch, 'batch': B, 'threads': a.threads, 'torch': torch.__version__,
        'images_per_s': B / med, 'step_ms': [t * 1000 for t in times],
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'loss': float(loss),
    }))


if __name__ == '__main__':
    main()
