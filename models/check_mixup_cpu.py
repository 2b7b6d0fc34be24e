"""CPU checks of the mixup of crop pairs (data.py PairBank mixup, train.py --mixup), on x4 crops with 2x2 phases and
random colour-channel orders (the augmentations mixup follows).

  1. mixup 0 gives the batches of data.py as it was before mixup (commit BEFORE, read with git) bit for bit and
     leaves the generator where that left it: no random number drawn for mixup
  2. mixup 1: every LR and HR crop equals a * crop i + (1 - a) * crop j (float64 reference) for the (a, j) that
     mixup_draws gives at the same point of the random stream, the same a and j for LR and HR, j != i; the same
     comparison rejects a wrong partner and a swapped weight; values in [0, 1]; shapes and dtypes unchanged
  3. mixup 0.5: the unmixed crops (a = 1) bit-identical to those without mixup, about half the crops mixed;
     the weights' mean and variance those of Beta(beta, beta)
  4. why the blend is an exact pair: MATLAB bicubic downscaling is linear (float64), and the blend of two stored
     (uint8) LRs is as close to the LR of the blended HRs as a stored LR is to its own exact LR
  5. train.py refuses --mixup with --batch 1
Usage: /usr/bin/python3 models/check_mixup_cpu.py [TRAIN_DIR]   (exit 1 on a failure; about 10 s)
"""
import contextlib
import importlib.util
import io
import os
import subprocess
import sys
import tempfile

import torch

from data import PairBank, list_images, read_rgb
from matlab_resize import imresize_uint8, resize_matrix

BEFORE = "3fd9b56"  # the last commit whose data.py has no mixup
TRAIN = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/train/t91"
SCALE, PATCH, BATCH, PHASES = 4, 16, 32, 2
FAILS = []


