"""CPU checks of rotated image versions (data.py rotate_valid / PairBank rotate_angles, train.py --rotate-aug), on x4
banks of a t91 + BSDS subset with two scale versions, 2x2 phases, colour orders, inversion and mixup; shares
check_mixup_cpu's helpers and tally.

  a. no angle and angle 0 give the image versions and the batches of data.py as it was before rotation (commit
     BEFORE) bit for bit, and leave the generator where that left it; with angles, the unrotated versions are still
     those, in the same order
  b. the valid rectangle: the closed form (inscribed_size) equals a brute-force search of the largest centred
     rectangle inside the rotated one; an all-255 image rotated with zero padding stays 255 in every output pixel
     (unclamped float: a bicubic tap in the padding would move it by up to 9 %); the sample points stay where all
     16 taps are source pixels, and with one more row and column they would not
  c. directions: 90, -90 and 180 degrees equal torch.rot90 / a double flip up to float rounding (the other direction
     is rejected), and small-angle rotations of a smooth (sinusoidal) image equal the analytically rotated image
     within bicubic's own error; printed: the amplitude a rotation keeps near the source's Nyquist frequency
  d. counts: a bank's versions, rotated versions and HR pixels equal those planned from the image sizes alone; the
     plan reproduces session 11's x4 / x3 / x2 banks (8,870 / 16,072 / 19,272 versions on bsds500 + photos) and
     estimates the new ones
  e. each planted bug of MUTATIONS (crop rectangle without the taps' margin, rows and columns swapped, degrees read as
     radians, the opposite direction, the centre off by half a pixel) fails a check of b or c
  f. train.py refuses bad --rotate-aug / --rotate-max-factor values and records the angles in the provenance
Usage: /usr/bin/python3 models/check_rotate_cpu.py [--plant NAME]   (exit 1 on a failure; about 20 s on 2 cores;
--plant runs every check with that bug in data.py's functions: they must FAIL)
"""
import argparse
import contextlib
import math
import os
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from PIL import Image

import check_mixup_cpu as cm
import data
from check_mixup_cpu import BATCH, generator, report
from data import list_images, read_rgb

BEFORE = "3deac09"  # the last commit whose data.py has no rotation
DATA = "/work/shared/data/train"
SCALE, PATCH, PHASES, FACTORS, ANGLES = 4, 16, 2, (0.8, 0.6), (15.0, 30.0, 45.0)
GRID = (0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5)  # session 11's --scale-aug
SESSION11 = {4: (8870, 2305.9), 3: (16072, 2844.7), 2: (19272, 2984.8)}  # "data:" lines of its call 2-4 logs
SHAPES = ((150, 200), (200, 150), (97, 97), (321, 481), (60, 333))
TEST_ANGLES = (5.0, 15.0, 30.0, 45.0, -30.0, 60.0, 90.0, 137.0)


def subset_dir():
    """-> a folder of links to the first 24 t91 images and 3 BSDS images."""
    root = tempfile.mkdtemp(prefix="rotate_subset_")
    paths = list_images(os.path.join(DATA, "t91"))[:24] + list_images(os.path.join(DATA, "bsds500"))[:3]
    for k, p in enumerate(paths):
        os.symlink(p, os.path.join(root, f"{k:03d}_{os.path.basename(p)}"))
    return root


def bank(module, root, **kw):
    return module.PairBank(root, SCALE, PATCH, "cpu", FACTORS, PHASES, True, 0.5, 0.2, 0.5, **kw)


def version(b, k, which):
    """-> version k's HR or LR pixels (flat uint8)."""
    n = int(b.lr_h[k] * b.lr_w[k] * 3)
    if which == "hr":
        return b.hr[int(b.hr_base[k]):int(b.hr_base[k]) + n * SCALE * SCALE]
    return b.lr[int(b.lr_base[k]):int(b.lr_base[k]) + n]


# --- a. bit for bit without angles ----------------------------------------------------------------------------------

