"""Checks and times the fused NaLa/Pola attention (triton_attention.py) against the plain formulation.

GPU script (PyTorch >= 2.4 with Triton); prints one PASS/FAIL line per check and exits 1 on any FAIL.
  1. the PyTorch reference with the hand-derived backward (fused_attention_ref.py): values and gradients vs
     attention_math.*_plain, torch.autograd.gradcheck, float64
  2. the Triton kernels in float64 on small sizes (N not a multiple of the block): values and gradients vs
     plain, gradcheck; if the float64 kernels cannot compile, the float32 kernels vs float64 plain instead
  3. the training size (B 32, 64x64 tokens, C 64, 4 heads): forward and gradients of the Triton path with bf16
     and float32 inputs vs plain in float64, next to the current `fast` path (float32, as trained now); strided
     inputs (chunks of one qkvg tensor) vs contiguous ones; torch.compile (no graph break) and CUDA-graph
     capture of forward + backward
  4. the model: one bf16-autocast forward + backward of the default network (random weights, B 4, 64x64) with
     the Triton kernels vs the fast path; then regional compilation + the CUDA-graph step of train.py with them
  5. timing: forward + backward ms and peak memory at the training size, fast (eager and compiled) vs Triton
Usage: python3 models/check_fused_attention.py [--quick] (skips 4 and 5) [--skip-ref] (skips 1)
       python3 models/check_fused_attention.py --sweep [NAME ...]   (only the sweep, see SWEEP; all by default)
"""
import argparse
import contextlib
import time

import torch

import attention_math as am
import fused_attention_ref as ref
from cuda_timing import cuda_time_ms, graph_us
from device_check import (FAILS, bf16_variant_errors, exit_with_status, graphed_steps_check, rel, report,
                          require_triton)
import cuda_attention
import triton_attention as tri

# --sweep: launch constants of triton_attention.py, each entry overriding the module's defaults. Every variant
# is checked (float64 small case vs plain; bf16 inputs at the training size vs plain float64) and timed kernel
# by kernel, each launch (+ its torch .sum of the partials) replayed from its own CUDA graph.
SWEEP = {
    "default": {},
    "token chunk 32": dict(TOKEN_CHUNK=32),
    "token chunk 64": dict(TOKEN_CHUNK=64),
    "chunk 64": dict(CHUNK=64),
    "chunk 256": dict(CHUNK=256),
    "block 32": dict(BLOCK_T=32, TOKEN_CHUNK=32),
    "block 32, 2 warps": dict(BLOCK_T=32, TOKEN_CHUNK=32, NUM_WARPS=2),
    "2 warps": dict(NUM_WARPS=2),
    "1 stage": dict(NUM_STAGES=1),
    "2 stages": dict(NUM_STAGES=2),
}
# bf16 inputs at the training size vs plain float64 (relative L2). The gradients go back as bf16, whose rounding
# alone costs 1.6-1.7e-3 (session 2 measured 1.66e-3 for both fast and triton): a variant may add 50 % to
# that. The output stays float32: the one TF32 pass of 16-bit inputs leaves 1.1e-3 on the H100 (3.5e-4 in the
# CPU emulation, which rounds to nearest TF32; the GPU's conversion evidently loses more). The bound is bf16's
# unit roundoff 2^-9: no more error than storing the output once in bf16, which every GEMM output of the
# autocast step gets. dpower (Pola) is a float32 sum over all tokens: TF32 ~1.1e-3 on the H100.
SWEEP_TOL = dict(out=2.0 ** -9, grads=2.5e-3, dpower=2.0 ** -9)


