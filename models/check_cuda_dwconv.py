"""Checks and times the CUDA depthwise convolution (cuda_dwconv.py) on the GPU machine, against F.conv2d and
the Triton kernels (triton_dwconv.py). One PASS/FAIL line per check, exit 1 on any FAIL:
  0. the build (nvcc for this GPU, seconds) and the launch geometry at the training sizes
  1. float64 and float32 kernels (custom op + autograd; both backward implementations, cuda_dwconv.BWD_IMPL
     split and fused) vs F.conv2d in float64: y, dx, dw, db relative L2 error
     on check_triton_dwconv's SMALL cases (1x6, 6x1, 3x2, 5x7, 9x31, 33x17, 64x64; C 8-128; k 3, 5; residual
     on/off; strided x) plus EXTRA (k 7, C 5 / 12 / 24: scalar and narrow vectors, a channel slice at an odd
     offset: misaligned, scalar loads, many backward blocks); fp16 inputs; gradcheck in float64; repeated
     backward bit-identical (no atomics); the backward's out / accumulate arguments (dx into a channel slice,
     added to its contents: cuda_branch.py); each of these for both backward implementations
  2. bf16 at training size (B 32, 64x64, C 64 / 128, k 3 / 5): as close to float64 as the Triton op (both
     backward implementations); split vs fused backward on the same inputs (bf16 and float32)
  3. torch.compile(fullgraph=True) == eager; CUDA-graph capture + replay on new inputs == eager (check_triton's
     Small module with depthwise "cuda")
  4. the model: bf16 autocast vs float32, depthwise cuda vs triton vs shift; self_check; the compiled CUDA-graph
     training step (skipped by --quick)
  5. 64-bit indexing: bf16 x of more than 2^31 elements, forward + dx rows at the far end vs F.conv2d
     (skipped by --quick)
  6. timing from CUDA-graph replays at the training size, CUDA vs Triton: fwd, bwd (split and fused), dx
     alone, dW+db alone (wgrad_kernel + finish; Triton's) (skipped by --quick)
  --sweep: only the timing of launch-constant variants (SWEEP; libraries built in parallel first)
Usage: python3 models/check_cuda_dwconv.py [--quick | --sweep]
"""
import argparse
import concurrent.futures
import time

import torch

import check_triton_dwconv as ctd
import cuda_dwconv as cdw
import cuda_ext
import dwconv_ref as ref
import nalasr_model as nm
import triton_dwconv as tdw
from cuda_timing import graph_us
from device_check import FAILS, bf16_variant_errors, exit_with_status, graphed_steps_check, rel, report

EXTRA = [  # (B, H, W, C, k, residual, strided)
    (1, 9, 31, 16, 7, True, False), (2, 13, 11, 5, 3, True, False), (1, 7, 9, 12, 5, False, True),
    (2, 17, 23, 24, 3, False, False), (3, 40, 37, 64, 3, True, False), (2, 64, 64, 128, 5, True, True),
]
TRAINING = ((64, 3, True, False), (128, 3, True, False), (64, 5, False, True))


def both_backwards(fn):
    """fn() under each backward implementation (cuda_dwconv.BWD_IMPL), the name given to fn as its argument."""
    for impl in cdw.BWD_IMPLS:
        with cdw.launch_constants(dict(BWD_IMPL=impl)):
            fn(impl)


def cases(device, dtype, case_list, offset=0, impl=""):
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 2e-3}[dtype]
    for i, (b, h, w, c, k, residual, strided) in enumerate(case_list):
        leaves64, leaves, dy = ctd.case_inputs(b, h, w, c, k, dtype, device, seed=i + offset, strided=strided)
        truth = ref.values_and_grads(ref.dwconv_conv2d, leaves64, dy, residual)
        got = ref.values_and_grads(cdw.dwconv_cuda, leaves, dy.to(device, dtype), residual)
        errs = [rel(a.cpu(), t) for a, t in zip(got, truth)]
        name = f"B {b}, {h}x{w}, C {c}, k {k}, residual {int(residual)}{', strided x' if strided else ''}"
        ok = max(errs) < tol and got[0].dtype == dtype and got[1].dtype == dtype
        report(f"cuda {str(dtype)[6:]} {impl} backward vs F.conv2d float64 ({name})", ok,
               "y / dx / dw / db " + " / ".join(f"{e:.1e}" for e in errs))


