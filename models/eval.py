"""Benchmark evaluation with the convention of published SR tables.

SR output quantised to 8 bits; Y channel of ITU-R BT.601 (Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255 for
R, G, B in [0, 1], on the 0-255 scale, not rounded); `scale` pixels shaved from each side; PSNR with peak 255;
SSIM with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, valid filtering, mean over the map.

Usage: python3 models/eval.py MODEL.safetensors BENCHMARK_ROOT [--device cuda]
  BENCHMARK_ROOT holds Set5/x4, Set14/x4 ... with *_HR.png / *_LR.png pairs.
"""
import argparse
import glob
import math
import os

import torch
import torch.nn.functional as F

from data import read_rgb
from matlab_resize import imresize_uint8

BT601 = (65.481, 128.553, 24.966)


def y_channel(rgb_uint8):
    """(H, W, 3) uint8 -> (H, W) float64 Y in [16, 235]."""
    x = rgb_uint8.double() / 255.0
    return 16.0 + (BT601[0] * x[..., 0] + BT601[1] * x[..., 1] + BT601[2] * x[..., 2])


def psnr(a, b):
    mse = ((a - b) ** 2).mean().item()
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def _gaussian_window(device):
    r = torch.arange(11, dtype=torch.float64, device=device) - 5
    g = torch.exp(-r * r / (2 * 1.5 ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, 11, 11)


def ssim(a, b):
    """SSIM of two (H, W) float64 images on the 0-255 scale."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    win = _gaussian_window(a.device)
    a, b = a[None, None], b[None, None]
    mu_a, mu_b = F.conv2d(a, win), F.conv2d(b, win)
    var_a = F.conv2d(a * a, win) - mu_a ** 2
    var_b = F.conv2d(b * b, win) - mu_b ** 2
    cov = F.conv2d(a * b, win) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return (num / den).mean().item()


def benchmark_pairs(root, name, scale):
    hr_paths = sorted(glob.glob(os.path.join(root, name, f"x{scale}", "*_HR.png")))
    return [(p, p.replace("_HR.png", "_LR.png")) for p in hr_paths]


def quantise(sr):
    """Model output (H, W, 3) float -> uint8, rounding as an 8-bit image writer does."""
    return (sr.clamp(0, 1) * 255.0).round().to(torch.uint8)


@torch.no_grad()
def evaluate_set(model, root, name, scale, device):
    """-> (mean Y-PSNR, mean Y-SSIM, image count) of `model` on benchmark `name`."""
    psnrs, ssims = [], []
    for hr_path, lr_path in benchmark_pairs(root, name, scale):
        hr = torch.from_numpy(read_rgb(hr_path)).to(device)
        lr = torch.from_numpy(read_rgb(lr_path)).to(device).float() / 255.0
        sr = quantise(model(lr[None])[0].float())
        if sr.shape != hr.shape:
            raise ValueError(f"{hr_path}: SR {tuple(sr.shape)} vs HR {tuple(hr.shape)}")
        ys, yh = y_channel(sr), y_channel(hr)
        crop = (slice(scale, -scale), slice(scale, -scale))
        psnrs.append(psnr(ys[crop], yh[crop]))
        ssims.append(ssim(ys[crop], yh[crop]))
    if not psnrs:
        raise ValueError(f"no {name} x{scale} pairs under {root}")
    return sum(psnrs) / len(psnrs), sum(ssims) / len(ssims), len(psnrs)


class Bicubic(torch.nn.Module):
    """Baseline: MATLAB bicubic upscaling of the 8-bit LR image (the "Bicubic" row of published tables)."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, img):
        lr8 = (img[0] * 255.0).round().to(torch.uint8)
        return (imresize_uint8(lr8, self.scale).float() / 255.0)[None]


def evaluate(model, root, scale, device, sets=("Set5", "Set14")):
    """-> {set: {"psnr", "ssim", "images"}} with the model in eval mode, float32."""
    model.eval()
    results = {}
    for name in sets:
        p, s, n = evaluate_set(model, root, name, scale, device)
        results[name] = {"psnr": round(p, 4), "ssim": round(s, 5), "images": n}
    return results


def main():
    from export import load_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a .safetensors model, or 'bicubic'")
    ap.add_argument("root")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if args.model == "bicubic":
        model, scale = Bicubic(args.scale), args.scale
    else:
        model, _ = load_model(args.model)
        scale = model.cfg.scale
        model = model.to(args.device)
    for name, r in evaluate(model, args.root, scale, args.device).items():
        print(f"{name} x{scale}: PSNR {r['psnr']:.2f} dB  SSIM {r['ssim']:.4f}  ({r['images']} images)")


if __name__ == "__main__":
    main()
