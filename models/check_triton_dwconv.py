"""Checks and times the Triton depthwise convolution (triton_dwconv.py) on the GPU machine.

Prints one PASS/FAIL line per check and exits 1 on any FAIL (about 1-2 minutes on an H100):
  1. the reference (dwconv_ref.py) vs F.conv2d(groups=C) and gradcheck, float64 (CPU)
  2. the kernels (through the custom op + autograd) in float64 and float32 vs F.conv2d in float64: values and
     x/weight/bias gradients on random inputs at odd sizes (5x7, 9x31, 3x2, 1-row/1-column images, partial tiles
     and channel blocks, C 16/48/64/80/128, k 3 and 5, with and without the fused residual, strided x); gradcheck
     of the kernels in float64; if the float64 kernels cannot compile, float32 only
  3. training size (B 32, 64x64, C 64 / 128, bf16 inputs, float32 weights as under autocast): relative error vs
     float64 next to the "shift" path's; torch.compile(fullgraph=True) of a small module using the op = eager;
     fwd + bwd captured in a CUDA graph and replayed on new inputs = eager
  4. the model: bf16-autocast forward + backward of the default network with depthwise "triton" vs "shift";
     triton_dwconv.self_check; then regional compile + the CUDA-graph training step (skipped by --quick)
  5. timing at the training size, fwd + bwd per conv: triton vs shift (compiled) vs cuDNN, called from Python
     and replayed from a CUDA graph (= kernels only, as in the graphed training step); then the triton pieces
     alone from CUDA graphs: fwd, bwd, and the backward's dW+db kernel (+ finish) and dx kernel; bwd / fwd
     (skipped by --quick)
  --sweep: only the timing of launch-constant variants at the training size (the forward's channel block /
     warps / patch shape, the strips weight-sum kernel's pixels a program / accumulator size / warps, the
     finish's block), fwd / bwd / dW+db alone each, results compared to the defaults'; the best per-block sum
     last
Usage: python3 models/check_triton_dwconv.py [--quick | --sweep]
"""
import argparse
import time

import torch
import torch.nn as nn

import dwconv_ref as ref
from cuda_timing import cuda_time_ms, graph_us
from device_check import (FAILS, bf16_variant_errors, exit_with_status, graphed_steps_check, rel, report,
                          require_triton)
import nalasr_model as nm
import triton_dwconv as tdw




def shift_path(x, weight, bias, residual=False):
    return nm.depthwise_tokens(x, weight, bias, "shift", residual)


def case_inputs(b, h, w, c, k, dtype, device, seed, strided=False):
    """float64 truth inputs (CPU) and the same values as device leaves in dtype (x strided: a channel chunk)."""
    (x, weight, bias), dy = ref.random_case(b, h, w, 2 * c if strided else c, k, seed=seed)
    x, weight, bias, dy = (t.detach() for t in (x, weight, bias, dy))
    x_dev = x.to(device, dtype)[..., :c] if strided else x.to(device, dtype)
    leaves64 = [t.contiguous().requires_grad_() for t in (x[..., :c], weight[:c], bias[:c])]
    pdt = torch.float64 if dtype == torch.float64 else torch.float32  # parameters stay float32 under autocast
    leaves = [x_dev.requires_grad_()] + [t[:c].to(device, pdt).requires_grad_() for t in (weight, bias)]
    return leaves64, leaves, dy[..., :c].contiguous()


SMALL = [  # (B, H, W, C, k, residual, strided)
    (1, 5, 7, 16, 3, False, False), (2, 5, 7, 16, 5, True, True), (1, 9, 31, 64, 3, True, False),
    (1, 9, 31, 48, 5, False, True), (2, 9, 31, 128, 3, False, False), (2, 3, 2, 8, 5, True, False),
    (1, 1, 6, 16, 3, True, False), (2, 6, 1, 80, 5, False, False), (1, 64, 64, 64, 5, True, False),
    (2, 33, 17, 128, 3, True, True),
]


