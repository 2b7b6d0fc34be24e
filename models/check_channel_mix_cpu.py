"""CPU checks of channel mixing (data.py PairBank channel_mix, train.py --channel-mix), on x4 crops with 2x2 phases,
random colour-channel orders, inversion and mixup (the augmentations around it); shares check_mixup_cpu's helpers.

  1. channel_mix 0 gives the batches of data.py as it was before the option (commit BEFORE) bit for bit, and leaves
     the generator where that left it
  2. channel_mix 1: every LR and HR crop = a * crop + (1 - a) * the crop in channel order `other`, for the (a, other)
     that channel_mix_draws gives at the same point of the stream, the same for LR and HR; a wrong order is
     rejected; values stay in [0, 1]
  3. channel_mix 0.5: the crops left alone are bit-identical to those without the option, about half are mixed
  4. why the pair is exact: a per-pixel colour matrix commutes with the (per-channel, linear) bicubic downscaling,
     and the mixed stored LRs are as close to the LR of the mixed HR as a stored LR is to its own exact LR
Usage: /usr/bin/python3 models/check_channel_mix_cpu.py [TRAIN_DIR]   (exit 1 on a failure; about 15 s)
"""

import torch

import check_mixup_cpu as cm
from check_mixup_cpu import BATCH, PATCH, PHASES, SCALE, TRAIN, generator, report
from data import CHANNEL_ORDERS, list_images, read_rgb
from matlab_resize import imresize_uint8

BEFORE = "abbd9cf"  # the last commit whose data.py has no channel mixing


def batches(bank, seed, channel_mix):
    bank.channel_mix = channel_mix
    gen = generator(seed)
    out = bank.batch(BATCH, gen)
    return out, gen.get_state()


def reorder64(x, order):
    """x (B, H, W, 3) -> float64, crop i's channels in order[i] (B, 3)."""
    return x.double().gather(3, order.view(-1, 1, 1, 3).expand(x.shape))


def plain_and_draws(bank, seed, channel_mix):
    """-> the batch without channel mixing (nor inversion, nor mixup), the (a, other) that a batch with
    `channel_mix` draws after the same crops, and the generator's state after those draws."""
    bank.invert = bank.mixup = 0.0
    plain, state = batches(bank, seed, 0.0)
    gen = generator(seed)
    gen.set_state(state)  # the crops' draws are all a plain batch makes; mixing draws next
    bank.channel_mix = channel_mix
    a, other = bank.channel_mix_draws(BATCH, gen)
    return plain, a.view(-1), other.view(-1, 3), gen.get_state()


def check_off_is_unchanged(bank):
    old = cm.data_before(BEFORE).PairBank(TRAIN, SCALE, PATCH, "cpu", (), PHASES, True, 0.5, 0.2, 0.5)
    bank.mixup, bank.invert = 0.5, 0.5
    cm.report_unchanged("channel_mix 0 (invert 0.5, mixup 0.5)", old, lambda seed: batches(bank, seed, 0.0), BEFORE)


def check_full_mix(bank):
    err, wrong, stream_ok, lo, hi, tested = 0.0, float("inf"), True, 1.0, 0.0, 0
    for seed in range(10):
        (lr0, hr0), a, other, after = plain_and_draws(bank, seed, 1.0)
        (lr, hr), state = batches(bank, seed, 1.0)
        stream_ok &= torch.equal(state, after)
        w = a.double().view(-1, 1, 1, 1)
        wrong_order = torch.tensor(CHANNEL_ORDERS)[(torch.tensor([CHANNEL_ORDERS.index(tuple(o.tolist()))
                                                                  for o in other]) + 1) % len(CHANNEL_ORDERS)]
        for got, plain in ((lr, lr0), (hr, hr0)):
            want = w * plain.double() + (1 - w) * reorder64(plain, other)
            err = max(err, (got.double() - want).abs().max().item())
            bad = w * plain.double() + (1 - w) * reorder64(plain, wrong_order)
            colourful = (plain.max(3)[0] - plain.min(3)[0]).flatten(1).max(1)[0] > 0.05  # grey crops: all orders alike
            test = ((1 - a) > 0.05) & colourful
            tested += int(test.sum())
            wrong = min(wrong, cm.crop_errors(got, bad)[test].min().item())
        lo, hi = min(lo, lr.min().item(), hr.min().item()), max(hi, lr.max().item(), hr.max().item())
    report("channel_mix 1: every LR and HR crop = a * crop + (1 - a) * crop in order `other`, the same draws for both",
           err < 1e-6, f"max |error| {err:.2e} over 10 batches of {BATCH}")
    report("channel_mix 1: the comparison rejects the next channel order", tested > 0 and wrong > 1e-3,
           f"{tested} colour crops with 1 - a > 0.05 (LR and HR), smallest max |error| of a crop {wrong:.4f}")
    report("channel_mix 1: three draws per crop after the crops' draws, nothing else", stream_ok)
    report("channel_mix 1: values in [0, 1]", 0 <= lo and hi <= 1, f"LR and HR in {lo}..{hi}")


def check_half_mix(bank):
    same, mixed, total = True, 0, 0
    for seed in range(20):
        (lr0, hr0), a, _, _ = plain_and_draws(bank, seed, 0.5)
        (lr, hr), _ = batches(bank, seed, 0.5)
        keep = a == 1
        same &= torch.equal(lr[keep], lr0[keep]) and torch.equal(hr[keep], hr0[keep])
        mixed, total = mixed + int((~keep).sum()), total + BATCH
    report("channel_mix 0.5: the crops left alone bit-identical to the crops without the option", same)
    cm.report_half("channel_mix 0.5: fraction of crops mixed", mixed, total)


def check_exact_pair():
    size = 96
    hrs = [torch.from_numpy(read_rgb(p))[:size, :size] for p in list_images(TRAIN)[:16]]
    hrs = [t for t in hrs if t.shape[:2] == (size, size)]
    lin, mixed, own = 0.0, [], []
    for k, x in enumerate(hrs):
        a, order = (k + 1) / (len(hrs) + 1), list(CHANNEL_ORDERS[k % 5 + 1])
        mix = lambda t: a * t + (1 - a) * t[..., order]  # noqa: E731
        exact = cm.downscale64(mix(x.double()))
        lin = max(lin, (exact - mix(cm.downscale64(x))).abs().max().item())
        mixed.append((mix(imresize_uint8(x, 1 / SCALE).double()) - exact).abs())
        own.append((imresize_uint8(x, 1 / SCALE).double() - cm.downscale64(x)).abs())
    mixed, own = torch.stack(mixed), torch.stack(own)
    report("a colour matrix commutes with bicubic downscaling: LR(M X) = M LR(X)", lin < 1e-9,
           f"max |difference| {lin:.1e} grey levels, {len(hrs)} {size}px HR crops, float64")
    cm.report_no_further("mixed stored LR vs exact LR of the mixed HR: no further than a stored LR from its exact LR",
                         mixed, own)


def main():
    cm.run((check_off_is_unchanged, check_full_mix, check_half_mix), (check_exact_pair,))


if __name__ == "__main__":
    main()