def check_off_is_unchanged(old, banks):
    for label, b in banks.items():
        same_data = all(torch.equal(getattr(old, k), getattr(b, k)) for k in ("hr", "lr", "lr_h", "lr_w", "weights"))
        report(f"{label}: image versions identical to data.py of {BEFORE} (HR, LR, sizes, weights)", same_data,
               f"{b.count} versions, {b.hr_pixels / 1e6:.2f} MPx")
        same = stream = True
        for seed in range(10):
            g_old, g_new = generator(seed), generator(seed)
            same &= all(torch.equal(x, y) for x, y in zip(old.batch(BATCH, g_old), b.batch(BATCH, g_new)))
            stream &= torch.equal(g_old.get_state(), g_new.get_state())
        report(f"{label}: 10 batches identical (mixup 0.5, invert 0.5, colour orders), generator in the same state",
               same and stream)


def check_unrotated_kept(old, rot):
    keep = [k for k, v in enumerate(rot.versions) if v[2] == 0]
    same = len(keep) == old.count and all(
        torch.equal(version(old, i, w), version(rot, k, w)) for i, k in enumerate(keep) for w in ("hr", "lr"))
    report(f"angles {', '.join(f'{a:g}' for a in ANGLES)}: the unrotated versions are those of {BEFORE}, in order",
           same, f"{len(keep)} of {rot.count} versions")


# --- b. the valid rectangle -----------------------------------------------------------------------------------------

def brute_force_rectangle(h, w, angle, n=200001):
    """-> (height, width) of the largest centred axis-aligned rectangle inside h x w rotated by angle: for each half
    width a on a fine grid the largest half height b with all four corners inside, area 4ab maximised."""
    t = math.radians(angle)
    c, s = abs(math.cos(t)), abs(math.sin(t))
    c, s = (0.0 if c < 1e-12 else c), (0.0 if s < 1e-12 else s)
    # corner (a, b) in the rotated frame: |a c + b s| <= w/2 and |a s + b c| <= h/2 (the worst of the 4 corners)
    a_max = min(w / 2 / c if c else math.inf, h / 2 / s if s else math.inf)
    a = torch.linspace(0, a_max, n, dtype=torch.float64)
    inf = torch.full_like(a, math.inf)
    b = torch.minimum((w / 2 - a * c) / s if s else inf, (h / 2 - a * s) / c if c else inf).clamp(min=0)
    k = int(torch.argmax(a * b))
    return 2 * float(b[k]), 2 * float(a[k])


def check_rectangle_formula():
    out, worst = [], 0.0
    for h, w in SHAPES:
        for angle in TEST_ANGLES:
            rows, cols = data.inscribed_size(h, w, angle)
            br, bc = brute_force_rectangle(h, w, angle)
            worst = max(worst, abs(rows * cols - br * bc) / (br * bc), abs(rows - br) / h, abs(cols - bc) / w)
    out.append(("closed-form largest inscribed rectangle = brute-force search", worst < 1e-4,
                f"{len(SHAPES)} shapes x {len(TEST_ANGLES)} angles, largest relative difference {worst:.1e}"))
    return out