def small_cases(device, dtype):
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    worst, worst_name = 0.0, ""
    for i, (b, h, w, c, k, residual, strided) in enumerate(SMALL):
        leaves64, leaves, dy = case_inputs(b, h, w, c, k, dtype, device, seed=i, strided=strided)
        truth = ref.values_and_grads(ref.dwconv_conv2d, leaves64, dy, residual)
        got = ref.values_and_grads(tdw.dwconv_triton, leaves, dy.to(device, dtype), residual)
        errs = [rel(a.cpu(), t) for a, t in zip(got, truth)]
        name = f"B {b}, {h}x{w}, C {c}, k {k}, residual {int(residual)}{', strided x' if strided else ''}"
        ok = max(errs) < tol and got[0].dtype == dtype and got[1].dtype == dtype
        report(f"kernels {str(dtype)[6:]} vs F.conv2d float64 ({name})", ok,
               "y / dx / dw / db " + " / ".join(f"{e:.1e}" for e in errs))
        if max(errs) > worst:
            worst, worst_name = max(errs), name
    print(f"      worst {str(dtype)[6:]}: {worst:.2e} ({worst_name})")


def gradcheck_kernels(device):
    for k, residual in ((3, True), (5, False)):
        _, leaves, _ = case_inputs(1, 5, 7, 16, k, torch.float64, device, seed=10 + k)
        t = time.time()
        ok = torch.autograd.gradcheck(lambda x, w, b: tdw.dwconv_triton(x, w, b, residual), leaves,
                                      raise_exception=False)
        report(f"gradcheck of the kernels, float64 (B 1, 5x7, C 16, k {k}, residual {int(residual)})", ok,
               f"{time.time() - t:.1f} s")


def training_size(device):
    """bf16 inputs at B 32, 64x64: triton and shift vs float64 truth on the same bf16-rounded inputs."""
    for c, k, residual, strided in ((64, 3, True, False), (128, 3, True, False), (64, 5, False, True)):
        leaves64, leaves, dy = case_inputs(32, 64, 64, c, k, torch.bfloat16, device, seed=c + k, strided=strided)
        x64 = leaves[0].detach().double()  # the bf16-rounded values, exactly
        dyb = dy.to(device, torch.bfloat16)
        # float64 truth on the GPU (cuDNN float64), from exactly the bf16-rounded x and dy
        truth = ref.values_and_grads(ref.dwconv_conv2d, [t.detach().to(device).requires_grad_() for t in
                                                         [x64] + leaves64[1:]], dyb.double(), residual)
        errs = {}
        for name, fn in (("triton", tdw.dwconv_triton), ("shift", shift_path)):
            got = ref.values_and_grads(fn, leaves, dyb, residual)
            errs[name] = [rel(a, t) for a, t in zip(got, truth)]
        ok = all(e <= max(2 * s, 1e-3) for e, s in zip(errs["triton"], errs["shift"]))
        fmt = lambda e: " / ".join(f"{v:.1e}" for v in e)  # noqa: E731
        report(f"bf16 at training size (B 32, 64x64, C {c}, k {k}, residual {int(residual)}"
               f"{', strided x' if strided else ''}): triton as close to float64 as shift", ok,
               f"y / dx / dw / db triton {fmt(errs['triton'])}, shift {fmt(errs['shift'])}")


class Small(nn.Module):
    """What a block does with depthwise convs: a residual 3x3 and a 5x5 on a channel chunk (lepe(v))."""

    def __init__(self, c):
        super().__init__()
        nm.enable_triton_depthwise()
        self.lin = nn.Linear(c, 2 * c)
        self.cpe = nm.DepthwiseConv(c, 3)
        self.lepe = nm.DepthwiseConv(c, 5)
        for m in (self.cpe, self.lepe):
            m.impl = "triton"

    def forward(self, x):
        x = self.cpe.plus_input(x)
        u, v = self.lin(x).chunk(2, dim=-1)
        return u * self.lepe(v)