def inputs(b, h, w, c, dtype, device, seed, scale=1.0):
    """Random q, k, v (B, N, C), never zero, in `dtype` (requires grad)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    return [(torch.randn(b, h * w, c, generator=g, dtype=torch.float64) * scale).to(device, dtype)
            .requires_grad_() for _ in range(3)]


def grads(fn, args, grad_out):
    out = fn(*args)
    return out, torch.autograd.grad(out, args, grad_out, allow_unused=True)


def make(kind, impl, heads, hw, d, device, table_dtype):
    """-> f(q, k, v, power) computing attention `kind` with implementation `impl` (power ignored by NaLa)."""
    if kind == "nala":
        cos, sin = am.rope_angles(hw[0], hw[1], d, device, table_dtype)
        fns = {"plain": lambda q, k, v, pw: am.nala_plain(q, k, v, heads, *hw),
               "fast": lambda q, k, v, pw: am.nala_fast(q, k, v, heads, cos, sin),
               "ref": lambda q, k, v, pw: ref.nala_ref(q, k, v, heads, cos, sin),
               "triton": lambda q, k, v, pw: tri.nala_triton(q, k, v, heads, cos, sin),
               "cuda": lambda q, k, v, pw: cuda_attention.nala_cuda(q, k, v, heads, cos, sin)}
    else:
        fns = {"plain": lambda q, k, v, pw: am.pola_plain(q, k, v, heads, pw),
               "fast": lambda q, k, v, pw: am.pola_fast(q, k, v, heads, pw),
               "ref": lambda q, k, v, pw: ref.pola_ref(q, k, v, heads, pw),
               "triton": lambda q, k, v, pw: tri.pola_triton(q, k, v, heads, pw)}
    return fns[impl]


def small_case(kind, impl, device, b=2, hw=(5, 7), heads=2, d=8, seed=0, gradcheck=True):
    """float64: values and gradients vs plain, then gradcheck (small sizes only: the Jacobian is dense)."""
    c = heads * d
    q, k, v = inputs(b, *hw, c, torch.float64, device, seed)
    pw = torch.randn(heads, d, dtype=torch.float64, device=device, requires_grad=True)
    args = (q, k, v, pw) if kind == "pola" else (q, k, v)
    f = make(kind, impl, heads, hw, d, device, torch.float64)
    f0 = make(kind, "plain", heads, hw, d, device, torch.float64)
    fa = (lambda *a: f(*a)) if kind == "pola" else (lambda q, k, v: f(q, k, v, None))
    fa0 = (lambda *a: f0(*a)) if kind == "pola" else (lambda q, k, v: f0(q, k, v, None))
    go = torch.randn(b, hw[0] * hw[1], c, dtype=torch.float64, device=device)
    o, g = grads(fa, args, go)
    o0, g0 = grads(fa0, args, go)
    e_val, e_grad = rel(o, o0), max(rel(x, y) for x, y in zip(g, g0))
    report(f"{kind} {impl} float64 vs plain (B {b}, {hw[0]}x{hw[1]}, C {c}, {heads} heads)",
           e_val < 1e-12 and e_grad < 1e-12, f"values {e_val:.2e}, gradients {e_grad:.2e}")
    if not gradcheck:
        return
    t = time.time()
    ok = torch.autograd.gradcheck(fa, args, raise_exception=False)
    report(f"{kind} {impl} gradcheck float64", ok, f"{time.time() - t:.1f} s")


def float32_small_case(kind, device, b=2, hw=(5, 7), heads=2, d=8, seed=0):
    """Fallback when the float64 kernels do not compile: float32 Triton vs float64 plain, tight tolerance."""
    c = heads * d
    q, k, v = inputs(b, *hw, c, torch.float64, device, seed)
    pw = torch.randn(heads, d, dtype=torch.float64, device=device, requires_grad=True)
    go = torch.randn(b, hw[0] * hw[1], c, dtype=torch.float64, device=device)
    f = make(kind, "triton", heads, hw, d, device, torch.float32)
    f0 = make(kind, "plain", heads, hw, d, device, torch.float64)
    o0, g0 = grads(f0, (q, k, v, pw), go)
    q32, k32, v32, pw32 = (t.detach().float().requires_grad_() for t in (q, k, v, pw))
    o, g = grads(f, (q32, k32, v32, pw32), go.float())
    n = 4 if kind == "pola" else 3
    e_val, e_grad = rel(o, o0), max(rel(x, y) for x, y in zip(g[:n], g0[:n]))
    report(f"{kind} triton float32 vs plain float64 (small)", e_val < 1e-5 and e_grad < 1e-4,
           f"values {e_val:.2e}, gradients {e_grad:.2e}")


def out_tolerance(impl):
    """Output error bound (bf16 inputs vs plain float64): triton's one TF32 pass, or the CUDA kernels' float32."""
    return SWEEP_TOL["out"] if impl == "triton" else 1e-4


def real_case(kind, device, b=32, hw=(64, 64), heads=4, c=64, seed=1, impl="triton"):
    """Training size: the kernels of `impl` (bf16 and float32 inputs) and fast (float32) vs plain in float64."""
    d = c // heads
    # scale 0.7: q, k of the order of LayerNorm'd features through a trained linear layer
    q, k, v = inputs(b, *hw, c, torch.bfloat16, device, seed, scale=0.7)
    pw = (0.5 * torch.randn(heads, d, device=device)).requires_grad_()
    go = torch.randn(b, hw[0] * hw[1], c, device=device)
    f0 = make(kind, "plain", heads, hw, d, device, torch.float64)
    x64 = [t.detach().double().requires_grad_() for t in (q, k, v, pw)]
    o0, g0 = grads(f0, x64, go.double())
    n = 4 if kind == "pola" else 3
    f32 = make(kind, "fast", heads, hw, d, device, torch.float32)
    ft = make(kind, impl, heads, hw, d, device, torch.float32)
    x32 = [t.detach().float().requires_grad_() for t in (q, k, v, pw)]
    # the fast path as trained now: bf16 inputs cast to float32, gradients back to bf16
    xb = [t.detach().requires_grad_() for t in (q, k, v)] + [pw.detach().requires_grad_()]
    o_f, g_f = grads(lambda q, k, v, p: f32(q.float(), k.float(), v.float(), p), xb, go)
    e_fast = (rel(o_f, o0), [rel(x, y) for x, y in zip(g_f[:n], g0[:n])])
    xt = [t.detach().requires_grad_() for t in (q, k, v)] + [pw.detach().requires_grad_()]
    o_t, g_t = grads(ft, xt, go)
    e_bf = (rel(o_t, o0), [rel(x, y) for x, y in zip(g_t[:n], g0[:n])])
    o_t32, g_t32 = grads(ft, x32, go)
    e_32 = (rel(o_t32, o0), [rel(x, y) for x, y in zip(g_t32[:n], g0[:n])])
    names = "dq dk dv dpower".split()[:n]
    fmt = lambda e: f"out {e[0]:.2e}, " + ", ".join(f"{a} {x:.2e}" for a, x in zip(names, e[1]))  # noqa: E731
    print(f"      {kind} fast (bf16 in, float32 math, bf16 grads) vs plain float64: {fmt(e_fast)}")
    report(f"{kind} {impl} bf16 inputs vs plain float64 (B {b}, {hw[0]}x{hw[1]}, C {c})",
           e_bf[0] < out_tolerance(impl) and max(e_bf[1]) < max(2e-2, 2 * max(e_fast[1])), fmt(e_bf))
    report(f"{kind} {impl} float32 inputs vs plain float64", e_32[0] < 1e-4 and max(e_32[1]) < 1e-3, fmt(e_32))
    # strided inputs: chunks of one (B, N, 4C) tensor, as NalaAttention passes them
    qkvg = torch.cat([q.detach(), k.detach(), v.detach(), v.detach()], dim=-1).requires_grad_()
    qs, ks, vs, _ = qkvg.chunk(4, dim=-1)
    o_s = ft(qs, ks, vs, xt[3])
    gs = torch.autograd.grad(o_s, qkvg, go)[0]
    e = max(rel(o_s, o_t), rel(gs[..., :3 * c], torch.cat(g_t[:3], -1)))
    report(f"{kind} {impl} strided inputs == contiguous", e < 1e-6, f"{e:.2e}")
    return ft, xt, go


def compile_and_graph(kind, ft, xt, go, impl="triton"):
    """torch.compile around the op (fullgraph: no graph break) and CUDA-graph capture of fwd + bwd."""
    n = 4 if kind == "pola" else 3
    try:
        torch._dynamo.reset()
        fc = torch.compile(lambda q, k, v, p: ft(q, k, v, p) * 1.0, fullgraph=True, dynamic=False)
        o, g = grads(fc, xt, go)
        o_e, g_e = grads(ft, xt, go)
        errs = [rel(o, o_e)] + [rel(x, y) for x, y in zip(g[:n], g_e[:n])]
        # Pola: inductor computes p = 1 + 4 sigmoid(power) itself (ulp differences), and dpower is a sum over
        # 131k tokens with cancellation, so compiled and eager differ slightly there (both ~3e-7 vs float64);
        # with one TF32 pass for the bf16 inputs an ulp of p can flip the rounding of a product (2^-11)
        tol = 1e-3 if impl == "triton" else 1e-4
        report(f"{kind} {impl} under torch.compile(fullgraph=True)", max(errs) < tol,
               "vs eager " + ", ".join(f"{e:.1e}" for e in errs))
    except Exception as exc:  # noqa: BLE001
        report(f"{kind} {impl} under torch.compile(fullgraph=True)", False, f"{type(exc).__name__}: {exc}")
    try:
        static = [t.detach().clone().requires_grad_() for t in xt]

        def step():
            return grads(ft, static, go)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            o_g, g_g = step()
        for t, src in zip(static, xt):
            t.data.copy_(src.detach() * 0.5)
        graph.replay()
        torch.cuda.synchronize()
        o_e, g_e = grads(ft, static, go)
        e = max([rel(o_g, o_e)] + [rel(x, y) for x, y in zip(g_g[:n], g_e[:n])])
        report(f"{kind} {impl} fwd + bwd captured in a CUDA graph (replayed on new inputs)", e < 1e-6,
               f"vs eager {e:.2e}")
    except Exception as exc:  # noqa: BLE001
        report(f"{kind} {impl} fwd + bwd captured in a CUDA graph", False, f"{type(exc).__name__}: {exc}")


def model_check(device, batch=4, graph=True, impl="triton", kinds=("nala", "pola")):
    """Default network, random weights: the bf16-autocast forward + backward with the `impl` formulation and
    with the fast one, each against the fast formulation without autocast (float32 everywhere). bf16 rounding
    of the rest of the network dominates both errors; `impl` must not be worse than fast. Then regional
    compilation + the CUDA-graph step of train.py with the kernels."""
    from nalasr_model import ModelConfig
    from train import build_model
    gen = torch.Generator(device="cpu").manual_seed(5)
    img = torch.rand(batch, 64, 64, 3, generator=gen).to(device)
    hr = torch.rand(batch, 256, 256, 3, generator=gen).to(device)
    for kind in kinds:
        torch.manual_seed(0)
        model = build_model(ModelConfig(attention=kind), device, "shift")
        e = bf16_variant_errors(model, img, hr,
                                (("float32", "fast", False), ("fast", "fast", True), (impl, impl, True)),
                                lambda m, form: m.set_formulation(form))
        ok = all(e[impl][i] <= 2 * e["fast"][i] + 1e-4 for i in range(2))
        report(f"{kind} model, bf16 autocast, vs float32 (no autocast): {impl} as close as fast", ok,
               f"output - 0.5 / parameter gradients: {impl} {e[impl][0]:.2e} / {e[impl][1]:.2e}, "
               f"fast {e['fast'][0]:.2e} / {e['fast'][1]:.2e}")
    if not graph:
        return

    def impl_model():  # what train.py --attention-impl `impl` runs
        model = build_model(ModelConfig(), device, "shift")
        model.set_formulation(impl)
        return model
    graphed_steps_check(f"nala {impl}: compiled blocks + CUDA-graph train steps", impl_model, img, hr)


def event_ms(fn, repeats=20):
    return cuda_time_ms(fn, repeats)


def timing(kind, device, b=32, hw=(64, 64), heads=4, c=64):
    """fwd + bwd ms (median of CUDA events; called from Python, and replayed from a CUDA graph = the kernels
    alone, as in train.py's graphed step) and peak memory above the inputs, at the training size."""
    d = c // heads
    q, k, v = inputs(b, *hw, c, torch.bfloat16, device, 2, scale=0.7)
    pw = torch.zeros(heads, d, device=device, requires_grad=True)
    go = torch.randn(b, hw[0] * hw[1], c, device=device)
    fast = make(kind, "fast", heads, hw, d, device, torch.float32)
    ft = make(kind, "triton", heads, hw, d, device, torch.float32)
    as_float = lambda f: (lambda q, k, v, p: f(q.float(), k.float(), v.float(), p))  # noqa: E731
    variants = {"fast eager (as_float)": as_float(fast),
                "fast compiled (as_float)": torch.compile(as_float(fast), dynamic=False),
                "triton eager": ft,
                "triton compiled": torch.compile(ft, dynamic=False)}
    print(f"  {kind}: fwd + bwd at B {b}, {hw[0]}x{hw[1]} tokens, C {c}, {heads} heads (bf16 q, k, v in); "
          f"x16 = per training step; graph = replayed from a CUDA graph (no launch overhead)")
    args = (q, k, v, pw) if kind == "pola" else (q, k, v)
    for name, f in variants.items():
        step = lambda: torch.autograd.grad(f(q, k, v, pw), args, go)  # noqa: E731
        for _ in range(3):
            step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        ms = event_ms(step)
        peak = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                step()
            replay_ms = event_ms(graph.replay)
            graph_ms = f"{replay_ms:7.3f} ms (x16 {16 * replay_ms:6.2f} ms)"
            del graph
        except Exception as exc:  # noqa: BLE001
            graph_ms = f"capture failed ({type(exc).__name__})"
        print(f"    {name:<26s} {ms:7.3f} ms  (x16 {16 * ms:6.2f} ms)  graph {graph_ms}  peak +{peak:7.1f} MiB",
              flush=True)


@contextlib.contextmanager
def constants(values, module=tri):
    """The module's (triton_attention's) constants set to `values` inside the block."""
    saved = {name: getattr(module, name) for name in values}
    try:
        for name, value in values.items():
            setattr(module, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def nala_stage_calls(stages, q, k, v, go, heads, hw):
    """-> ({stage: callable}, output, [dq, dk, dv], [state, mean, dstate, dmean]) through an implementation's
    launchers (attention_ops.NalaStages)."""
    cos, sin = am.rope_angles(hw[0], hw[1], q.shape[-1] // heads, q.device, torch.float32)
    state, mean = stages.state(k, v, cos, sin, heads)
    o = stages.out(q, state, mean, cos, sin, heads)
    dq, dstate, dmean = stages.query_bwd(go, q, cos, sin, state, mean, heads)
    dk, dv = stages.key_bwd(k, v, cos, sin, dstate, dmean, heads)
    return ({"state": lambda: stages.state(k, v, cos, sin, heads),
             "out": lambda: stages.out(q, state, mean, cos, sin, heads),
             "qbwd": lambda: stages.query_bwd(go, q, cos, sin, state, mean, heads),
             "kbwd": lambda: stages.key_bwd(k, v, cos, sin, dstate, dmean, heads)},
            o, [dq, dk, dv], [state, mean, dstate, dmean])


def sweep_stages(kind, q, k, v, pw, go, heads, hw):
    """-> ({stage: callable}, output, gradients (dq, dk, dv[, dpower])) through the per-kernel launchers."""
    if kind == "nala":
        return nala_stage_calls(tri.STAGES, q, k, v, go, heads, hw)[:3]
    sig = torch.sigmoid(pw.float())
    p = (1.0 + 4.0 * sig).contiguous()
    state, mean = tri.pola_state(k, v, p)
    o = tri.pola_out(q, p, state, mean)
    dq, dstate, dmean, dp_q = tri.pola_query_bwd(go, q, p, state, mean)
    dk, dv, dp_k = tri.pola_key_bwd(k, v, p, dstate, dmean)
    return ({"state": lambda: tri.pola_state(k, v, p),
             "out": lambda: tri.pola_out(q, p, state, mean),
             "qbwd": lambda: tri.pola_query_bwd(go, q, p, state, mean),
             "kbwd": lambda: tri.pola_key_bwd(k, v, p, dstate, dmean)},
            o, [dq, dk, dv, (dp_q + dp_k) * 4.0 * sig * (1.0 - sig)])


def sweep(device, names, b=32, hw=(64, 64), heads=4, c=64):
    """Each SWEEP variant: PASS/FAIL on its errors (SWEEP_TOL), µs per kernel call at the training size."""
    d = c // heads
    print(f"sweep at B {b}, {hw[0]}x{hw[1]} tokens, C {c}, {heads} heads, bf16 q, k, v; µs a call, each "
          f"kernel (+ its partial-sum reduction) replayed from a CUDA graph; x16 blocks = per training step")
    best = {}
    for kind in ("nala", "pola"):
        q, k, v = (t.detach() for t in inputs(b, *hw, c, torch.bfloat16, device, 1, scale=0.7))
        gen = torch.Generator(device="cpu").manual_seed(2)
        pw = (0.5 * torch.randn(heads, d, generator=gen)).to(device)
        go = torch.randn(b, hw[0] * hw[1], c, generator=gen).to(device)
        f0 = make(kind, "plain", heads, hw, d, device, torch.float64)
        x64 = [t.double().requires_grad_() for t in (q, k, v, pw)]
        want = grads(f0, x64, go.double())
        n_grads = 4 if kind == "pola" else 3
        for name in names:
            with constants(SWEEP[name]):
                try:
                    small_case(kind, "triton", device, b=1, hw=(9, 31), heads=4, d=16, seed=3, gradcheck=False)
                    stages, o, g = sweep_stages(kind, q, k, v, pw, go, heads, hw)
                    errs = [rel(o, want[0])] + [rel(x, y) for x, y in zip(g, want[1][:n_grads])]
                    us = {stage: graph_us(fn) for stage, fn in stages.items()}
                except Exception as exc:  # noqa: BLE001 -- e.g. a variant that does not compile
                    report(f"{kind} sweep {name!r}", False, f"{type(exc).__name__}: {str(exc)[:300]}")
                    continue
            ok = (errs[0] < SWEEP_TOL["out"] and max(errs[1:4]) < SWEEP_TOL["grads"]
                  and (kind == "nala" or errs[4] < SWEEP_TOL["dpower"]))
            for stage, t in us.items():
                if ok and t < best.get((kind, stage), (float("inf"),))[0]:
                    best[(kind, stage)] = (t, name)
            total = sum(us.values())
            names_e = "out dq dk dv dpower".split()
            report(f"{kind} sweep {name!r}", ok,
                   " ".join(f"{stage} {t:6.1f}" for stage, t in us.items())
                   + f" sum {total:6.1f} µs (x16 {16 * total / 1000:5.2f} ms); bf16 vs plain float64: "
                   + ", ".join(f"{n} {e:.1e}" for n, e in zip(names_e, errs)))
    for (kind, stage), (t, name) in best.items():
        print(f"      fastest passing {kind} {stage}: {t:6.1f} µs ({name})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the model checks and the timing")
    ap.add_argument("--skip-ref", action="store_true", help="skip the checks of the PyTorch reference")
    ap.add_argument("--sweep", nargs="*", metavar="NAME", choices=list(SWEEP),
                    help="only check and time these SWEEP variants (all when none is named)")
    args = ap.parse_args()
    device = "cuda"
    require_triton(tri.AVAILABLE)
    torch.backends.cuda.matmul.allow_tf32 = False
    print(f"kernels: block {tri.BLOCK_T}, chunk {tri.CHUNK}, token chunk {tri.TOKEN_CHUNK}, {tri.NUM_WARPS} "
          f"warp(s), {tri.NUM_STAGES} stages, dot {tri.DOT_MODE!r} (16-bit inputs 'tf32')")
    if args.sweep is not None:
        sweep(device, args.sweep or list(SWEEP))
        print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'}")
        exit_with_status()
    for kind in ("nala", "pola"):
        if not args.skip_ref:
            small_case(kind, "ref", device)
    for kind in ("nala", "pola"):
        for shape in (dict(), dict(b=1, hw=(9, 31), heads=4, d=16, seed=3, gradcheck=False)):  # 279 tokens: 2 chunks, ragged
            try:
                small_case(kind, "triton", device, **shape)
            except Exception as exc:  # noqa: BLE001
                print(f"      float64 kernels failed ({type(exc).__name__}: {str(exc)[:300]}); "
                      "checking float32 kernels against float64 plain instead", flush=True)
                shape.pop("gradcheck", None)
                float32_small_case(kind, device, **shape)
    for kind in ("nala", "pola"):
        try:
            ft, xt, go = real_case(kind, device)
            compile_and_graph(kind, ft, xt, go)
        except Exception as exc:  # noqa: BLE001
            report(f"{kind} triton at training size", False, f"{type(exc).__name__}: {str(exc)[:500]}")
    for kind in ("nala", "pola"):
        ok, msg = tri.self_check("cuda", kind)
        report(f"{kind} triton_attention.self_check (what train.py runs before using the kernels)", ok, msg)
    if not args.quick:
        model_check(device)
        for kind in ("nala", "pola"):
            try:
                timing(kind, device)
            except Exception as exc:  # noqa: BLE001
                print(f"  timing {kind} failed: {type(exc).__name__}: {str(exc)[:300]}")
    print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'}")
    exit_with_status()


if __name__ == "__main__":
    main()
