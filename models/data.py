"""Training pairs on the GPU: images decoded once, LR made once, batches cut by index gathers.

All HR images (modcropped to the scale) live in one flat uint8 buffer on the device and their MATLAB-bicubic
LR versions in another. A batch is B random aligned crops with one of the 8 flips/90-degree rotations each
(and, with rgb_perm, one of the 6 orders of the colour channels), made in a handful of batched ops: the dihedral
transform is applied to the crop's coordinate grid, and one gather per buffer reads the transformed crops directly
(no per-sample Python loop). With invert, some crop pairs become their negatives; with mixup, crop pairs are then
blended with other pairs of the batch in two lerps.
"""
import glob
import os

import cv2
import torch

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


class PairBank:
    """HR/LR training pairs resident on `device`; `batch` samples augmented aligned crops."""

    def __init__(self, root, scale, lr_patch, device, extra_scales=(), phases=1, rgb_perm=False, mixup=0.0,
                 mixup_beta=0.2, invert=0.0):
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
        but for rounding ties). 0: off, no random numbers drawn."""
        if not 1 <= phases <= scale:
            raise ValueError(f"phases must be 1..{scale} at x{scale}, not {phases}")
        self.scale, self.patch, self.device, self.rgb_perm = scale, lr_patch, device, rgb_perm
        self.mixup, self.mixup_beta, self.invert = mixup, mixup_beta, invert
        self.channel_orders = torch.tensor(CHANNEL_ORDERS, device=device)
        offsets = [(a * scale // phases, b * scale // phases) for a in range(phases) for b in range(phases)]
        hr_list, lr_list, sizes = [], [], []
        for path in list_images(root):
            full = torch.from_numpy(read_rgb(path).copy()).to(device)
            for factor in (1.0, *extra_scales):
                version = full if factor == 1.0 else imresize_uint8(full, factor)
                for dy, dx in offsets:
                    hr = modcrop(version[dy:, dx:], scale).contiguous()
                    h, w = hr.shape[0] // scale, hr.shape[1] // scale
                    if min(h, w) < lr_patch:
                        continue  # too small for one crop
                    hr_list.append(hr)
                    lr_list.append(imresize_uint8(hr, 1.0 / scale))
                    sizes.append((h, w))
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
        if self.invert:
            negative = (torch.rand(batch_size, device=self.device, generator=gen) < self.invert).view(-1, 1, 1, 1)
            lr, hr = torch.where(negative, 1 - lr, lr), torch.where(negative, 1 - hr, hr)
        if self.mixup:
            a, j = self.mixup_draws(batch_size, gen)
            a = a.view(-1, 1, 1, 1)
            lr, hr = torch.lerp(lr[j], lr, a), torch.lerp(hr[j], hr, a)  # a * own + (1 - a) * partner's
        return lr, hr

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