def compile_and_graph(device):
    torch.manual_seed(0)
    model = Small(64).to(device)
    x = torch.randn(4, 32, 40, 64, device=device)
    go = torch.randn(4, 32, 40, 64, device=device)

    def fwd_bwd(f, inp):
        model.zero_grad(set_to_none=True)
        out = f(inp)
        out.backward(go)
        return [out.detach()] + [p.grad.detach().clone() for p in model.parameters()]
    eager = fwd_bwd(model, x)
    try:
        torch._dynamo.reset()
        compiled = torch.compile(model, fullgraph=True, dynamic=False)
        got = fwd_bwd(compiled, x)
        e = max(rel(a, b) for a, b in zip(got, eager))
        report("torch.compile(fullgraph=True) of a module using the op == eager", e < 1e-5, f"max rel diff {e:.1e}")
    except Exception as exc:  # noqa: BLE001
        report("torch.compile(fullgraph=True) of a module using the op == eager", False,
               f"{type(exc).__name__}: {str(exc)[:400]}")
    try:
        static = x.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fwd_bwd(model, static)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        model.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            out = model(static)
            out.backward(go)
        static.copy_(x * 0.5 + 0.1)
        graph.replay()
        torch.cuda.synchronize()
        got = [out.detach().clone()] + [p.grad.detach().clone() for p in model.parameters()]
        want = fwd_bwd(model, x * 0.5 + 0.1)
        e = max(rel(a, b) for a, b in zip(got, want))
        report("fwd + bwd captured in a CUDA graph, replayed on new inputs == eager", e < 1e-6, f"{e:.1e}")
    except Exception as exc:  # noqa: BLE001
        report("fwd + bwd captured in a CUDA graph", False, f"{type(exc).__name__}: {str(exc)[:400]}")


def model_check(device, graph=True):
    """Default network (NaLa and Pola), random weights, B 4, 64x64: bf16 autocast forward + backward with
    depthwise triton vs shift (both vs float32 shift without autocast); then compile + CUDA-graph steps."""
    from train import build_model
    gen = torch.Generator().manual_seed(5)
    img = torch.rand(4, 64, 64, 3, generator=gen).to(device)
    hr = torch.rand(4, 256, 256, 3, generator=gen).to(device)
    for kind in ("nala", "pola"):
        torch.manual_seed(0)
        model = build_model(nm.ModelConfig(attention=kind), device, "shift")
        e = bf16_variant_errors(model, img, hr,
                                (("float32", "shift", False), ("shift", "shift", True), ("triton", "triton", True)),
                                lambda m, impl: m.set_depthwise(impl))
        ok = all(e["triton"][i] <= 2 * e["shift"][i] + 1e-4 for i in range(2))
        report(f"{kind} model, bf16 autocast vs float32: depthwise triton as close as shift", ok,
               f"output - 0.5 / parameter gradients: triton {e['triton'][0]:.2e} / {e['triton'][1]:.2e}, "
               f"shift {e['shift'][0]:.2e} / {e['shift'][1]:.2e}")
    ok, msg = tdw.self_check(device)
    report("triton_dwconv.self_check (what train.py --depthwise triton runs first)", ok, msg)
    if not graph:
        return

    def triton_model():
        model = build_model(nm.ModelConfig(), device, "triton")
        model.set_formulation("triton")
        return model
    graphed_steps_check("compiled blocks + CUDA-graph train steps (triton attention + triton depthwise)",
                        triton_model, img, hr)


