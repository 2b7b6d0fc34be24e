"""Checks matlab_resize against MATLAB: our HR -> LR vs the shipped benchmark LR images (PSNR, RGB, 8-bit).

Usage: python3 models/check_imresize.py BENCHMARK_ROOT [--scale 4]
"""
import argparse
import math

import torch

from data import read_rgb
from eval import benchmark_pairs
from matlab_resize import imresize_uint8


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--scale", type=int, default=4)
    args = ap.parse_args()
    for rounding in (True, False):
        label = "uint8 between passes (MATLAB)" if rounding else "float64 between passes"
        for name in ("Set5", "Set14"):
            values = []
            for hr_path, lr_path in benchmark_pairs(args.root, name, args.scale):
                ours = imresize_uint8(torch.from_numpy(read_rgb(hr_path)), 1.0 / args.scale, rounding).double()
                shipped = torch.from_numpy(read_rgb(lr_path)).double()
                mse = ((ours - shipped) ** 2).mean().item()
                values.append(math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse))
            print(f"{label:<30s} {name:<6s} x{args.scale}: PSNR ours vs shipped LR: min {min(values):.2f} dB, "
                  f"mean {sum(values) / len(values):.2f} dB over {len(values)} images")


if __name__ == "__main__":
    main()