def misaligned(device, impl=""):
    """x = a channel slice at offset 1 (no vector loads: vec_width -> 1) or 2 (float32 vec 2 from an address 8
    bytes past a 16-byte boundary) of a wider tensor."""
    for off in (1, 2):
        (x, weight, bias), dy = ref.random_case(2, 9, 10, 64 + 2 * off, 3, seed=3)
        x, weight, bias, dy = x.detach(), weight.detach()[:64], bias.detach()[:64], dy[..., :64]
        truth = ref.values_and_grads(ref.dwconv_conv2d, [t.clone().requires_grad_() for t in
                                                         (x[..., off:off + 64].contiguous(), weight, bias)], dy, True)
        leaves = [x.to(device, torch.float32)[..., off:off + 64].requires_grad_()] + \
            [t.to(device, torch.float32).requires_grad_() for t in (weight, bias)]
        vec = cdw.vec_width(64, 4, cdw.FWD_VEC[3], leaves[0].stride()[:3], (leaves[0].data_ptr(),))
        got = ref.values_and_grads(cdw.dwconv_cuda, leaves, dy.to(device, torch.float32), True)
        errs = [rel(a.cpu(), t) for a, t in zip(got, truth)]
        report(f"cuda float32 {impl} backward, x a channel slice at offset {off} (forward vec {vec})",
               max(errs) < 1e-5,
               "y / dx / dw / db " + " / ".join(f"{e:.1e}" for e in errs))


def gradcheck(device):
    for k, residual in ((3, True), (5, False), (7, True)):
        _, leaves, _ = ctd.case_inputs(1, 5, 7, 16, k, torch.float64, device, seed=10 + k)
        ok = torch.autograd.gradcheck(lambda x, w, b: cdw.dwconv_cuda(x, w, b, residual), leaves,
                                      raise_exception=False)
        report(f"gradcheck float64 (B 1, 5x7, C 16, k {k}, residual {int(residual)})", ok, "")


def deterministic(device, impl=""):
    _, leaves, dy = ctd.case_inputs(8, 64, 64, 64, 3, torch.bfloat16, device, seed=4)
    x, w = leaves[0].detach(), leaves[1].detach()
    runs = [cdw.dwconv_backward(dy.to(device, torch.bfloat16), x, w, True) for _ in range(3)]
    same = all(torch.equal(r[0], runs[0][0]) and torch.equal(r[1], runs[0][1]) for r in runs[1:])
    report(f"{impl} backward bit-identical over 3 runs (no atomics)", same, "")