def report(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILS.append(name)


def report_half(name, count, total):
    """Reports whether `count` of `total` independent p = 0.5 events lies within 4 standard deviations of half."""
    frac = count / total
    report(name, abs(frac - 0.5) < 4 * (0.25 / total) ** 0.5, f"{count} of {total} = {frac:.3f}")


def report_unchanged(option, old, batch, commit, seeds=10):
    """`batch(seed)` -> ((lr, hr), the generator's state after) of the bank under test with `option` off. Reports
    whether it gives the batches of `old` (data.py of `commit`, same settings) bit for bit over `seeds` seeds, and
    leaves the generator where that left it."""
    same = stream = True
    for seed in range(seeds):
        (lr, hr), state = batch(seed)
        gen = generator(seed)
        lr0, hr0 = old.batch(BATCH, gen)
        same &= torch.equal(lr, lr0) and torch.equal(hr, hr0)
        stream &= torch.equal(state, gen.get_state())
    report(f"{option}: {seeds} batches identical to data.py of {commit}", same)
    report(f"{option}: the generator is where the old code left it", stream)


def report_no_further(name, made, own):
    """made, own: stacked |errors| in grey levels of LRs made from stored LRs, and of stored LRs, against exact LRs."""
    report(name, made.mean() <= own.mean() and made.max() <= own.max(),
           f"mean {made.mean().item():.3f} vs {own.mean().item():.3f}, max {made.max().item():.2f} vs "
           f"{own.max().item():.2f} grey levels")


def run(bank_checks, other_checks=()):
    """Runs each of `bank_checks` on the checks' bank (x4 versions of TRAIN, 2x2 phases, colour orders), then each of
    `other_checks`; prints the tally and exits 1 on a failure."""
    torch.manual_seed(0)
    bank = PairBank(TRAIN, SCALE, PATCH, "cpu", (), PHASES, True)
    print(f"{bank.count} x{SCALE} image versions of {TRAIN}, {PATCH}px LR crops, batches of {BATCH}")
    for check in bank_checks:
        check(bank)
    for check in other_checks:
        check()
    print("FAILED: " + ", ".join(FAILS) if FAILS else "all passed")
    sys.exit(1 if FAILS else 0)


def data_before(commit=BEFORE):
    """-> data.py as it was at `commit`, imported as a module."""
    here = os.path.dirname(os.path.abspath(__file__))
    source = subprocess.run(["git", "show", f"{commit}:models/data.py"], cwd=here, check=True,
                            capture_output=True, text=True).stdout
    path = os.path.join(tempfile.mkdtemp(), "data_before.py")
    with open(path, "w") as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("data_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generator(seed):
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def check_off_is_unchanged(bank):
    old = data_before().PairBank(TRAIN, SCALE, PATCH, "cpu", (), PHASES, True)
    gen_old, gen_new = generator(1), generator(1)
    same = True
    for _ in range(20):
        same &= all(torch.equal(x, y) for x, y in zip(old.batch(BATCH, gen_old), bank.batch(BATCH, gen_new)))
    report(f"mixup 0: 20 batches identical to data.py of {BEFORE}", same)
    report("mixup 0: the generator is where the old code left it",
           torch.equal(gen_old.get_state(), gen_new.get_state()))


def blend64(x, a, j):
    a = a.double().view(-1, 1, 1, 1)
    return a * x.double() + (1 - a) * x.double()[j]


def crop_errors(got, want):
    """-> (B,) the largest |difference| in each crop."""
    return (got.double() - want).abs().flatten(1).max(1)[0]


def batch_and_draws(bank, seed):
    """-> the batch without mixup, the batch with bank.mixup, the (a, j) drawn at the same point of the stream, and
    whether the generator ends where those draws left it."""
    mixup, bank.mixup = bank.mixup, 0.0
    gen = generator(seed)
    plain = bank.batch(BATCH, gen)
    bank.mixup = mixup
    a, j = bank.mixup_draws(BATCH, gen)
    after = gen.get_state()
    gen = generator(seed)
    mixed = bank.batch(BATCH, gen)
    return plain, mixed, a, j, torch.equal(gen.get_state(), after)


def check_full_mixup(bank):
    bank.mixup = 1.0
    err, wrong_j, wrong_a, stream_ok, partner_ok, lo, hi = 0.0, float("inf"), float("inf"), True, True, 1.0, 0.0
    tested_j = tested_a = 0
    for seed in range(10):
        (lr0, hr0), (lr, hr), a, j, stream = batch_and_draws(bank, seed)
        stream_ok &= stream
        partner_ok &= bool((j != torch.arange(BATCH)).all())
        lo, hi = min(lo, lr.min().item(), hr.min().item()), max(hi, lr.max().item(), hr.max().item())
        # the crops where a wrong partner / the swapped weight changes the blend by at least 5 % of a crop difference
        other = (j + 1) % BATCH
        test_j, test_a = (1 - a > 0.05) & (other != torch.arange(BATCH)), (2 * a - 1).abs() > 0.05
        tested_j, tested_a = tested_j + int(test_j.sum()), tested_a + int(test_a.sum())
        for got, plain in ((lr, lr0), (hr, hr0)):
            err = max(err, (got.double() - blend64(plain, a, j)).abs().max().item())
            wrong_j = min(wrong_j, crop_errors(got, blend64(plain, a, other))[test_j].min().item())
            wrong_a = min(wrong_a, crop_errors(got, blend64(plain, 1 - a, j))[test_a].min().item())
    report("mixup 1: every LR and HR crop = a * crop i + (1 - a) * crop j, the same recorded a and j for both",
           err < 1e-6, f"max |error| {err:.2e} over 10 batches of {BATCH}")
    report("mixup 1: the comparison rejects partner j + 1 (every crop with 1 - a > 0.05)", wrong_j > 1e-2,
           f"{tested_j} crops, smallest max |error| of a crop {wrong_j:.3f}")
    report("mixup 1: the comparison rejects weight 1 - a (every crop with |2a - 1| > 0.05)", wrong_a > 1e-2,
           f"{tested_a} crops, smallest max |error| of a crop {wrong_a:.3f}")
    report("mixup 1: the draws follow the crops' in the random stream, no other", stream_ok)
    report("mixup 1: partner j != i for every crop", partner_ok)
    report("mixup 1: values in [0, 1]", 0 <= lo and hi <= 1, f"LR and HR in {lo}..{hi}")
    shapes = (lr.shape, hr.shape, lr.dtype, hr.dtype) == (lr0.shape, hr0.shape, lr0.dtype, hr0.dtype)
    report("mixup 1: shapes and dtypes as without mixup", shapes,
           f"{tuple(lr.shape)} {tuple(hr.shape)} {lr.dtype}")


def check_half_mixup(bank):
    bank.mixup = 0.5
    unmixed_same, mixed, total = True, 0, 0
    for seed in range(20):
        (lr0, hr0), (lr, hr), a, _, _ = batch_and_draws(bank, seed)
        keep = a == 1
        unmixed_same &= torch.equal(lr[keep], lr0[keep]) and torch.equal(hr[keep], hr0[keep])
        mixed, total = mixed + int((~keep).sum()), total + BATCH
    report("mixup 0.5: unmixed crops bit-identical to the crops without mixup", unmixed_same)
    report_half("mixup 0.5: fraction of crops mixed", mixed, total)
    bank.mixup = 1.0
    a = torch.cat([bank.mixup_draws(1000, generator(seed))[0] for seed in range(100)]).double()
    beta = bank.mixup_beta
    var = 1 / (4 * (2 * beta + 1))  # of Beta(b, b); its mean is 1/2
    report(f"weights a: mean and variance of Beta({beta}, {beta}) (0.5, {var:.4f})",
           abs(a.mean().item() - 0.5) < 0.01 and abs(a.var().item() - var) < 0.005,
           f"{a.numel()} draws: mean {a.mean().item():.4f}, variance {a.var().item():.4f}, "
           f"{(torch.minimum(a, 1 - a) < 0.1).double().mean().item():.1%} within 0.1 of 0 or 1")


def downscale64(hr):
    h, w, _ = hr.shape
    rows, cols = resize_matrix(h, h // SCALE, 1 / SCALE), resize_matrix(w, w // SCALE, 1 / SCALE)
    return torch.einsum("pw,owc->opc", cols, torch.einsum("oh,hwc->owc", rows, hr.double()))


def check_exact_pair():
    """Stored LRs differ from the exact (float64, unclamped) LR by their rounding and, at hard edges, by the bicubic
    overshoot past 0..255 that uint8 clips."""
    size = 96
    hrs = [torch.from_numpy(read_rgb(p))[:size, :size] for p in list_images(TRAIN)[:16]]
    hrs = [t for t in hrs if t.shape[:2] == (size, size)]
    lin, mixed, own = 0.0, [], []
    for k, (x, y) in enumerate(zip(hrs, hrs[1:])):
        a = (k + 1) / len(hrs)
        exact = downscale64(a * x.double() + (1 - a) * y.double())
        lin = max(lin, (exact - (a * downscale64(x) + (1 - a) * downscale64(y))).abs().max().item())
        stored = [imresize_uint8(t, 1 / SCALE).double() for t in (x, y)]
        mixed.append((a * stored[0] + (1 - a) * stored[1] - exact).abs())
        own.append((stored[0] - downscale64(x)).abs())
    mixed, own = torch.stack(mixed), torch.stack(own)
    report("bicubic downscaling is linear: LR(a X + (1 - a) Y) = a LR(X) + (1 - a) LR(Y)", lin < 1e-9,
           f"max |difference| {lin:.1e} grey levels, {len(hrs) - 1} pairs of {size}px HR crops, float64")
    report_no_further("blend of stored LRs vs exact LR of the HR blend: no further than a stored LR from its exact LR",
                      mixed, own)


def parse_refused(argv):
    """-> train.py's error message for the options `argv` (after --minutes 1), or None if it accepts them."""
    import train
    message = io.StringIO()
    try:
        with contextlib.redirect_stderr(message):
            train.parse_args(["--minutes", "1", *argv])
    except SystemExit:
        return message.getvalue().splitlines()[-1]
    return None


def check_batch_one_refused():
    error = parse_refused(["--mixup", "0.5", "--batch", "1"])
    report("train.py refuses --mixup with --batch 1", error is not None, error or "it did not")


def main():
    run((check_off_is_unchanged, check_full_mixup, check_half_mixup), (check_exact_pair, check_batch_one_refused))


if __name__ == "__main__":
    main()