def check_valid_rectangle():
    """An all-255 image rotated with zero padding; the sample points' extent; rotate_valid's output size."""
    out, dev, size_ok, inside, tight = [], 0.0, True, True, math.inf
    for h, w in SHAPES:
        white = torch.full((h, w, 3), 255, dtype=torch.uint8)
        for angle in TEST_ANGLES:
            rot = data.rotate_valid(white, angle)
            rows, cols = data.inscribed_size(h - 3, w - 3, angle)
            size_ok &= tuple(rot.shape[:2]) == (math.floor(rows + 1e-9) + 1, math.floor(cols + 1e-9) + 1)
            dev = max(dev, (rot.double() - 255).abs().max().item())
            pts = data.rotation_grid(h, w, angle)
            inside &= bool((pts[..., 0] >= 1 - 1e-9).all() and (pts[..., 0] <= w - 2 + 1e-9).all()
                           and (pts[..., 1] >= 1 - 1e-9).all() and (pts[..., 1] <= h - 2 + 1e-9).all())
            bigger = data.rotation_grid(h, w, angle, (rot.shape[0] + 1, rot.shape[1] + 1))
            excess = max((1 - bigger[..., 0]).max().item(), (bigger[..., 0] - (w - 2)).max().item(),
                         (1 - bigger[..., 1]).max().item(), (bigger[..., 1] - (h - 2)).max().item())
            tight = min(tight, excess)
    n = f"{len(SHAPES)} shapes x {len(TEST_ANGLES)} angles"
    out.append(("rotated all-255 image (zero padding): every output pixel 255, no tap outside the source", dev < 0.01,
                f"{n}, max |value - 255| {dev:.4f} (unclamped float32)"))
    out.append(("output size = the closed form of the (w - 3) x (h - 3) rectangle of all-taps-inside centres",
                size_ok, n))
    out.append(("sample points within source pixel centres 1..w-2 x 1..h-2 (all 16 taps inside)", inside, n))
    # (one more row alone, or one more column alone, may fit: the other side's floor can leave room)
    out.append(("one more row and column would leave that region (it spans more than the largest rectangle)",
                tight > 1e-9,
                f"smallest excess {tight:.3g} px"))
    return out


# --- c. directions ----------------------------------------------------------------------------------------------------

def check_quarter_turns():
    img = torch.from_numpy(read_rgb(list_images(os.path.join(DATA, "t91"))[3]).copy())  # 119 x 114
    cases = ((90.0, torch.rot90(img, 1, (0, 1)), torch.rot90(img, -1, (0, 1))),
             (-90.0, torch.rot90(img, -1, (0, 1)), torch.rot90(img, 1, (0, 1))),
             (180.0, img.flip(0, 1), img))
    out = []
    for angle, want, other in cases:
        got = data.rotate_valid(img, angle).double()
        ok = got.shape == want[1:-1, 1:-1].shape
        err = (got - want[1:-1, 1:-1].double()).abs().max().item() if ok else math.inf
        wrong = ((got - other[1:-1, 1:-1].double()).abs().max().item()
                 if got.shape == other[1:-1, 1:-1].shape else math.inf)
        name = "torch.rot90(k=1)" if angle == 90 else "torch.rot90(k=-1)" if angle == -90 else "flip of both axes"
        out.append((f"{angle:g} degrees of a {img.shape[0]}x{img.shape[1]} t91 image = {name} (1 px border off)",
                    ok and err < 0.05 and wrong > 20,
                    f"max |error| {err:.4f}; the other direction {wrong:.0f} grey levels"))
    return out


KX, KY = 0.019, 0.011  # cycles a pixel (a period of 46 px)


def sinusoid(x, y):
    return 127.5 + 90 * torch.sin(2 * math.pi * (KX * x + KY * y) + 0.4)


