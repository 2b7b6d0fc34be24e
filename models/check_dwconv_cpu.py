"""CPU checks of the Triton depthwise conv (triton_dwconv.py) without a GPU or Triton.

  1. the reference (dwconv_ref.py) vs F.conv2d(groups=C) and torch.autograd.gradcheck, float64
  2. the kernels themselves, run by tl_emulator (the jit bodies as Python on CPU tensors), through the
     launchers dwconv_forward / dwconv_backward, vs the reference: float64 (tight), float32 and bf16 inputs;
     odd sizes, partial pixel tiles and channel blocks, several backward programs, strided x (a channel chunk)
     and dy, both backward variants (FUSED_BWD on/off); every output element must be stored exactly once
  3. nalasr_model still imports and runs without Triton; set_depthwise("triton") refuses with a clear error
Usage: /usr/bin/python3 models/check_dwconv_cpu.py   (exit 1 on a failure; about 10 s)
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


def kernel_case(tdw, ref, b, h, w, c, k, residual, dtype, strided=False, pixels_per_program=None):
    (x, weight, bias), dy = ref.random_case(b, h, w, 2 * c if strided else c, k, seed=b + h + w + c + k)
    x, weight, bias = (t.detach() for t in (x, weight, bias))
    weight, bias = weight[:c].contiguous(), bias[:c].contiguous()
    dy = dy[..., :c]  # strided dy (pixel stride 2C) when strided
    xd = x.to(dtype)[..., :c]  # strided x when strided
    want_y = ref.forward(x[..., :c], weight, bias, residual)
    want_dx, want_sums = ref.backward(dy, x[..., :c], weight, residual)
    saved = tdw.BWD_PIXELS_PER_PROGRAM
    if pixels_per_program:
        tdw.BWD_PIXELS_PER_PROGRAM = pixels_per_program
    try:
        y = tdw.dwconv_forward(xd, weight, bias, residual)
        ok_y, msg_y = written_once(tl_emulator)
        dx, sums = tdw.dwconv_backward(dy.to(dtype), xd, weight, residual)
        ok_b, msg_b = written_once(tl_emulator)
        layout = tdw.bwd_layout(b * h * w, c, k)
    finally:
        tdw.BWD_PIXELS_PER_PROGRAM = saved
    errs = [ref.rel(y, want_y), ref.rel(dx, want_dx), ref.rel(sums[:k * k], want_sums[:k * k]),
            ref.rel(sums[k * k], want_sums[k * k])]
    tol = {torch.float64: 1e-13, torch.float32: 1e-6, torch.bfloat16: 1e-2}[dtype]
    # bf16: x, dy rounded to bf16 (3 significant digits) against float64 truth; y, dx rounded on output too
    ok = max(errs) < tol and y.dtype == dtype and dx.dtype == dtype and y.is_contiguous() and dx.is_contiguous()
    name = (f"kernels {str(dtype)[6:]} B {b}, {h}x{w}, C {c}, k {k}, residual {int(residual)}"
            f"{', strided x/dy' if strided else ''}, fused bwd {int(tdw.FUSED_BWD)}, "
            f"bwd programs {layout[4]} x {layout[3]} tiles of {layout[0]} px")
    report(name, ok and ok_y and ok_b, "y / dx / dw / db " + " / ".join(f"{e:.1e}" for e in errs)
           + (f"; forward stores: {msg_y}" if not ok_y else "") + (f"; backward stores: {msg_b}" if not ok_b else ""))


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
    cases = [  # (B, H, W, C, k, residual, dtype, strided, pixels per backward program)
        (2, 5, 7, 16, 3, False, torch.float64, False, None),
        (2, 5, 7, 16, 3, True, torch.float64, True, None),
        (1, 9, 31, 48, 5, False, torch.float64, False, 64),  # channel block 32: second one half masked
        (1, 9, 31, 48, 5, True, torch.float64, True, 40),  # 40 px per program: ragged programs
        (2, 3, 2, 8, 5, True, torch.float64, False, None),  # image smaller than the kernel
        (1, 1, 6, 3, 3, False, torch.float64, True, None),  # one row; C 3 < 16
        (2, 6, 1, 5, 5, True, torch.float64, False, None),  # one column
        (1, 11, 13, 80, 3, True, torch.float64, False, 96),  # forward channel blocks 64 + 16 of 64
        (2, 17, 19, 128, 3, True, torch.float32, True, 128),
        (1, 12, 10, 64, 5, False, torch.float32, False, None),
        (2, 16, 16, 64, 3, True, torch.bfloat16, True, None),
        (1, 16, 16, 64, 5, False, torch.bfloat16, False, 64),
    ]
    for fused in (True, False):
        tdw.FUSED_BWD = fused
        for case in (cases if fused else cases[:4] + cases[8:9]):
            kernel_case(tdw, ref, *case[:5], residual=case[5], dtype=case[6], strided=case[7],
                        pixels_per_program=case[8])
    tdw.FUSED_BWD = True
    print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'}")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
