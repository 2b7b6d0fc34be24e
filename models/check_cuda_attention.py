"""Checks and times the CUDA NaLa attention core (cuda_attention.py) on the GPU, through check_fused_attention's
checks with the Triton op's tolerances. Prints one PASS/FAIL line per check and exits 1 on any FAIL.
  1. float64 (N not a multiple of the chunk; B 1, 9x31 = 2 chunks, the second ragged): values and gradients vs
     attention_math.nala_plain; gradcheck (B 2, 5x7, 2 heads, d 8)
  2. the training size (B 32, 64x64 tokens, C 64, 4 heads): bf16 and float32 inputs vs plain float64, strided
     inputs (chunks of one qkvg tensor) == contiguous, torch.compile(fullgraph=True) == eager, CUDA-graph replay
     == eager
  3. stage by stage vs the Triton kernels at the training size (bf16 inputs): S, m, o, dS, dm, dq, dk, dv
  4. cuda_attention.self_check (what train.py --attention-impl cuda runs); the bf16-autocast NaLa model with
     formulation "cuda" vs fast, then regional compilation + the CUDA-graph train step (skipped by --quick)
  5. timing at the training size: µs a call per kernel (state and qbwd with their finish kernel), CUDA vs
     Triton, each replayed from a CUDA graph; forward + backward of the whole op likewise
Usage: python3 models/check_cuda_attention.py [--quick]
       python3 models/check_cuda_attention.py --sweep   (checks and times cuda_attention's SWEEP variants)
"""
import argparse
import time

import torch

import check_fused_attention as cfa
import cuda_attention as ca
import triton_attention as tri
from cuda_timing import graph_us
from device_check import FAILS, exit_with_status, rel, report, require_triton

# --sweep: launch constants of cuda_attention.py; compile-time ones build another library (~40 s each)
SWEEP = {
    "default": {},
    "chunk 128": dict(CHUNK=128),
    "chunk 512": dict(CHUNK=512),
    "token threads 64": dict(TOKEN_THREADS=64),
    "token threads 256": dict(TOKEN_THREADS=256),
    # out / kbwd at <= 128 registers (127 / 128, no spills; 133 / 148 free) for 4 blocks (16 warps) an SM instead of 3
    "token 4 blocks an SM": dict(TOKEN_MIN_BLOCKS=4),
    # qbwd at 168 registers (253 free; ptxas: 228 B spills) for 3 blocks an SM instead of 2
    "reduce 3 blocks an SM": dict(REDUCE_MIN_BLOCKS=3),
}
SIZE = dict(b=32, hw=(64, 64), heads=4, c=64)


def training_inputs(seed=1):
    """bf16 q, k, v (B, N, C), a float32 output gradient and the RoPE tables at the training size."""
    b, hw, c = SIZE["b"], SIZE["hw"], SIZE["c"]
    q, k, v = (t.detach() for t in cfa.inputs(b, *hw, c, torch.bfloat16, "cuda", seed, scale=0.7))
    go = torch.randn(b, hw[0] * hw[1], c, generator=torch.Generator(device="cpu").manual_seed(seed)).cuda()
    return q, k, v, go


def stage_comparison():
    """Every intermediate and result of the CUDA launchers vs the Triton ones (bf16 inputs, float32 math)."""
    q, k, v, go = training_inputs()
    args = (q, k, v, go, SIZE["heads"], SIZE["hw"])
    _, o_t, g_t, mid_t = cfa.nala_stage_calls(tri.STAGES, *args)
    _, o_c, g_c, mid_c = cfa.nala_stage_calls(ca.STAGES, *args)
    names = "S m dS dm o dq dk dv".split()
    errs = [rel(x, y) for x, y in zip(mid_c + [o_c] + g_c, mid_t + [o_t] + g_t)]
    # triton's bf16 products take one TF32 pass (~1e-3 relative), the CUDA kernels float32 FMAs and 3xTF32 sums
    report("cuda stages vs triton stages (bf16 inputs, training size)", max(errs) < 1e-2,
           ", ".join(f"{n} {e:.1e}" for n, e in zip(names, errs)))