def check_small_angles():
    """The source is a sinusoid with wave vector k; rotating the picture counter-clockwise by t turns k by t (maths
    axes, y up), so the output is the sinusoid with the turned vector, about the output's centre."""
    h, w = 240, 320
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    src = sinusoid(xx - (w - 1) / 2, yy - (h - 1) / 2)  # centred coordinates
    img = src.unsqueeze(-1).expand(h, w, 3).contiguous()  # float, not rounded: only the interpolation's error
    out, err, wrong = [], 0.0, math.inf
    for angle in (2.0, -7.0, 12.0):
        got = data.rotate_valid(img, angle)[..., 0].double()
        rows, cols = got.shape
        oy, ox = torch.meshgrid(torch.arange(rows, dtype=torch.float64) - (rows - 1) / 2,
                                torch.arange(cols, dtype=torch.float64) - (cols - 1) / 2, indexing="ij")

        def turned(t):
            kx, ky_up = KX, -KY  # k in maths axes (y up): KX x + KY y_down = KX x - KY y_up
            t = math.radians(t)
            kx, ky_up = kx * math.cos(t) - ky_up * math.sin(t), kx * math.sin(t) + ky_up * math.cos(t)
            return 127.5 + 90 * torch.sin(2 * math.pi * (kx * ox - ky_up * oy) + 0.4)
        err = max(err, (got - turned(angle)).abs().max().item())
        wrong = min(wrong, (got - turned(-angle)).abs().max().item())
    # bicubic's own error on this sinusoid: the image shifted (no rotation) by sub-pixel offsets in x and y
    own = 0.0
    for dx, dy in ((0.25, 0.25), (0.5, 0.5), (0.75, 0.25), (0.2, 0.6)):
        shift = torch.stack(((2 * (xx + dx) + 1) / w - 1, (2 * (yy + dy) + 1) / h - 1), dim=-1)[2:-3, 2:-3]
        shifted = F.grid_sample(img[..., 0].float()[None, None], shift[None].float(), mode="bicubic",
                                padding_mode="zeros", align_corners=False)[0, 0].double()
        want = sinusoid(xx + dx - (w - 1) / 2, yy + dy - (h - 1) / 2)[2:-3, 2:-3]
        own = max(own, (shifted - want).abs().max().item())
    out.append(("2, -7, 12 degrees of a smooth sinusoid = the analytically turned sinusoid, within bicubic's error",
                err <= 1.1 * own + 0.02, f"max |error| {err:.3f} grey levels (amplitude 90, period 46 px); "
                f"sub-pixel shifts of it, no rotation: {own:.3f}"))
    out.append(("the comparison rejects the opposite direction", wrong > 10, f"smallest max |error| {wrong:.1f}"))
    return out


def softening():
    """-> {fraction of Nyquist: amplitude kept} of vertical stripes rotated by 30 degrees (the coherent part, fitted
    over the whole output: sub-pixel positions of all kinds)."""
    h, w, gains = 200, 200, {}
    xx = torch.arange(w, dtype=torch.float64).expand(h, w)
    for q in (0.5, 0.6, 0.7, 0.8, 0.9):
        img = (100 * torch.sin(math.pi * q * (xx - (w - 1) / 2))).unsqueeze(-1).expand(h, w, 3).contiguous()
        got = data.rotate_valid(img, 30.0)[..., 0].double()
        rows, cols = got.shape
        oy, ox = torch.meshgrid(torch.arange(rows, dtype=torch.float64) - (rows - 1) / 2,
                                torch.arange(cols, dtype=torch.float64) - (cols - 1) / 2, indexing="ij")
        t = math.radians(30.0)
        phase = math.pi * q * (math.cos(t) * ox - math.sin(t) * oy)  # source x of an output offset
        basis = torch.stack((torch.sin(phase).flatten(), torch.cos(phase).flatten()), 1)
        coef = torch.linalg.lstsq(basis, got.flatten()[:, None]).solution
        gains[q] = float(coef.norm()) / 100
    return gains


def geometry_checks():
    return check_rectangle_formula() + check_valid_rectangle() + check_quarter_turns() + check_small_angles()


# --- d. counts --------------------------------------------------------------------------------------------------------

