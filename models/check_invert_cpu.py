"""CPU checks of crop inversion (data.py PairBank invert, train.py --invert), on x4 crops with 2x2 phases, random
colour-channel orders and mixup (the augmentations around it); shares check_mixup_cpu's helpers and tally.

  1. invert 0 gives the batches of data.py as it was before inversion (commit BEFORE) bit for bit, and leaves
     the generator where that left it
  2. invert 1, mixup 0: every LR and HR crop is 1 - the crop without inversion; the draw is one rand per crop
     after the crops' draws, so the stream is otherwise unchanged; values stay in [0, 1]
  3. invert 0.5 with mixup: the negatives are taken before the blend (crop i = a * neg_i + (1 - a) * neg_j, where
     neg is the inverted-or-not crop), about half the crops inverted; a wrong order (blend, then invert) is rejected
  4. why the negative is an exact pair: the bicubic weights sum to 1, so LR(255 - X) = 255 - LR(X) in float64,
     and for the stored uint8 LRs but for rounding ties (at most 1 grey level)
Usage: /usr/bin/python3 models/check_invert_cpu.py [TRAIN_DIR]   (exit 1 on a failure; about 10 s)
"""

import torch

import check_mixup_cpu as cm
from check_mixup_cpu import BATCH, PATCH, PHASES, SCALE, TRAIN, generator, report
from data import list_images, read_rgb
from matlab_resize import imresize_uint8

BEFORE = "ee27985"  # the last commit whose data.py has no inversion


def batches(bank, seed, invert, mixup):
    bank.invert, bank.mixup = invert, mixup
    gen = generator(seed)
    out = bank.batch(BATCH, gen)
    return out, gen.get_state()


def check_off_is_unchanged(bank):
    old = cm.data_before(BEFORE).PairBank(TRAIN, SCALE, PATCH, "cpu", (), PHASES, True, 0.5)
    cm.report_unchanged("invert 0 (mixup 0.5)", old, lambda seed: batches(bank, seed, 0.0, 0.5), BEFORE)


def check_full_invert(bank):
    err, stream_ok, lo, hi = 0.0, True, 1.0, 0.0
    for seed in range(10):
        (lr0, hr0), _ = batches(bank, seed, 0.0, 0.0)
        gen = generator(seed)
        bank.batch(BATCH, gen)
        torch.rand(BATCH, generator=gen)  # the one draw inversion adds
        (lr, hr), state = batches(bank, seed, 1.0, 0.0)
        stream_ok &= torch.equal(state, gen.get_state())
        err = max(err, (lr.double() - (1 - lr0.double())).abs().max().item(),
                  (hr.double() - (1 - hr0.double())).abs().max().item())
        lo, hi = min(lo, lr.min().item(), hr.min().item()), max(hi, lr.max().item(), hr.max().item())
    report("invert 1: every LR and HR crop = 1 - the crop without inversion", err < 1e-6,
           f"max |error| {err:.2e} over 10 batches of {BATCH}")
    report("invert 1: one rand per crop after the crops' draws, nothing else", stream_ok)
    report("invert 1: values in [0, 1]", 0 <= lo and hi <= 1, f"LR and HR in {lo}..{hi}")


def check_half_invert_with_mixup(bank):
    err_before, err_after, inverted, total, tested = 0.0, float("inf"), 0, 0, 0
    for seed in range(10):
        (lr0, hr0), _ = batches(bank, seed, 0.0, 0.0)
        gen = generator(seed)
        bank.batch(BATCH, gen)
        negative = torch.rand(BATCH, generator=gen) < 0.5
        bank.mixup = 0.5
        a, j = bank.mixup_draws(BATCH, gen)
        (lr, hr), _ = batches(bank, seed, 0.5, 0.5)
        mixed = a < 1
        for got, plain in ((lr, lr0), (hr, hr0)):
            neg = torch.where(negative.view(-1, 1, 1, 1), 1 - plain.double(), plain.double())
            err_before = max(err_before, (got.double() - cm.blend64(neg, a, j)).abs().max().item())
            late = torch.where(negative.view(-1, 1, 1, 1), 1 - cm.blend64(plain, a, j), cm.blend64(plain, a, j))
            test = mixed & (negative != negative[j]) & ((1 - a) > 0.05)
            tested += int(test.sum())
            if test.any():
                err_after = min(err_after, cm.crop_errors(got, late)[test].min().item())
        inverted, total = inverted + int(negative.sum()), total + BATCH
    report("invert 0.5 + mixup 0.5: crop i = a * neg_i + (1 - a) * neg_j (inversion before the blend)",
           err_before < 1e-6, f"max |error| {err_before:.2e}")
    report("invert 0.5 + mixup 0.5: the comparison rejects blend-then-invert", tested > 0 and err_after > 1e-2,
           f"{tested} crops mixed with a differently inverted partner (LR and HR), smallest max |error| {err_after:.3f}")
    cm.report_half("invert 0.5: fraction of crops inverted", inverted, total)


def check_exact_pair():
    size = 96
    hrs = [torch.from_numpy(read_rgb(p))[:size, :size] for p in list_images(TRAIN)[:16]]
    hrs = [t for t in hrs if t.shape[:2] == (size, size)]
    exact = max((cm.downscale64(255 - x.double()) - (255 - cm.downscale64(x))).abs().max().item() for x in hrs)
    stored = max((imresize_uint8(255 - x, 1 / SCALE).int() - (255 - imresize_uint8(x, 1 / SCALE).int())).abs()
                 .max().item() for x in hrs)
    report("bicubic downscaling commutes with inversion: LR(255 - X) = 255 - LR(X)", exact < 1e-9,
           f"max |difference| {exact:.1e} grey levels, {len(hrs)} {size}px HR crops, float64")
    report("the same for the stored uint8 LRs, but for rounding ties", stored <= 1,
           f"max |difference| {stored} grey level(s)")


def main():
    cm.run((check_off_is_unchanged, check_full_invert, check_half_invert_with_mixup), (check_exact_pair,))


if __name__ == "__main__":
    main()