def stage_times():
    """-> {stage: µs} of CUDA and Triton, each call replayed from a CUDA graph."""
    q, k, v, go = training_inputs(2)
    times = {}
    for impl, stages in (("triton", tri.STAGES), ("cuda", ca.STAGES)):
        calls = cfa.nala_stage_calls(stages, q, k, v, go, SIZE["heads"], SIZE["hw"])[0]
        times[impl] = {stage: graph_us(fn) for stage, fn in calls.items()}
        f = cfa.make("nala", impl, SIZE["heads"], SIZE["hw"], SIZE["c"] // SIZE["heads"], "cuda", torch.float32)
        xs = [t.clone().requires_grad_() for t in (q, k, v)]
        times[impl]["op fwd+bwd"] = graph_us(lambda: torch.autograd.grad(f(*xs, None), xs, go))
    return times


def timing():
    times = stage_times()
    print(f"  NaLa at B {SIZE['b']}, {SIZE['hw'][0]}x{SIZE['hw'][1]} tokens, C {SIZE['c']}, {SIZE['heads']} heads, "
          f"bf16 q, k, v: µs a call replayed from a CUDA graph (x16 blocks = per training step)")
    print(f"    {'stage':<12s} {'triton':>9s} {'cuda':>9s} {'ratio':>7s}")
    for stage in times["cuda"]:
        t, c = times["triton"][stage], times["cuda"][stage]
        print(f"    {stage:<12s} {t:9.1f} {c:9.1f} {t / c:6.2f}x")
    total = {impl: sum(v for s, v in times[impl].items() if s != "op fwd+bwd") for impl in times}
    print(f"    {'sum':<12s} {total['triton']:9.1f} {total['cuda']:9.1f}   (x16: triton "
          f"{16 * total['triton'] / 1000:.2f} ms, cuda {16 * total['cuda'] / 1000:.2f} ms a step)")


def sweep():
    """Each SWEEP variant: the small float64 case and the stage comparison, then its kernel times."""
    for name, values in SWEEP.items():
        with cfa.constants(values, ca):
            try:
                cfa.small_case("nala", "cuda", "cuda", b=1, hw=(9, 31), heads=4, d=16, seed=3, gradcheck=False)
                stage_comparison()
                us = stage_times()["cuda"]
            except Exception as exc:  # noqa: BLE001 -- e.g. a variant that does not build
                report(f"cuda sweep {name!r}", False, f"{type(exc).__name__}: {str(exc)[:300]}")
                continue
        print(f"      cuda sweep {name!r}: " + " ".join(f"{s} {t:6.1f}" for s, t in us.items()), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the model checks")
    ap.add_argument("--sweep", action="store_true", help="only check and time the SWEEP variants")
    args = ap.parse_args()
    require_triton(tri.AVAILABLE and ca.AVAILABLE)
    torch.backends.cuda.matmul.allow_tf32 = False
    t = time.time()
    ca.library(torch.device("cuda"))
    print(f"cuda_attention library ready in {time.time() - t:.1f} s (nvcc on first use, then cached); chunk "
          f"{ca.CHUNK}, {ca.REDUCE_THREADS} / {ca.TOKEN_THREADS} threads a reducing / token block", flush=True)
    if args.sweep:
        sweep()
        print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'}")
        exit_with_status()
    cfa.small_case("nala", "cuda", "cuda")
    cfa.small_case("nala", "cuda", "cuda", b=1, hw=(9, 31), heads=4, d=16, seed=3, gradcheck=False)
    try:
        ft, xt, go = cfa.real_case("nala", "cuda", impl="cuda")
        cfa.compile_and_graph("nala", ft, xt, go, impl="cuda")
        stage_comparison()
    except Exception as exc:  # noqa: BLE001
        report("nala cuda at training size", False, f"{type(exc).__name__}: {str(exc)[:500]}")
    ok, msg = ca.self_check("cuda")
    report("cuda_attention.self_check (what train.py --attention-impl cuda runs first)", ok, msg)
    if not args.quick:
        cfa.model_check("cuda", impl="cuda", kinds=("nala",))
    timing()
    print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'}")
    exit_with_status()


if __name__ == "__main__":
    main()
