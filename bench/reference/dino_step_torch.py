#!/usr/bin/env python3
"""PyTorch reference for sslight's CPU benchmark (issue 4), run by `npm run bench` when
/usr/bin/python3 has torch. Not a dependency of the project.

One SSLight-DINO training step: 2 global 64x64 + 6 local 36x36 crops, student on all views,
EMA teacher on the globals, DINO head (3-layer MLP with BN, out_dim 4096), eq. 3 loss
(alpha 0.4), LARS. Prints one JSON line: images/s (median of the measured steps), peak RSS.

--arch vit_tiny: ViT-Ti/16 (DINO's vision_transformer.py, written out below since timm is not
installed), 2 global 32x32 + 6 local 16x16 crops, head without BN, AdamW (lr 5e-4 x batch/256,
wd 0.04, biases and 1-D params without decay), gradient clipping 3.0: sslight's
bench/train_bench.ts VIT_STEP_SETS.

--mode linear_probe: one linear-evaluation step: frozen backbone in eval mode under no_grad ->
pooled features -> Linear(dim, 1000) -> cross-entropy -> LARS; random --size images.
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


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """DINO's VisionTransformer (no head), cls-token output, bicubic pos-embed interpolation."""

    def __init__(self, dim=192, depth=12, heads=3, patch=16, img=224):
        super().__init__()
        self.patch, n = patch, (img // patch) ** 2
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        nn.init.trunc_normal_(self.cls_token, std=.02)
        nn.init.trunc_normal_(self.pos_embed, std=.02)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=.02)
                nn.init.zeros_(m.bias)

    def pos(self, gh, gw):
        n = self.pos_embed.shape[1] - 1
        g = int(math.sqrt(n))
        if gh == g and gw == g:
            return self.pos_embed
        pp = self.pos_embed[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
        pp = F.interpolate(pp, scale_factor=((gh + 0.1) / g, (gw + 0.1) / g), mode='bicubic')
        return torch.cat((self.pos_embed[:, :1], pp.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)), dim=1)

    def forward(self, x):
        t = self.patch_embed(x)
        gh, gw = t.shape[-2:]
        t = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), t.flatten(2).transpose(1, 2)), dim=1)
        t = t + self.pos(gh, gw)
        for b in self.blocks:
            t = b(t)
        return self.norm(t[:, 0])  # the norm is per token: only the cls row is needed


class Head(nn.Module):
    def __init__(self, in_dim, out_dim=4096, hidden=2048, bottleneck=256, use_bn=True):
        super().__init__()
        bn = (lambda: nn.BatchNorm1d(hidden)) if use_bn else nn.Identity
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden), bn(), nn.GELU(),
            nn.Linear(hidden, hidden), bn(), nn.GELU(),
            nn.Linear(hidden, bottleneck))
        self.last = nn.utils.weight_norm(nn.Linear(bottleneck, out_dim, bias=False))
        self.last.weight_g.data.fill_(1)
        self.last.weight_g.requires_grad = False

    def forward(self, x):
        return self.last(F.normalize(self.mlp(x), dim=-1, p=2))


def backbone(arch):
    """(module mapping images to pooled features, feature dim)."""
    if arch == 'vit_tiny':
        return ViT(), 192
    if arch == 'mobilenetv2':
        body, dim = torchvision.models.mobilenet_v2().features, 1280
    else:
        body, dim = nn.Sequential(*list(torchvision.models.resnet18().children())[:-2]), 512
    return nn.Sequential(body, nn.AdaptiveAvgPool2d(1), nn.Flatten(1)), dim


class Net(nn.Module):
    def __init__(self, arch):
        super().__init__()
        self.body, dim = backbone(arch)
        self.head = Head(dim, use_bn=arch != 'vit_tiny')  # DINO's ViT recipe: no BN in the head

    def forward(self, crops):
        # DINO's MultiCropWrapper: one backbone pass per resolution.
        feats = [self.body(torch.cat(g)) for g in crops]
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


def linear_probe(a):
    body, dim = backbone(a.arch)
    body.eval()
    for p in body.parameters():
        p.requires_grad = False
    linear = nn.Linear(dim, 1000)
    linear.weight.data.normal_(0, 0.01)
    linear.bias.data.zero_()
    opt = LARS(linear.parameters(), lr=0.1 * a.batch / 256, weight_decay=0)
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.arange(a.batch) * 7919 % 1000
    times = []
    for it in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        with torch.no_grad():
            feats = body(x)
        loss = F.cross_entropy(linear(feats), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return loss, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', default='mobilenetv2', choices=['mobilenetv2', 'resnet18', 'vit_tiny'])
    ap.add_argument('--mode', default='pretrain', choices=['pretrain', 'linear_probe'])
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--size', type=int, default=64, help='image size of --mode linear_probe')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--steps', type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.mode == 'linear_probe':
        loss, times = linear_probe(a)
        med = statistics.median(times[a.warmup:])
        print(json.dumps({
            'arch': a.arch, 'mode': a.mode, 'batch': a.batch, 'size': a.size, 'threads': a.threads,
            'torch': torch.__version__, 'images_per_s': a.batch / med, 'step_ms': [t * 1000 for t in times],
            'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'loss': float(loss),
        }))
        return
    vit = a.arch == 'vit_tiny'
    gsize, lsize = (32, 16) if vit else (64, 36)
    student, teacher = Net(a.arch), Net(a.arch)
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad = False
    params = [p for p in student.parameters() if p.requires_grad]
    if vit:
        # DINO's get_params_groups + AdamW (wd at its first-epoch value 0.04).
        decay = [p for n, p in student.named_parameters() if p.requires_grad and not (n.endswith('.bias') or p.ndim == 1)]
        no_decay = [p for n, p in student.named_parameters() if p.requires_grad and (n.endswith('.bias') or p.ndim == 1)]
        opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.04}, {'params': no_decay, 'weight_decay': 0.}],
                                lr=5e-4 * a.batch / 256)
    else:
        opt = LARS(params, lr=0.48 * a.batch / 256)
    center = torch.zeros(1, 4096)
    ng, nl, B = 2, 6, a.batch
    times = []
    for it in range(a.warmup + a.steps):
        g = [torch.randn(B, 3, gsize, gsize) for _ in range(ng)]
        l = [torch.randn(B, 3, lsize, lsize) for _ in range(nl)]
        t0 = time.perf_counter()
        with torch.no_grad():
            t_out = teacher([g])
        s_out = student([g, l])
        loss = dino_loss(s_out, t_out, center, ng, nl)
        opt.zero_grad()
        loss.backward()
        if vit:  # DINO's utils.clip_gradients: per parameter
            for p in params:
                if p.grad is not None:
                    coef = 3.0 / (p.grad.data.norm(2) + 1e-6)
                    if coef < 1:
                        p.grad.data.mul_(coef)
        opt.step()
        with torch.no_grad():
            for ps, pt in zip(student.parameters(), teacher.parameters()):
                pt.mul_(0.996).add_(ps.detach(), alpha=0.004)
            center = center * 0.9 + t_out.mean(0, keepdim=True) * 0.1
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[a.warmup:])
    print(json.dumps({
        'arch': a.arch, 'mode': a.mode, 'batch': B, 'crops': [gsize, lsize], 'threads': a.threads, 'torch': torch.__version__,
        'backbone_params': sum(p.numel() for p in student.body.parameters()),
        'images_per_s': B / med, 'step_ms': [t * 1000 for t in times],
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'loss': float(loss),
    }))


if __name__ == '__main__':
    main()