def timing(device):
    """fwd + bwd per conv at B 32, 64x64, bf16 x, float32 weights: Python-called and CUDA-graph replay."""
    print("  timing, fwd + bwd of one conv at B 32, 64x64 (bf16 x, float32 weights); graph = replayed from a CUDA "
          "graph (kernels only); per step = x16 blocks")
    for c, k, residual, strided in ((64, 3, True, False), (128, 3, True, False), (64, 5, False, True)):
        _, leaves, dy = case_inputs(32, 64, 64, c, k, torch.bfloat16, device, seed=1, strided=strided)
        dyb = dy.to(device, torch.bfloat16)

        def cudnn(x, w, b, res):
            return nm.depthwise_tokens(x, w.to(x.dtype), b.to(x.dtype), "cudnn", res)  # as under autocast
        variants = {"triton": tdw.dwconv_triton,
                    "shift compiled": torch.compile(shift_path, dynamic=False),
                    "cudnn": cudnn}
        print(f"  C {c}, k {k}, residual {int(residual)}{', strided x' if strided else ''}:")
        for name, f in variants.items():
            try:
                step = lambda: torch.autograd.grad(f(*leaves, residual), leaves, dyb)  # noqa: E731
                for _ in range(3):
                    step()
                torch.cuda.synchronize()
                ms = cuda_time_ms(step, 20)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    step()
                g_ms = cuda_time_ms(graph.replay, 50)
                print(f"    {name:<16s} {1000 * ms:8.1f} us called, {1000 * g_ms:8.1f} us graph "
                      f"(x16 {16 * g_ms:5.2f} ms)", flush=True)
                del graph
            except Exception as exc:  # noqa: BLE001
                print(f"    {name:<16s} failed: {type(exc).__name__}: {str(exc)[:200]}")
        x, w = leaves[0].detach(), leaves[1].detach()
        pieces = piece_times(x, w, dyb, residual)
        print("    kernels alone, CUDA-graph replay: " + ", ".join(f"{n} {us:.1f} us" for n, us in pieces.items()))
        print(f"    bwd / fwd: {pieces['bwd'] / pieces['fwd']:.2f} (target <= 2)")
        mb = 32 * 64 * 64 * c * 2 / 1e6
        print(f"    (one pass over a bf16 activation: {mb:.1f} MB, {mb / 3.35e3 * 1e3:.1f} us at 3.35 TB/s, "
              f"{mb / 4.8e3 * 1e3:.1f} us at 4.8 TB/s; fwd reads x + writes y (2 passes), bwd reads x, dy twice "
              f"+ writes dx (4))")


def piece_times(x, w, dy, residual):
    """Graph-replay times of the forward, the backward and the backward's two parts (weight sums, dx)."""
    b = torch.zeros(x.shape[-1], device=x.device, dtype=torch.float32)
    return {
        "fwd": graph_us(lambda: tdw.dwconv_forward(x, w, b, residual)),
        "bwd": graph_us(lambda: tdw.dwconv_backward(dy, x, w, residual)),
        "dW+db (kernel + finish)": graph_us(lambda: tdw.dwconv_weight_sums(dy, x, w, residual)),
        "dx (fwd kernel)": graph_us(lambda: tdw.dwconv_dx(dy, w, residual)),
    }


SWEEP = [  # module constants to try; {} = the defaults
    {},
    # forward / dx kernel
    dict(FWD_BLOCK_C_MAX=32, FWD_NUM_WARPS=4),
    dict(FWD_NUM_WARPS=4),
    dict(FWD_TILE_PIX=64, FWD_NUM_WARPS=4),
    dict(FWD_TILE_PIX=256),
    dict(TILE_W_MAX=8),
    dict(TILE_W_MAX=32),
    dict(TILE_W_MAX=64),
    # strips weight-sum kernel and the finish
    dict(WGRAD_PIXELS=128),
    dict(WGRAD_PIXELS=512),
    dict(WGRAD_PIXELS=1024),
    dict(WGRAD_PIXELS=4096),
    dict(WGRAD_ACC_ELEMS=4096),
    dict(WGRAD_ACC_ELEMS=2048),
    dict(WGRAD_ACC_ELEMS=16384, WGRAD_NUM_WARPS=8),
    dict(WGRAD_NUM_WARPS=8),
    dict(WGRAD_NUM_WARPS=2, WGRAD_ACC_ELEMS=4096),
    dict(WGRAD_BLOCK_C_MAX=32),
    dict(SUM_BLOCK_N=128),
]


