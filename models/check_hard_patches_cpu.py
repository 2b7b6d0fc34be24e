"""CPU check of PairBank's hard-patch sampling (train.py --hard-patches): the summed-area tables give each crop's
bicubic error exactly, and keeping the hardest of m*B crops raises the batches' bicubic error.

Usage: /usr/bin/python3 models/check_hard_patches_cpu.py [IMAGE_DIR]   (default ../shared/data/train/photos)
"""
import os
import sys

import torch
import torch.nn.functional as F

from data import PairBank
from device_check import exit_with_status, report

SCALE, PATCH = 4, 64


def error_map(bank, k):
    """The per-LR-pixel bicubic error of image k, computed directly from the bank's buffers."""
    h, w = int(bank.lr_h[k]), int(bank.lr_w[k])
    lr = bank.lr[int(bank.lr_base[k]):][:h * w * 3].view(h, w, 3)
    hr = bank.hr[int(bank.hr_base[k]):][:h * w * 3 * SCALE * SCALE].view(h * SCALE, w * SCALE, 3)
    up = F.interpolate(lr.permute(2, 0, 1)[None].float(), scale_factor=SCALE, mode="bicubic", align_corners=False)
    err = (hr.permute(2, 0, 1)[None].float() - up).square().mean(1, keepdim=True)
    return F.avg_pool2d(err, SCALE)[0, 0].double()


def batch_bicubic_mse(bank, batches=10):
    gen = torch.Generator()
    gen.manual_seed(0)
    total = 0.0
    for _ in range(batches):
        lr, hr = bank.batch(32, gen)
        up = F.interpolate(lr.permute(0, 3, 1, 2), scale_factor=SCALE, mode="bicubic", align_corners=False)
        total += float((hr.permute(0, 3, 1, 2) - up).square().mean())
    return total / batches


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "shared", "data", "train", "photos")
    bank = PairBank(root, SCALE, PATCH, "cpu", hard_patches=4)
    gen = torch.Generator()
    gen.manual_seed(1)
    img = torch.randint(0, bank.count, (24,), generator=gen)
    y0 = (torch.rand(24, generator=gen) * (bank.lr_h[img] - PATCH + 1)).long()
    x0 = (torch.rand(24, generator=gen) * (bank.lr_w[img] - PATCH + 1)).long()
    fast = bank._crop_hardness(img, y0, x0)
    worst = 0.0
    for i in range(24):
        direct = error_map(bank, int(img[i]))[int(y0[i]):int(y0[i]) + PATCH, int(x0[i]):int(x0[i]) + PATCH].sum()
        worst = max(worst, abs(float(direct - fast[i])) / float(direct))
    report("crop hardness from the summed-area tables vs the direct sum (24 random crops)", worst < 1e-9,
           f"worst relative difference {worst:.1e}")
    bank.hard_patches = 1
    uniform = batch_bicubic_mse(bank)
    bank.hard_patches = 4
    hard = batch_bicubic_mse(bank)
    report("the hardest 1/4 of the crops have more bicubic error than uniform crops", hard > 1.5 * uniform,
           f"batch bicubic MSE {hard:.2e} vs {uniform:.2e}")
    exit_with_status()


if __name__ == "__main__":
    main()
