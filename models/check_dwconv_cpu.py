"""CPU checks of the Triton depthwise conv (triton_dwconv.py) without a GPU or Triton.

  1. the reference (dwconv_ref.py) vs F.conv2d(groups=C) and torch.autograd.gradcheck, float64
  2. the kernels themselves, run by tl_emulator (the jit bodies as Python on CPU tensors), through the
     launchers dwconv_forward / dwconv_backward, vs the reference: float64 (tight), float32 and bf16 inputs;
     odd sizes, 1-row / 1-column images, partial patches (across and down) and channel blocks (C not a
     multiple of the block), strided x (a channel chunk) and dy, residual on/off, k 3 and 5, the production
     patch and strip sizes and small ones; strips programs of the weight-sum kernel that straddle rows and
     images, strips wider than the row's rest, the last program past the last image; every output element
     must be stored exactly once
  2b. the partial-sum finishing kernel alone (rows / columns not multiples of its block) vs torch .sum
  3. nalasr_model still imports and runs without Triton; set_depthwise("triton") refuses with a clear error
Usage: /usr/bin/python3 models/check_dwconv_cpu.py   (exit 1 on a failure; about 20 s)
"""
import sys

import torch

import tl_emulator

FAILS = []


def report(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILS.append(name)


def check_model_without_triton():
    import nalasr_model as nm  # before the emulator is installed: must not need triton
    model = nm.NalaSR(nm.ModelConfig(channels=16, heads=2, groups=1, blocks=1, scale=2))
    try:
        model.set_depthwise("triton")
        report("set_depthwise('triton') without Triton raises", False, "it did not")
    except RuntimeError as exc:
        report("set_depthwise('triton') without Triton raises", True, str(exc)[:100])
    for impl in ("cudnn", "shift"):
        model.set_depthwise(impl)
        out = model(torch.rand(1, 7, 9, 3))
        report(f"model runs on CPU torch {torch.__version__} with depthwise {impl!r}", out.shape == (1, 14, 18, 3))


def written_once(tdw_emulator):
    bad = [(tag, counts) for tag, (_, counts) in tdw_emulator.WRITES.items() if not bool((counts == 1).all())]
    tdw_emulator.WRITES.clear()
    return not bad, "; ".join(f"{int((c == 0).sum())} unwritten, {int((c > 1).sum())} written twice"
                              for _, c in bad)


# module constants a case may override: SMALL makes many small ragged patches (several across and down) and
# strips programs (the last one running past the last image) out of the small test images
SMALL = dict(FWD_TILE_PIX=16, TILE_W_MAX=4, WGRAD_PIXELS=12, WGRAD_ACC_ELEMS=2048, WGRAD_BLOCK_C_MAX=32,
             SUM_BLOCK_R=4, SUM_BLOCK_N=16)
NARROW = dict(FWD_TILE_PIX=8, TILE_W_MAX=2, FWD_BLOCK_C_MAX=16, WGRAD_PIXELS=5, WGRAD_ACC_ELEMS=512,
              WGRAD_BLOCK_C_MAX=16, SUM_BLOCK_R=8)


def run_kernels(tdw, x, weight, bias, dy, residual):
    """Forward + backward through the launchers -> y, dx, sums, a description of the launch, store check."""
    b, h, w, c = x.shape
    k = weight.shape[-1]
    y = tdw.dwconv_forward(x, weight, bias, residual)
    ok_y, msg_y = written_once(tl_emulator)
    dx, sums = tdw.dwconv_backward(dy, x, weight, residual)
    ok_b, msg_b = written_once(tl_emulator)
    th, tw = tdw.tile_shape(h, w, tdw.FWD_TILE_PIX)
    lay = tdw.wgrad_layout(b, h, w, c, k)
    bwd = (f"strips of {lay['strip']} px x {lay['block_c']} ch, "
           f"{lay['programs']} x {lay['channel_blocks']} programs of {lay['steps']}")
    stores = (f"; forward stores: {msg_y}" if not ok_y else "") + (f"; backward stores: {msg_b}" if not ok_b else "")
    return y, dx, sums, f"fwd patch {th}x{tw}; {bwd}", ok_y and ok_b, stores


def kernel_case(tdw, ref, cfg, b, h, w, c, k, residual, dtype, strided=False):
    (x, weight, bias), dy = ref.random_case(b, h, w, 2 * c if strided else c, k, seed=b + h + w + c + k)
    x, weight, bias = (t.detach() for t in (x, weight, bias))
    weight, bias = weight[:c].contiguous(), bias[:c].contiguous()
    dy = dy[..., :c]  # strided dy (pixel stride 2C) when strided
    xd = x.to(dtype)[..., :c]  # strided x when strided
    want_y = ref.forward(x[..., :c], weight, bias, residual)
    want_dx, want_sums = ref.backward(dy, x[..., :c], weight, residual)
    name = (f"kernels {str(dtype)[6:]} B {b}, {h}x{w}, C {c}, k {k}, residual {int(residual)}"
            f"{', strided x/dy' if strided else ''}")
    try:
        with tdw.launch_constants(cfg or {}):
            y, dx, sums, launch, ok_stores, stores = run_kernels(tdw, xd, weight, bias, dy.to(dtype), residual)
    except Exception as exc:  # noqa: BLE001 -- e.g. the emulator's out-of-bounds IndexError
        tl_emulator.WRITES.clear()
        report(name, False, f"{type(exc).__name__}: {str(exc)[:200]}")
        return
    errs = [ref.rel(y, want_y), ref.rel(dx, want_dx), ref.rel(sums[:k * k], want_sums[:k * k]),
            ref.rel(sums[k * k], want_sums[k * k])]
    tol = {torch.float64: 1e-13, torch.float32: 1e-6, torch.bfloat16: 1e-2}[dtype]
    # bf16: x, dy rounded to bf16 (3 significant digits) against float64 truth; y, dx rounded on output too
    ok = max(errs) < tol and y.dtype == dtype and dx.dtype == dtype and y.is_contiguous() and dx.is_contiguous()
    report(f"{name}; {launch}", ok and ok_stores,
           "y / dx / dw / db " + " / ".join(f"{e:.1e}" for e in errs) + stores)


def check_finish(tdw, ref):
    """The partial-sum finishing kernel alone: rows and columns not multiples of its blocks."""
    part = torch.randn(150, 26, 37, dtype=torch.float64)
    with tdw.launch_constants(dict(SUM_BLOCK_R=16, SUM_BLOCK_N=64)):
        got = tdw._finish_sums(part)
    ok_w, msg = written_once(tl_emulator)
    err = ref.rel(got, part.sum(0))
    report("partial-sum finishing kernel, float64 (150, 26, 37) in 16 x 64 blocks vs torch .sum", err < 1e-14
           and ok_w, f"{err:.1e}" + ("" if ok_w else f"; stores: {msg}"))


def main():
    import dwconv_ref as ref
    print(f"torch {torch.__version__} (CPU); Triton kernels run by tl_emulator")
    if ref.main():
        FAILS.append("reference checks")
    check_model_without_triton()
    tl_emulator.install()
    sys.modules.pop("triton_dwconv", None)  # imported without Triton by the model check above
    import triton_dwconv as tdw
    report("triton_dwconv imports with the emulator; kernels defined", tdw.HAVE_TRITON and not tdw.AVAILABLE,
           "custom ops need torch >= 2.4: only the launchers are checked here")
    f64, f32, bf16 = torch.float64, torch.float32, torch.bfloat16
    cases = [  # (B, H, W, C, k, residual, dtype, strided, constants)
        (2, 5, 7, 16, 3, False, f64, False, SMALL),
        (2, 5, 7, 16, 3, True, f64, True, SMALL),
        (1, 9, 31, 48, 5, False, f64, False, None),  # channel block 64: 16 of its 64 masked
        (1, 9, 31, 48, 5, True, f64, True, SMALL),
        (2, 3, 2, 8, 5, True, f64, False, None),  # image smaller than the kernel
        (1, 1, 6, 3, 3, False, f64, True, None),  # one row; C 3 < 16
        (2, 6, 1, 5, 5, True, f64, False, None),  # one column
        (3, 1, 37, 20, 5, True, f64, False, SMALL),  # one row: 1x16 patches, 3 across; C 20: 12 masked
        (1, 37, 1, 37, 3, False, f64, True, SMALL),  # one column: 16x1 patches, 3 down; C 37: 2 blocks
        (1, 11, 13, 80, 3, True, f64, False, SMALL),  # channel blocks: forward 64 + 16, strips 32 + 32 + 16
        (2, 9, 7, 24, 3, True, f64, True, NARROW),  # 4x2 patches, 16-channel blocks; strips of 2
        (3, 4, 7, 40, 5, False, f64, True, NARROW),  # strips of 1, 5 a program: straddle rows and images
        (5, 3, 17, 16, 3, True, f64, False, SMALL),  # strips of 8 (8 + 8 + 1 a row), 2 a program, last past B
        (2, 16, 64, 64, 3, True, f64, False, None),  # production strips (8 px x 64 ch, 32 a program)
        (3, 7, 64, 64, 5, False, f64, True, None),  # production 5x5 strips (4 px), 21 rows: 5.25 programs
        (1, 33, 70, 40, 3, True, f32, False, None),  # 4x16 patches: 5 across (last 6 wide), 9 down
        (2, 17, 19, 128, 3, True, f32, True, None),
        (1, 12, 10, 64, 5, False, f32, False, SMALL),
        (2, 16, 16, 64, 3, True, bf16, True, None),
        (1, 16, 16, 64, 5, False, bf16, False, SMALL),
    ]
    for case in cases:
        kernel_case(tdw, ref, case[8], *case[:5], residual=case[5], dtype=case[6], strided=case[7])
    check_finish(tdw, ref)
    # the pieces check_triton_dwconv.py times separately: dx alone (forward kernel, flipped) and the sums alone
    (x, weight, _), dy = ref.random_case(2, 9, 11, 40, 5, seed=3)
    x, weight = x.detach(), weight.detach()
    want_dx, want_sums = ref.backward(dy, x, weight, True)
    name = "dwconv_dx / dwconv_weight_sums (the timed pieces) float64, B 2, 9x11, C 40, k 5"
    try:
        errs = (ref.rel(tdw.dwconv_dx(dy, weight, True), want_dx),
                ref.rel(tdw.dwconv_weight_sums(dy, x, weight, True), want_sums))
        report(name, max(errs) < 1e-13, " / ".join(f"{e:.1e}" for e in errs))
    except Exception as exc:  # noqa: BLE001 -- e.g. the emulator's out-of-bounds IndexError
        report(name, False, f"{type(exc).__name__}: {str(exc)[:200]}")
    tl_emulator.WRITES.clear()
    print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'}")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