def sweep(device):
    """Times fwd / bwd / the weight sums alone (CUDA-graph replay, us) at the training sizes for each SWEEP entry
    and checks each variant's results against the defaults' (a tuning change must not change results)."""
    shapes = ((64, 3, True, False), (128, 3, True, False), (64, 5, False, True))
    data = {}
    for c, k, residual, strided in shapes:
        _, leaves, dy = case_inputs(32, 64, 64, c, k, torch.bfloat16, device, seed=1, strided=strided)
        data[(c, k)] = (leaves[0].detach(), leaves[1].detach(), dy.to(device, torch.bfloat16), residual)
    names = [f"C{c} k{k}" for c, k, _, _ in shapes]
    print("  sweep (us, CUDA-graph replay; columns fwd / bwd / dW+db alone per shape; dW+db = "
          "the strips kernel + its finish; sum = cpe1 + cpe2 + lepe + FFN per block = 2 x C64k3 + "
          "C64k5 + C128k3, fwd + bwd):")
    print("    " + " | ".join(f"{n:^20s}" for n in names) + " | sum   | constants")
    base, best = {}, None
    for cfg in SWEEP:
        try:
            with tdw.launch_constants(cfg):
                cols, per_shape, ok = [], {}, True
                for (c, k), (x, w, dyb, residual) in data.items():
                    b = torch.zeros(c, device=x.device, dtype=torch.float32)
                    t = [graph_us(lambda: tdw.dwconv_forward(x, w, b, residual)),
                         graph_us(lambda: tdw.dwconv_backward(dyb, x, w, residual)),
                         graph_us(lambda: tdw.dwconv_weight_sums(dyb, x, w, residual))]
                    res = tdw.dwconv_backward(dyb, x, w, residual)
                    if not cfg:
                        base[(c, k)] = res
                    else:
                        ok &= rel(res[0], base[(c, k)][0]) < 1e-2 and rel(res[1], base[(c, k)][1]) < 1e-4
                    per_shape[(c, k)] = t[0] + t[1]
                    cols.append(" ".join(f"{v:6.1f}" for v in t))
            total = 2 * per_shape[(64, 3)] + per_shape[(64, 5)] + per_shape[(128, 3)]
            print("    " + " | ".join(cols) + f" | {total:5.0f} | {cfg or 'defaults'}"
                  + ("" if ok else "  RESULTS DIFFER"), flush=True)
            if ok and (best is None or total < best[0]):
                best = (total, cfg)
        except Exception as exc:  # noqa: BLE001
            print(f"    {cfg}: failed: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
    if best:
        print(f"  best sum {best[0]:.0f} us a block (x16 {16 * best[0] / 1000:.2f} ms a step): {best[1] or 'defaults'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the compiled training steps and the timing")
    ap.add_argument("--sweep", action="store_true",
                    help="only time the launch-constant variants of SWEEP at the training size (about 2 minutes)")
    args = ap.parse_args()
    device = "cuda"
    require_triton(tdw.AVAILABLE)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"forward: patches of {tdw.FWD_TILE_PIX} px, <= {tdw.TILE_W_MAX} wide, <= {tdw.FWD_BLOCK_C_MAX} ch, "
          f"{tdw.FWD_NUM_WARPS} warps; weight sums: strips of {tdw.WGRAD_PIXELS} px a program, "
          f"{tdw.WGRAD_ACC_ELEMS} accumulator elements, <= {tdw.WGRAD_BLOCK_C_MAX} ch, {tdw.WGRAD_NUM_WARPS} warps, "
          f"finished in {tdw.SUM_BLOCK_R} x {tdw.SUM_BLOCK_N} blocks")
    if args.sweep:
        sweep(device)
        return
    t0 = time.time()
    if ref.main():
        FAILS.append("reference checks")
    try:
        small_cases(device, torch.float64)
        gradcheck_kernels(device)
    except Exception as exc:  # noqa: BLE001
        print(f"      float64 kernels failed ({type(exc).__name__}: {str(exc)[:300]}); float32 only", flush=True)
    small_cases(device, torch.float32)
    for name, fn in (("training size", training_size), ("compile and graph", compile_and_graph)):
        try:
            fn(device)
        except Exception as exc:  # noqa: BLE001
            report(name, False, f"{type(exc).__name__}: {str(exc)[:500]}")
    try:
        model_check(device, graph=not args.quick)
    except Exception as exc:  # noqa: BLE001
        report("model check", False, f"{type(exc).__name__}: {str(exc)[:500]}")
    if not args.quick:
        try:
            timing(device)
        except Exception as exc:  # noqa: BLE001
            print(f"  timing failed: {type(exc).__name__}: {str(exc)[:300]}")
    print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'} ({time.time() - t0:.0f} s)")
    exit_with_status()


if __name__ == "__main__":
    main()
