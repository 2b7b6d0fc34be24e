"""MATLAB-compatible bicubic `imresize` as precomputed weight matrices (torch, any device).

MATLAB: cubic kernel a = -0.5, width 4; when downscaling with antialiasing the kernel is widened by 1/scale;
output pixel x (1-based) samples input u = x/scale + 0.5(1 - 1/scale); out-of-range taps are mirrored
(symmetric padding); rows are resized first, then columns. For uint8 input MATLAB rounds the result to uint8
after each of the two passes; `round_between_passes` reproduces that.
"""
import math

import torch


def _cubic(x):
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def resize_matrix(in_len, out_len, scale):
    """(out_len, in_len) float64 matrix M with out = M @ in along one axis (MATLAB's `contributions`)."""
    kernel_width = 4.0
    antialias = scale < 1
    if antialias:
        kernel_width /= scale
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # 1-based input positions
    dist = u[:, None] - idx
    weights = scale * _cubic(scale * dist) if antialias else _cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # Symmetric padding: aux = [1..in_len, in_len..1], index = aux[(idx - 1) mod 2 in_len].
    period = 2 * in_len
    folded = torch.remainder(idx - 1, period)
    folded = torch.where(folded < in_len, folded, period - 1 - folded).long()
    matrix = torch.zeros(out_len, in_len, dtype=torch.float64)
    matrix.scatter_add_(1, folded, weights)
    return matrix


def imresize_uint8(img, scale, round_between_passes=True):
    """img: uint8 (H, W, C) tensor; scale e.g. 1/4 -> uint8 (ceil(H*scale), ceil(W*scale), C)."""
    h, w, _ = img.shape
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    rows = resize_matrix(h, out_h, scale).to(img.device)
    cols = resize_matrix(w, out_w, scale).to(img.device)
    x = img.double()
    x = torch.einsum("oh,hwc->owc", rows, x)
    if round_between_passes:
        x = x.round().clamp(0, 255)
    x = torch.einsum("pw,owc->opc", cols, x)
    return x.round().clamp(0, 255).to(torch.uint8)