def plan(sizes, scale, patch, factors, phases, angles, max_factor=0.8):
    """-> {angle: [versions, HR pixels, LR pixels]} from the image sizes alone (PairBank's rules)."""
    offsets = [(a * scale // phases, b * scale // phases) for a in range(phases) for b in range(phases)]
    out = {}
    for h, w in sizes:
        for angle in (0, *[a for a in angles if a]):
            fs = (1.0, *factors) if angle == 0 else [f for f in (1.0, *factors) if f <= max_factor]
            bh, bw = (h, w) if angle == 0 else data.rotated_valid_size(h, w, angle)
            for f in fs:
                vh, vw = (bh, bw) if f == 1.0 else (math.ceil(bh * f), math.ceil(bw * f))
                for dy, dx in offsets:
                    lh, lw = (vh - dy) // scale, (vw - dx) // scale
                    if min(lh, lw) >= patch:
                        c = out.setdefault(angle, [0, 0, 0])
                        c[0], c[1], c[2] = c[0] + 1, c[1] + lh * lw * scale * scale, c[2] + lh * lw
    return out


def totals(p):
    return tuple(sum(v[i] for v in p.values()) for i in range(3))


def check_counts(root, rot, seconds):
    sizes = [tuple(read_rgb(p).shape[:2]) for p in list_images(root)]
    p = plan(sizes, SCALE, PATCH, FACTORS, PHASES, ANGLES)
    n, px, _ = totals(p)
    rot_n, rot_px = n - p[0][0], px - p[0][1]
    report("bank = plan from the sizes: versions, rotated versions, HR pixels",
           (rot.count, rot.rotated_count, rot.hr_pixels, rot.rotated_hr_pixels) == (n, rot_n, px, rot_px),
           f"{rot.count} versions ({rot.rotated_count} rotated), {rot.hr_pixels / 1e6:.2f} MPx HR "
           f"({rot.rotated_hr_pixels / 1e6:.2f} rotated)")
    per = ", ".join(f"{a:g}: {p[a][0]} / {p[a][1] / 1e6:.2f} MPx" for a in ANGLES if a in p)
    print(f"      subset ({len(sizes)} images, x{SCALE}, patch {PATCH}, factors {FACTORS}, {PHASES}x{PHASES} phases): "
          f"unrotated {p[0][0]} / {p[0][1] / 1e6:.2f} MPx; {per}; CPU build {seconds['off']:.1f} s without "
          f"angles, {seconds['on']:.1f} s with")
    # the whole training set, from the image headers
    device_set = [p for p in list_images(DATA) if "/t91/" not in p]
    sizes = [Image.open(p).size[::-1] for p in device_set]
    ok = True
    for scale, (versions, mpx) in SESSION11.items():
        got = totals(plan(sizes, scale, 64, GRID, 2, ()))
        ok &= got[0] == versions and round(got[1] / 1e6, 1) == mpx
    report("plan of session 11's banks (x4, x3, x2; bsds500 + photos, no t91) = their logged versions and MPx", ok,
           ", ".join(f"x{s} {v} / {m} MPx" for s, (v, m) in SESSION11.items()))
    print(f"      estimate, {len(device_set)} images, patch 64, the 10-factor grid, 2x2 phases (GB: HR + LR uint8):")
    for scale in (4, 3, 2):
        base = totals(plan(sizes, scale, 64, GRID, 2, ()))
        for angles, max_factor in (((15, 30, 45), 0.8), ((15, 30, 45), 0.7), ((22.5,), 0.8), ((30,), 0.8)):
            n, px, lr = totals(plan(sizes, scale, 64, GRID, 2, angles, max_factor))
            print(f"      x{scale} angles {','.join(f'{a:g}' for a in angles):9s} MAXF {max_factor}: {base[0]} -> {n} "
                  f"versions (+{n / base[0] - 1:.0%}), {base[1] / 1e6:.0f} -> {px / 1e6:.0f} MPx HR "
                  f"(+{px / base[1] - 1:.0%}), {3 * (base[1] + base[2]) / 1e9:.1f} -> {3 * (px + lr) / 1e9:.1f} GB")


# --- e. planted bugs --------------------------------------------------------------------------------------------------

def _patched(name, new):
    @contextlib.contextmanager
    def plant():
        old = getattr(data, name)
        setattr(data, name, new(old))
        try:
            yield
        finally:
            setattr(data, name, old)
    return plant


MUTATIONS = {
    # the rectangle of the whole rotated image, without the margin that keeps the 4 x 4 taps inside
    "no-tap-margin": _patched("rotated_valid_size", lambda old: lambda h, w, a: tuple(
        math.floor(v + 1e-9) for v in data.inscribed_size(h, w, a))),
    "rows-cols-swapped": _patched("rotated_valid_size", lambda old: lambda h, w, a: old(h, w, a)[::-1]),
    # math.cos(angle) on degrees: the same as the right code given degrees(angle)
    "degrees-as-radians": _patched("rotation_grid", lambda old: lambda h, w, a, size=None, device="cpu": old(
        h, w, math.degrees(a), size or data.rotated_valid_size(h, w, a), device)),
    "opposite-direction": _patched("rotation_grid", lambda old: lambda h, w, a, size=None, device="cpu": old(
        h, w, -a, size or data.rotated_valid_size(h, w, a), device)),
    "centre-half-pixel": _patched("rotation_grid", lambda old: lambda h, w, a, size=None, device="cpu": old(
        h, w, a, size, device) + 0.5),
}


def check_mutations():
    for name, plant in MUTATIONS.items():
        with plant():
            failed = [r[0] for r in geometry_checks() if not r[1]]
        report(f"planted bug '{name}' fails {len(failed)} check(s) of b/c", bool(failed),
               "; ".join(failed[:2]) + (" ..." if len(failed) > 2 else ""))


# --- f. options -------------------------------------------------------------------------------------------------------

def check_options():
    import train
    bad = (["--rotate-aug", "50"], ["--rotate-aug", "45,-45"], ["--rotate-aug", "30", "--rotate-max-factor", "1.5"],
           ["--rotate-aug", "30", "--rotate-max-factor", "0"], ["--rotate-aug", "30"],
           ["--rotate-aug", "30", "--scale-aug", "0.9"], ["--rotate-aug", "nan", "--scale-aug", "0.8"])
    refused = [" ".join(extra) for extra in bad if cm.parse_refused(extra) is not None]
    report("train.py refuses angles outside -45..45, repeated angles, MAXF outside (0, 1], no factor <= MAXF",
           len(refused) == len(bad), f"{len(refused)} of {len(bad)} refused")
    args = train.parse_args(["--minutes", "1", "--rotate-aug", "0,15,30", "--scale-aug", "0.9,0.8,0.5"])

    class Bank:
        count = 1
    history = [{"chunk_minutes": 1.0, "device": "cpu"}]
    text = train.provenance(args, Bank, 0, history, {})["trained_on"]
    plain = train.parse_args(["--minutes", "1", "--rotate-aug", "0", "--scale-aug", "0.9,0.8,0.5"])
    off = train.parse_args(["--minutes", "1", "--scale-aug", "0.9,0.8,0.5"])
    same = (train.provenance(plain, Bank, 0, history, {})["trained_on"]
            == train.provenance(off, Bank, 0, history, {})["trained_on"])
    report("the provenance names the angles and MAXF (and is unchanged for --rotate-aug 0)",
           "rotated by 15, 30 degrees" in text and "<= 0.8" in text and same,
           next(part for part in text.split("; ") if "rotated" in part))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plant", choices=sorted(MUTATIONS), default="", help="run the checks with this bug planted")
    args = ap.parse_args()
    torch.manual_seed(0)
    with MUTATIONS[args.plant]() if args.plant else contextlib.nullcontext():
        root = subset_dir()
        old = bank(cm.data_before(BEFORE), root)
        print(f"{old.count} x{SCALE} image versions of {root} (24 t91 + 3 BSDS images), {PATCH}px LR crops, "
              f"factors {FACTORS}, {PHASES}x{PHASES} phases, batches of {BATCH}")
        seconds = {}
        t = time.time()
        banks = {"no angle": bank(data, root)}
        seconds["off"] = time.time() - t
        banks["angle 0"] = bank(data, root, rotate_angles=(0.0,))
        t = time.time()
        rot = bank(data, root, rotate_angles=ANGLES)
        seconds["on"] = time.time() - t
        check_off_is_unchanged(old, banks)
        check_unrotated_kept(old, rot)
        for r in geometry_checks():
            report(*r)
        print("      softening: amplitude kept by a 30-degree rotation at fractions of the source's Nyquist frequency: "
              + ", ".join(f"{q} {g:.3f}" for q, g in softening().items()))
        check_counts(root, rot, seconds)
        if not args.plant:
            check_mutations()
        check_options()
    print("FAILED: " + ", ".join(cm.FAILS) if cm.FAILS else "all passed")
    sys.exit(1 if cm.FAILS else 0)


if __name__ == "__main__":
    main()