def accumulate(device, impl=""):
    """The backward's accumulate flag (cuda_branch.py adds dlepe's dv into the dv slice of d(qkvg)): dx written into
    a channel slice of a wider tensor, added to its prior contents; the rest of that tensor untouched."""
    for dtype, tol in ((torch.float64, 1e-13), (torch.bfloat16, 1e-2)):
        (x, weight, _), dy = ref.random_case(2, 19, 23, 64, 5, seed=9)
        x, weight = x.detach(), weight.detach()
        dx_ref, sums_ref = ref.backward(dy, x, weight, False)
        wide = torch.randn(2, 19, 23, 256, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        init = wide.clone()
        wide_d = wide.to(device, dtype)
        before = wide_d.clone()
        _, sums = cdw.dwconv_backward(dy.to(device, dtype), x.to(device, dtype), weight.to(device), False,
                                      out=wide_d[..., 128:192], accumulate=True)
        want = init[..., 128:192] + dx_ref
        untouched = torch.equal(wide_d[..., :128], before[..., :128]) and torch.equal(wide_d[..., 192:], before[..., 192:])
        errs = [rel(wide_d[..., 128:192].cpu(), want), rel(sums.cpu(), sums_ref)]
        report(f"{impl} backward with out = a channel slice and accumulate ({dtype}, C 64 of 256, k 5)",
               max(errs) < tol and untouched, f"dx / sums {errs[0]:.1e} / {errs[1]:.1e}; other channels untouched: "
               f"{untouched}")


def training_size(device, impl=""):
    """bf16 at B 32, 64x64: cuda and triton vs float64 truth on the same bf16-rounded inputs."""
    for c, k, residual, strided in TRAINING:
        leaves64, leaves, dy = ctd.case_inputs(32, 64, 64, c, k, torch.bfloat16, device, seed=c + k, strided=strided)
        dyb = dy.to(device, torch.bfloat16)
        truth = ref.values_and_grads(ref.dwconv_conv2d, [t.detach().to(device).requires_grad_() for t in
                                                         [leaves[0].detach().double()] + leaves64[1:]],
                                     dyb.double(), residual)
        errs = {name: [rel(a, t) for a, t in zip(ref.values_and_grads(fn, leaves, dyb, residual), truth)]
                for name, fn in (("cuda", cdw.dwconv_cuda), ("triton", tdw.dwconv_triton))}
        ok = all(e <= max(1.5 * t, 1e-3) for e, t in zip(errs["cuda"], errs["triton"]))
        fmt = lambda e: " / ".join(f"{v:.1e}" for v in e)  # noqa: E731
        report(f"bf16 at training size (C {c}, k {k}, residual {int(residual)}{', strided x' if strided else ''}):"
               f" cuda ({impl} backward) as close to float64 as triton", ok,
               f"y / dx / dw / db cuda {fmt(errs['cuda'])}, triton {fmt(errs['triton'])}")


def split_vs_fused(device):
    """The split backward (forward kernel's DX instance + wgrad_kernel) against the fused bwd_kernel on the same
    inputs at training size: dx should match to rounding (the same conv_rows sums), the sums to float32
    summation order; plus the dx and sums of each against float64."""
    for dtype, tol_dx, tol_sums in ((torch.float32, 1e-6, 1e-4), (torch.bfloat16, 8e-3, 1e-4)):
        for c, k, residual, strided in TRAINING:
            _, leaves, dy = ctd.case_inputs(32, 64, 64, c, k, dtype, device, seed=c + k, strided=strided)
            x, w, dyd = leaves[0].detach(), leaves[1].detach(), dy.to(device, dtype)
            res = {}
            for impl in cdw.BWD_IMPLS:
                with cdw.launch_constants(dict(BWD_IMPL=impl)):
                    res[impl] = cdw.dwconv_backward(dyd, x, w, residual)
            dx64, sums64 = ref.backward(dyd.double(), x.double(), w.double(), residual)
            e = [rel(res["split"][0].double(), res["fused"][0].double()),
                 rel(res["split"][1].double(), res["fused"][1].double())]
            truth = {impl: (rel(r[0].double(), dx64), rel(r[1].double(), sums64)) for impl, r in res.items()}
            ok = e[0] <= tol_dx and e[1] <= tol_sums and truth["split"][1] <= 1.5 * truth["fused"][1] + 1e-6
            same = torch.equal(res["split"][0], res["fused"][0])
            report(f"split vs fused backward ({str(dtype)[6:]}, C {c}, k {k}, residual {int(residual)}"
                   f"{', strided x' if strided else ''})", ok,
                   f"dx / sums {e[0]:.1e} / {e[1]:.1e} (dx bit-identical: {same});"
                   f" vs float64 split {truth['split'][0]:.1e} / {truth['split'][1]:.1e}, fused "
                   f"{truth['fused'][0]:.1e} / {truth['fused'][1]:.1e}")


def compile_and_graph(device):
    """check_triton_dwconv's compile / graph checks with the module's convs switched to cuda."""
    orig = ctd.Small.__init__

    def init(self, c):
        orig(self, c)
        nm.enable_cuda_depthwise()
        for m in (self.cpe, self.lepe):
            m.impl = "cuda"
    ctd.Small.__init__ = init
    try:
        ctd.compile_and_graph(device)
    finally:
        ctd.Small.__init__ = orig


def model_check(device, graph=True):
    from train import build_model
    gen = torch.Generator().manual_seed(5)
    img = torch.rand(4, 64, 64, 3, generator=gen).to(device)
    hr = torch.rand(4, 256, 256, 3, generator=gen).to(device)
    for kind in ("nala", "pola"):
        torch.manual_seed(0)
        model = build_model(nm.ModelConfig(attention=kind), device, "shift")
        e = bf16_variant_errors(model, img, hr, (("float32", "shift", False), ("shift", "shift", True),
                                                 ("triton", "triton", True), ("cuda", "cuda", True)),
                                lambda m, impl: m.set_depthwise(impl))
        ok = all(e["cuda"][i] <= 2 * e["triton"][i] + 1e-4 for i in range(2))
        report(f"{kind} model, bf16 autocast vs float32: depthwise cuda as close as triton", ok,
               " ".join(f"{n} {e[n][0]:.2e} / {e[n][1]:.2e}" for n in ("cuda", "triton", "shift"))
               + " (output - 0.5 / parameter gradients)")
    ok, msg = cdw.self_check(device)
    report("cuda_dwconv.self_check (what train.py --depthwise cuda runs first)", ok, msg)
    if graph:
        def make():
            model = build_model(nm.ModelConfig(), device, "cuda")
            model.set_formulation("triton")
            return model
        graphed_steps_check("compiled blocks + CUDA-graph train steps (triton attention + cuda depthwise)", make,
                            img, hr)


def large_index(device):
    """B * H * W * C > 2^31 (bf16, 4.4 GB a tensor): the last rows of y and dx vs F.conv2d on a crop."""
    b, h, w, c, k = 1, 8200, 4100, 64, 3
    assert b * h * w * c > 2 ** 31
    x = torch.randn(b, h, w, c, device=device, dtype=torch.bfloat16)
    weight = torch.randn(c, 1, k, k, device=device) / 3
    bias = torch.randn(c, device=device)
    y = cdw.dwconv_forward(x, weight, bias, True)
    crop = x[:, -10:].double()
    want = ref.dwconv_conv2d(crop, weight.double(), bias.double(), True)[:, -8:]
    e_y = rel(y[:, -8:].double(), want)
    del y
    dx = cdw.dwconv_dx(x, weight, True)  # dx of dy = x: the flipped conv + x
    want_dx = ref.conv_taps(crop, weight.double().reshape(c, k * k), k, flip=True)[:, -8:] + crop[:, -8:]
    e_dx = rel(dx[:, -8:].double(), want_dx)
    report("64-bit offsets: 1 x 8200 x 4100 x 64 bf16 (2.15e9 elements), last 8 rows of y and dx",
           max(e_y, e_dx) < 1e-2, f"y {e_y:.1e}, dx {e_dx:.1e}")


def timing(device):
    print("  timing (us, CUDA-graph replay, B 32 x 64^2, bf16 x, float32 weights); per step = x16 blocks")
    print("    shape             | cuda fwd   bwd fused-bwd dx-alone dW+db-alone | triton fwd   bwd  dW+db-alone | "
          "fwd+bwd cuda / fused / triton")
    total = {"cuda": 0.0, "fused": 0.0, "triton": 0.0}
    for c, k, residual, strided in TRAINING:
        _, leaves, dy = ctd.case_inputs(32, 64, 64, c, k, torch.bfloat16, device, seed=1, strided=strided)
        x, w, dyb = leaves[0].detach(), leaves[1].detach(), dy.to(device, torch.bfloat16)
        b = torch.zeros(c, device=device)
        with cdw.launch_constants(dict(BWD_IMPL="fused")):
            fused = graph_us(lambda: cdw.dwconv_backward(dyb, x, w, residual))
        with cdw.launch_constants(dict(BWD_IMPL="split")):
            cu = [graph_us(lambda: cdw.dwconv_forward(x, w, b, residual)),
                  graph_us(lambda: cdw.dwconv_backward(dyb, x, w, residual)),
                  graph_us(lambda: cdw.dwconv_dx(dyb, w, residual)),
                  graph_us(lambda: cdw.dwconv_weight_sums(dyb, x, k))]
        tr = [graph_us(lambda: tdw.dwconv_forward(x, w, b, residual)),
              graph_us(lambda: tdw.dwconv_backward(dyb, x, w, residual)),
              graph_us(lambda: tdw.dwconv_weight_sums(dyb, x, w, residual))]
        weight_each = 2 if (c, k) == (64, 3) else 1  # cpe1 + cpe2
        total["cuda"] += weight_each * (cu[0] + cu[1])
        total["fused"] += weight_each * (cu[0] + fused)
        total["triton"] += weight_each * (tr[0] + tr[1])
        print(f"    C {c:3d} k {k}{' strided' if strided else '        '} | {cu[0]:7.1f} {cu[1]:6.1f} {fused:9.1f} "
              f"{cu[2]:8.1f} {cu[3]:11.1f} | {tr[0]:9.1f} {tr[1]:6.1f} {tr[2]:11.1f} | {cu[0] + cu[1]:7.1f} / "
              f"{cu[0] + fused:7.1f} / {tr[0] + tr[1]:7.1f}", flush=True)
    print(f"    per block (2 x C64k3 + C128k3 + C64k5) fwd+bwd: cuda {total['cuda']:.0f} us (fused backward "
          f"{total['fused']:.0f}), triton {total['triton']:.0f} us; x16 a step: {16 * total['cuda'] / 1000:.2f} "
          f"({16 * total['fused'] / 1000:.2f}) vs {16 * total['triton'] / 1000:.2f} ms")


SWEEP = [  # module constants to try; {} = the defaults. Registers: nvcc 13, sm_90, bf16 3x3 / 5x5
    {},
    dict(FWD_MIN_BLOCKS=1, FWD_VEC={3: 4, 5: 2, 7: 2}),  # the first version's forward occupancy: 92 regs, 2 blocks
    dict(FWD_VEC={3: 2, 5: 2, 7: 1}),  # 3x3 vec 2: 56 regs, 4 blocks an SM, 16 channels (32 B) a pixel a block
    dict(FWD_ROWS=2, FWD_TILE_H=4),  # smaller accumulators, 1.69x halo re-read instead of 1.41x
    # the split backward's wgrad_kernel: patches a block walks (4: 256 blocks a channel block at B 32 x 64^2)
    dict(WG_TILES_PER_BLOCK=2), dict(WG_TILES_PER_BLOCK=8), dict(WG_TILES_PER_BLOCK=16),
    dict(WG_VEC={3: 2, 5: 2, 7: 1}),  # 3x3 vec 2: 32 channels a block, 78 regs, 39 kB smem: 3 blocks an SM
    dict(WG_NCG=8),  # 128 threads, half the channels a block: more blocks, the same registers
    # 80 registers (nvcc 13, sm_90): 5x5 vec 2 at 4 B of spills -> 3 blocks; 3x3 vec 4 no spills, but its 79 kB
    # of smem allow 2 blocks anyway
    dict(WG_MIN_BLOCKS=3),
    # the fused backward (session 10's): its constants
    dict(BWD_IMPL="fused"),
    dict(BWD_IMPL="fused", BWD_VEC={3: 2, 5: 2, 7: 1}),  # 3x3 vec 2: 94 regs -> 2 blocks (16 warps) an SM
    dict(BWD_IMPL="fused", BWD_MIN_BLOCKS=2),  # 128 regs, 2 blocks an SM, at 28 / 76 B of spills (3x3 / 5x5)
    # 8 x 8 patches, 128 threads: 3 blocks (12 warps) an SM at 3x3 vec 4, 2 at 5x5 vec 2; halo re-read 1.56x
    dict(BWD_IMPL="fused", BWD_TILE_W=8, BWD_MAX_THREADS=128),
    dict(BWD_IMPL="fused", BWD_TILE_W=8, BWD_MAX_THREADS=128, BWD_VEC={3: 2, 5: 2, 7: 1}),  # 3x3: 94 regs
    # patches a fused backward block walks (H100, session 8, at 4: sum 535 us; 2: 636, 8: 499, 16: 472)
    dict(BWD_IMPL="fused", BWD_TILES_PER_BLOCK=8),
]


def sweep(device):
    capability = torch.cuda.get_device_capability(device)
    t = time.time()

    # the compile-time constants pick the library, so collect each variant's defines, then build in parallel
    jobs = []
    for cfg in SWEEP:
        with cdw.launch_constants(cfg):
            if cdw.compile_defines() not in jobs:
                jobs.append(cdw.compile_defines())
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda defines: _build_job(capability, defines), jobs))
    print(f"  built {len(jobs)} libraries in {time.time() - t:.0f} s")
    data = {}
    for c, k, residual, strided in TRAINING:
        _, leaves, dy = ctd.case_inputs(32, 64, 64, c, k, torch.bfloat16, device, seed=1, strided=strided)
        data[(c, k)] = (leaves[0].detach(), leaves[1].detach(), dy.to(device, torch.bfloat16), residual)
    print("  sweep (us, CUDA-graph replay; fwd / bwd per shape; sum = 2 x C64k3 + C128k3 + C64k5, fwd + bwd):")
    base, best = {}, None
    for cfg in SWEEP:
        try:
            with cdw.launch_constants(cfg):
                cols, total, ok = [], 0.0, True
                for (c, k), (x, w, dyb, residual) in data.items():
                    b = torch.zeros(c, device=x.device)
                    t = [graph_us(lambda: cdw.dwconv_forward(x, w, b, residual)),
                         graph_us(lambda: cdw.dwconv_backward(dyb, x, w, residual))]
                    res = cdw.dwconv_backward(dyb, x, w, residual)
                    if not cfg:
                        base[(c, k)] = res
                    else:
                        ok &= rel(res[0], base[(c, k)][0]) < 1e-2 and rel(res[1], base[(c, k)][1]) < 1e-4
                    total += (2 if (c, k) == (64, 3) else 1) * sum(t)
                    cols.append(f"{t[0]:6.1f} {t[1]:6.1f}")
            print("    " + " | ".join(cols) + f" | {total:5.0f} | {cfg or 'defaults'}"
                  + ("" if ok else "  RESULTS DIFFER"), flush=True)
            if ok and (best is None or total < best[0]):
                best = (total, cfg)
        except Exception as exc:  # noqa: BLE001
            print(f"    {cfg}: failed: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
    if best:
        print(f"  best sum {best[0]:.0f} us a block (x16 {16 * best[0] / 1000:.2f} ms a step): {best[1] or 'defaults'}")


def _build_job(capability, defines):
    """cuda_ext.build of one sweep variant (concurrent builders are safe); a failure is printed, not raised."""
    try:
        cuda_ext.build(cdw.SOURCE, capability, defines)
    except RuntimeError as exc:
        print(f"    nvcc failed for {defines}: {str(exc)[-500:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the training steps, the large tensor and the timing")
    ap.add_argument("--sweep", action="store_true", help="only time the launch-constant variants of SWEEP")
    args = ap.parse_args()
    device = "cuda"
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, cuda_dwconv available {cdw.AVAILABLE}, "
          f"triton available {tdw.AVAILABLE}", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    t0 = time.time()
    try:
        lib = cuda_ext.build(cdw.SOURCE, torch.cuda.get_device_capability(), cdw.compile_defines())
        report("nvcc build for this GPU", True, f"{lib.name} ({time.time() - t0:.0f} s incl. cache)")
    except Exception as exc:  # noqa: BLE001
        report("nvcc build for this GPU", False, f"{type(exc).__name__}: {str(exc)[:1500]}")
        exit_with_status()
    if args.sweep:
        sweep(device)
        return
    for c, k, _, _ in TRAINING:
        for bwd, cap in ((False, cdw.FWD_VEC[k]), (True, cdw.BWD_VEC[k])):
            lay = cdw.conv_layout(32, 64, 64, c, k, 2, cdw.vec_width(c, 2, cap), bwd)
            print(f"      C {c} k {k} {'fused bwd' if bwd else 'fwd / dx'}: vec {cdw.vec_width(c, 2, cap)} {lay}")
        vec = cdw.vec_width(c, 2, cdw.WG_VEC[k])
        print(f"      C {c} k {k} wgrad: vec {vec} {cdw.wgrad_layout(32, 64, 64, c, k, 2, vec)}")
    print(f"      backward: {cdw.BWD_IMPL} (cuda_dwconv.BWD_IMPL, $NALASR_DWCONV_BWD)")
    steps = [("float64 cases", lambda: both_backwards(lambda impl: (cases(device, torch.float64, ctd.SMALL, 0, impl),
                                                                    cases(device, torch.float64, EXTRA, 50, impl)))),
             ("float32 cases", lambda: both_backwards(lambda impl: (cases(device, torch.float32, ctd.SMALL, 0, impl),
                                                                    cases(device, torch.float32, EXTRA, 50, impl),
                                                                    misaligned(device, impl)))),
             ("float16 cases", lambda: both_backwards(lambda impl: cases(device, torch.float16, ctd.SMALL[:4], 80,
                                                                         impl))),
             ("gradcheck", lambda: gradcheck(device)),
             ("determinism", lambda: both_backwards(lambda impl: deterministic(device, impl))),
             ("accumulate", lambda: both_backwards(lambda impl: accumulate(device, impl))),
             ("training size", lambda: both_backwards(lambda impl: training_size(device, impl))),
             ("split vs fused", lambda: split_vs_fused(device)),
             ("compile and graph", lambda: compile_and_graph(device)),
             ("model check", lambda: model_check(device, graph=not args.quick))]
    if not args.quick:
        steps += [("64-bit indexing", lambda: large_index(device)), ("timing", lambda: timing(device))]
    for name, fn in steps:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001
            report(name, False, f"{type(exc).__name__}: {str(exc)[:500]}")
        torch.cuda.empty_cache()
    print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'} ({time.time() - t0:.0f} s)")
    exit_with_status()


if __name__ == "__main__":
    main()
