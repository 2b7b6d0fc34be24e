"""Training pairs on the GPU: images decoded once, LR made once, batches cut by index gathers.

All HR images (modcropped to the scale) live in one flat uint8 buffer on the device and their MATLAB-bicubic
LR versions in another. A batch is B random aligned crops with one of the 8 flips/90-degree rotations each
(and, with rgb_perm, one of the 6 orders of the colour channels), made in a handful of batched ops: the dihedral
transform is applied to the crop's coordinate grid, and one gather per buffer reads the transformed crops directly
(no per-sample Python loop). With channel_mix, some crops' colours become a blend of two channel orders; with
invert, some crop pairs become their negatives; with mixup, crop pairs are then blended with other pairs of the batch
in two lerps. With rotate_angles, images are also rotated (rotate_valid) before their downscaled versions are made.
"""
import glob
import math
import os

import cv2
import torch
import torch.nn.functional as F

from matlab_resize import imresize_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
CHANNEL_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def list_images(root):
    return sorted(p for p in glob.glob(os.path.join(root, "**", "*"), recursive=True)
                  if p.lower().endswith(IMAGE_SUFFIXES))


def read_rgb(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise IOError(f"cannot decode {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def modcrop(img, scale):
    h, w = img.shape[:2]
    return img[:h - h % scale, :w - w % scale]


def inscribed_size(h, w, angle):
    """-> (height, width) of the largest-area axis-aligned rectangle inside an h x w rectangle rotated by `angle`
    degrees about its centre (lengths, not pixel counts; closed form). Centred, so any smaller centred rectangle of
    at most that height and width is inside too. Either two opposite corners touch the long sides ("half
    constrained": thin rectangles, angles near 45) or all four corners touch a side."""
    sin_a, cos_a = abs(math.sin(math.radians(angle))), abs(math.cos(math.radians(angle)))
    long_side, short_side = max(h, w), min(h, w)
    if short_side <= 2 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-10:
        half = short_side / 2
        return (half / cos_a, half / sin_a) if w >= h else (half / sin_a, half / cos_a)
    cos_2a = cos_a * cos_a - sin_a * sin_a
    return (h * cos_a - w * sin_a) / cos_2a, (w * cos_a - h * sin_a) / cos_2a


def rotated_valid_size(h, w, angle):
    """-> (rows, cols) of rotate_valid's output for an h x w image: the most pixels whose bicubic taps (4 x 4 source
    pixels around the sample point) all lie in the image. So the sample points, pixel centres of the output, must
    lie in the rectangle of source pixel centres 1..w-2 x 1..h-2 ((w - 3) x (h - 3) long) rotated, and n output
    pixels span n - 1 from their first centre to their last."""
    if min(h, w) < 4:
        return 0, 0
    rows, cols = inscribed_size(h - 3, w - 3, angle)
    return math.floor(rows + 1e-9) + 1, math.floor(cols + 1e-9) + 1


def rotation_grid(h, w, angle, size=None, device="cpu"):
    """-> (rows, cols, 2) float64 source coordinates (x, y in pixel centres: 0 is the first pixel's centre) of the
    output pixels of an h x w image rotated by `angle` degrees counter-clockwise (as displayed; torch.rot90's
    direction at 90) about its centre, the output `size` (rows, cols; default rotated_valid_size) centred on it."""
    rows, cols = size or rotated_valid_size(h, w, angle)
    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    oy = (torch.arange(rows, dtype=torch.float64, device=device) - (rows - 1) / 2).view(-1, 1)
    ox = (torch.arange(cols, dtype=torch.float64, device=device) - (cols - 1) / 2).view(1, -1)
    # output offset o (x right, y down) shows the source at R(-angle) o: east of the centre turns to north
    sx = c * ox - s * oy + (w - 1) / 2
    sy = s * ox + c * oy + (h - 1) / 2
    return torch.stack((sx, sy), dim=-1)


def rotate_valid(img, angle, size=None):
    """img (H, W, C) uint8 (or float) -> float32 (rows, cols, C): the image rotated by `angle` degrees
    counter-clockwise, bicubic (grid_sample's, a = -0.75) and cropped to the largest centred rectangle of pixels made
    of source pixels only (rotated_valid_size; no tap in the zero padding). Not rounded: the caller downscales it."""
    h, w, _ = img.shape
    grid = rotation_grid(h, w, angle, size, img.device)
    norm = torch.tensor((2 / w, 2 / h), dtype=torch.float64, device=img.device)
    grid = (grid * norm + norm / 2 - 1).float().unsqueeze(0)  # align_corners=False: pixel i spans [i, i + 1]
    src = img.permute(2, 0, 1).unsqueeze(0).float()
    out = F.grid_sample(src, grid, mode="bicubic", padding_mode="zeros", align_corners=False)
    return out[0].permute(1, 2, 0)


class PairBank:
    """HR/LR training pairs resident on `device`; `batch` samples augmented aligned crops."""

    def __init__(self, root, scale, lr_patch, device, extra_scales=(), phases=1, rgb_perm=False, mixup=0.0,
                 mixup_beta=0.2, invert=0.0, rotate_angles=(), rotate_max_factor=0.8, channel_mix=0.0):
        """extra_scales: also train on each image downscaled by these factors (MATLAB bicubic, antialiased)
        wherever one crop still fits: the same scenes at other scales, more distinct patches.
        phases k > 1: also make each version's LR from its HR shifted by k x k sub-LR-pixel offsets (multiples
        of scale / k HR pixels): the same scene sampled at other phases, k*k times the pairs.
        rgb_perm: each crop also gets a random order of its colour channels (the same for LR and HR): the
        textures of a scene in other colours, 6 times the pairs, made per batch (no memory).
        mixup p: with probability p each crop pair (LR, HR) becomes a * itself + (1 - a) * another pair of the
        batch, a ~ Beta(mixup_beta, mixup_beta) (the same a and partner for LR and HR). Still an exact pair: the
        bicubic downscaling is linear, so the blend of the LRs is the LR of the blend (up to their uint8 storage).
        0: off, and no random numbers drawn for it.
        invert p: with probability p each crop pair becomes its negative (1 - LR, 1 - HR), before mixup. An exact
        pair too: the bicubic weights sum to 1, so the LR of 255 - HR is 255 - its LR (clipping and rounding alike,
        but for rounding ties). 0: off, no random numbers drawn.
        channel_mix p: with probability p a crop's colours (LR and HR alike) become a * its colours + (1 - a) *
        the same colours in one of the 6 channel orders, a ~ U(0, 1): a row-stochastic colour matrix, so values stay
        in [0, 1], and colourings between rgb_perm's six. Exact: a per-pixel linear map commutes with the
        downscaling. Applied before invert (with which it commutes). 0: off, no random numbers drawn.
        rotate_angles: also make the versions of the factors f <= rotate_max_factor (of 1 and extra_scales) from
        the image rotated by each of these angles (degrees, counter-clockwise; 0 makes nothing): edge orientations
        that the 8 flips/quarter turns of the crops never give. Rotated once per image and angle, at full resolution
        (rotate_valid: bicubic, cropped to the largest rectangle of source pixels), then downscaled by each f
        (imresize_uint8, antialiased: it drops the band above f times the original Nyquist frequency, where the
        interpolation softens most; along one axis, averaged over sub-pixel positions, grid_sample's bicubic keeps
        0.99 of the amplitude at 0.5 of Nyquist, 0.94 at 0.6, 0.86 at 0.7, 0.77 at 0.8) and treated like any version
        (phases, modcrop, LR, skipped if too small for one crop). Images none of whose rotated versions would hold a
        crop are not rotated. Nothing random: the batches draw the same numbers as without; with no angle (or only
        0) the bank is the same."""
        if not 1 <= phases <= scale:
            raise ValueError(f"phases must be 1..{scale} at x{scale}, not {phases}")
        self.scale, self.patch, self.device, self.rgb_perm = scale, lr_patch, device, rgb_perm
        self.mixup, self.mixup_beta, self.invert, self.channel_mix = mixup, mixup_beta, invert, channel_mix
        self.channel_orders = torch.tensor(CHANNEL_ORDERS, device=device)
        offsets = [(a * scale // phases, b * scale // phases) for a in range(phases) for b in range(phases)]
        factors = (1.0, *extra_scales)
        rotated = [(a, tuple(f for f in factors if f <= rotate_max_factor)) for a in rotate_angles if a != 0]
        hr_list, lr_list, sizes = [], [], []
        self.versions = []  # (image index, factor, angle, dy, dx) of each version
        for index, path in enumerate(list_images(root)):
            full = torch.from_numpy(read_rgb(path).copy()).to(device)
            for angle, angle_factors in ((0, factors), *rotated):
                if angle:
                    rows, cols = rotated_valid_size(*full.shape[:2], angle)
                    if not angle_factors or math.ceil(min(rows, cols) * max(angle_factors)) < lr_patch * scale:
                        continue  # no version of it would hold one crop: not rotated at all
                    source = rotate_valid(full, angle)  # once for all its factors
                for factor in angle_factors:
                    if not angle:
                        version = full if factor == 1.0 else imresize_uint8(full, factor)
                    else:
                        version = (source.round().clamp(0, 255).to(torch.uint8) if factor == 1.0 else
                                   imresize_uint8(source, factor))  # (imresize_uint8 reads floats too)
                    for dy, dx in offsets:
                        hr = modcrop(version[dy:, dx:], scale).contiguous()
                        h, w = hr.shape[0] // scale, hr.shape[1] // scale
                        if min(h, w) < lr_patch:
                            continue  # too small for one crop
                        hr_list.append(hr)
                        lr_list.append(imresize_uint8(hr, 1.0 / scale))
                        sizes.append((h, w))
                        self.versions.append((index, factor, angle, dy, dx))
        if not sizes:
            raise ValueError(f"no training image in {root} is at least {lr_patch * scale} px on each side")
        self.count = len(sizes)
        self.hr = torch.cat([t.flatten() for t in hr_list])
        self.lr = torch.cat([t.flatten() for t in lr_list])
        lr_h, lr_w = (torch.tensor(v, device=device) for v in zip(*sizes))
        self.lr_h, self.lr_w = lr_h, lr_w
        lr_numel = lr_h * lr_w * 3
        self.lr_base = torch.cumsum(lr_numel, 0) - lr_numel
        self.hr_base = self.lr_base * scale * scale
        # Every crop position of every image equally likely (large photos are sampled more often).
        self.weights = ((lr_h - lr_patch + 1) * (lr_w - lr_patch + 1)).double()
        self.hr_pixels = int(self.hr.numel() // 3)
        self.rotated_count = sum(1 for v in self.versions if v[2])
        self.rotated_hr_pixels = sum(h * w for v, (h, w) in zip(self.versions, sizes) if v[2]) * scale * scale

    def _gather(self, buf, base, width, y0, x0, flip_y, flip_x, swap, channels, size):
        """Crops (B, size, size, 3) at (y0, x0) of images (base, width), dihedral-transformed, their colour
        channels read in the order `channels` (B, 3)."""
        r = torch.arange(size, device=self.device)
        u = r.view(1, size, 1).expand(y0.shape[0], size, size)  # output row
        v = r.view(1, 1, size).expand(y0.shape[0], size, size)  # output column
        sw = swap.view(-1, 1, 1)
        su, sv = torch.where(sw, v, u), torch.where(sw, u, v)
        su = torch.where(flip_y.view(-1, 1, 1), size - 1 - su, su)
        sv = torch.where(flip_x.view(-1, 1, 1), size - 1 - sv, sv)
        pix = (y0.view(-1, 1, 1) + su) * width.view(-1, 1, 1) + (x0.view(-1, 1, 1) + sv)
        idx = base.view(-1, 1, 1, 1) + pix.unsqueeze(-1) * 3 + channels.view(-1, 1, 1, 3)
        return buf[idx]

    def crops(self, img, y0, x0, bits, order):
        """Aligned crops of images `img` at LR corners (y0, x0); bit 0 flips rows, 1 columns, 2 transposes;
        colour channels in CHANNEL_ORDERS[order]."""
        p, s = self.patch, self.scale
        flips = (bits & 1 > 0, bits & 2 > 0, bits & 4 > 0)
        channels = self.channel_orders[order]
        lr = self._gather(self.lr, self.lr_base[img], self.lr_w[img], y0, x0, *flips, channels, p)
        hr = self._gather(self.hr, self.hr_base[img], self.lr_w[img] * s, y0 * s, x0 * s, *flips, channels, p * s)
        return lr, hr

    def batch(self, batch_size, gen):
        """-> (lr, hr) float32 in [0, 1], (B, P, P, 3) and (B, sP, sP, 3)."""
        p = self.patch
        img = torch.multinomial(self.weights, batch_size, replacement=True, generator=gen)
        rnd = torch.rand(batch_size, 2, device=self.device, generator=gen)
        y0 = (rnd[:, 0] * (self.lr_h[img] - p + 1)).long()
        x0 = (rnd[:, 1] * (self.lr_w[img] - p + 1)).long()
        bits = torch.randint(0, 8, (batch_size,), device=self.device, generator=gen)
        if self.rgb_perm:
            order = torch.randint(0, len(CHANNEL_ORDERS), (batch_size,), device=self.device, generator=gen)
        else:
            order = torch.zeros(batch_size, dtype=torch.long, device=self.device)
        lr, hr = (t.float().div_(255) for t in self.crops(img, y0, x0, bits, order))
        if self.channel_mix:
            a, other = self.channel_mix_draws(batch_size, gen)
            lr, hr = (torch.lerp(t.gather(3, other.expand_as(t)), t, a) for t in (lr, hr))  # a own + (1 - a) reordered
        if self.invert:
            negative = (torch.rand(batch_size, device=self.device, generator=gen) < self.invert).view(-1, 1, 1, 1)
            lr, hr = torch.where(negative, 1 - lr, lr), torch.where(negative, 1 - hr, hr)
        if self.mixup:
            a, j = self.mixup_draws(batch_size, gen)
            a = a.view(-1, 1, 1, 1)
            lr, hr = torch.lerp(lr[j], lr, a), torch.lerp(hr[j], hr, a)  # a * own + (1 - a) * partner's
        return lr, hr

    def channel_mix_draws(self, batch_size, gen):
        """-> (a, other): (B, 1, 1, 1) weights (1 for the crops left alone) and (B, 1, 1, 3) channel indices, for
        crop i = a[i] * crop i + (1 - a[i]) * crop i's channels in order other[i]."""
        dev = self.device
        mixed = torch.rand(batch_size, device=dev, generator=gen) < self.channel_mix
        a = torch.rand(batch_size, device=dev, generator=gen)
        order = torch.randint(0, len(CHANNEL_ORDERS), (batch_size,), device=dev, generator=gen)
        a = torch.where(mixed, a, torch.ones_like(a)).view(-1, 1, 1, 1)
        return a, self.channel_orders[order].view(-1, 1, 1, 3)

    def mixup_draws(self, batch_size, gen):
        """-> (a, j), (B,) each: crop i is to become a[i] * crop i + (1 - a[i]) * crop j[i], j[i] != i; a[i] = 1
        (unmixed) with probability 1 - mixup."""
        dev = self.device
        mixed = torch.rand(batch_size, device=dev, generator=gen) < self.mixup
        j = (torch.arange(batch_size, device=dev)
             + torch.randint(1, batch_size, (batch_size,), device=dev, generator=gen)) % batch_size
        # Beta(b, b) is the first coordinate of Dirichlet(b, b), drawn by the op behind torch.distributions (which
        # itself takes no generator).
        conc = torch.full((batch_size, 2), self.mixup_beta, device=dev)
        a = torch._sample_dirichlet(conc, generator=gen)[:, 0]
        return torch.where(mixed, a, torch.ones_like(a)), j
