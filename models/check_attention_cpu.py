"""CPU checks of the fused NaLa/Pola attention kernels (triton_attention.py) without a GPU or Triton.

tl_emulator_attention runs the @triton.jit bodies as Python on CPU tensors, one program after another, through
the per-kernel launchers (nala_state / nala_out / nala_query_bwd / nala_key_bwd and the pola_* ones):
  1. float64 and float32 kernels vs attention_math's plain formulation in float64 (autograd for the
     gradients): output, dq, dk, dv (Pola: and dpower); several heads, B > 1, token counts that are not a
     multiple of the block, partial last chunks, d 4 / 8 (broadcast sums) and 16 / 32 (tl.dot), the
     production constants and others (several chunks / token chunks a program, block 32); every element of
     every output and partial-sum buffer must be stored exactly once per launch
  2. torch.autograd.gradcheck of the kernels (forward + hand-written backward), float64
  3. bf16 inputs at B 1, 32x32, C 64, 4 heads vs float64 plain: the emulator rounds tl.dot inputs to TF32
     (the one "tf32" pass 16-bit inputs take), so this estimates what that pass costs in accuracy
Usage: /usr/bin/python3 models/check_attention_cpu.py   (exit 1 on a failure)
"""
import sys
import time

import torch

import attention_math as am
import tl_emulator
import tl_emulator_attention

tl_emulator_attention.install()
import triton_attention as tri  # noqa: E402 -- after the emulator is installed as `triton`

FAILS = []
# relative error bounds vs float64 plain: float64 kernels (exact up to rounding) and float32 kernels (tf32x3 /
# ieee products are float32-exact in the emulator; session 2 measured 2-3e-7 on the H100 at the training size)
TOL = {torch.float64: (1e-12, 1e-12), torch.float32: (1e-5, 1e-4)}


def report(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILS.append(name)


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


def written_once():
    bad = [c for _, c in tl_emulator.WRITES.values() if not bool((c == 1).all())]
    tl_emulator.WRITES.clear()
    return "; ".join(f"{int((c == 0).sum())} unwritten, {int((c > 1).sum())} written twice" for c in bad)


def with_constants(consts, fn):
    saved = {name: getattr(tri, name) for name in consts}
    try:
        for name, value in consts.items():
            setattr(tri, name, value)
        return fn()
    finally:
        for name, value in saved.items():
            setattr(tri, name, value)


def random_inputs(kind, b, hw, heads, d, seed, scale=1.0):
    """float64 q, k, v (B, N, C) and Pola's raw power (h, d)."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, hw[0] * hw[1], heads * d, generator=g, dtype=torch.float64) * scale
               for _ in range(3))
    power = 0.5 * torch.randn(heads, d, generator=g, dtype=torch.float64)
    return q, k, v, power


def plain(kind, q, k, v, power, heads, hw, go):
    """float64 reference: output and gradients (dq, dk, dv[, dpower]) of attention_math's plain form."""
    xs = [t.detach().double().requires_grad_() for t in ((q, k, v, power) if kind == "pola" else (q, k, v))]
    o = am.pola_plain(*xs[:3], heads, xs[3]) if kind == "pola" else am.nala_plain(*xs, heads, *hw)
    return [o.detach()] + list(torch.autograd.grad(o, xs, go))


def kernels(kind, q, k, v, power, heads, hw, go):
    """The launchers stage by stage (written-once checked after each) -> (output, gradients, store problems)."""
    problems = []
    acc = torch.float64 if q.dtype == torch.float64 else torch.float32

    def stage(name, fn):
        out = fn()
        msg = written_once()
        if msg:
            problems.append(f"{name}: {msg}")
        return out
    if kind == "nala":
        cos, sin = am.rope_angles(hw[0], hw[1], q.shape[-1] // heads, "cpu", acc)
        state, mean = stage("state", lambda: tri.nala_state(k, v, cos, sin, heads))
        o = stage("out", lambda: tri.nala_out(q, state, mean, cos, sin, heads))
        dq, dstate, dmean = stage("qbwd", lambda: tri.nala_query_bwd(go.to(acc), q, cos, sin, state, mean, heads))
        dk, dv = stage("kbwd", lambda: tri.nala_key_bwd(k, v, cos, sin, dstate, dmean, heads))
        return o, [dq, dk, dv], problems
    sig = torch.sigmoid(power.to(acc))
    p = (1.0 + 4.0 * sig).contiguous()
    state, mean = stage("state", lambda: tri.pola_state(k, v, p))
    o = stage("out", lambda: tri.pola_out(q, p, state, mean))
    dq, dstate, dmean, dp_q = stage("qbwd", lambda: tri.pola_query_bwd(go.to(acc), q, p, state, mean))
    dk, dv, dp_k = stage("kbwd", lambda: tri.pola_key_bwd(k, v, p, dstate, dmean))
    return o, [dq, dk, dv, (dp_q + dp_k) * 4.0 * sig * (1.0 - sig)], problems  # chain rule to the raw power


def case(kind, b, hw, heads, d, dtype, consts=None, seed=0):
    consts = consts or {}
    q, k, v, power = random_inputs(kind, b, hw, heads, d, seed)
    go = torch.randn(q.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    want = plain(kind, q, k, v, power, heads, hw, go)
    t = time.time()
    o, grads, problems = with_constants(consts, lambda: kernels(kind, *(x.to(dtype) for x in (q, k, v)), power,
                                                                heads, hw, go))
    e_o, e_g = rel(o, want[0]), [rel(g, w) for g, w in zip(grads, want[1:])]
    tol = TOL[dtype]
    ok = e_o < tol[0] and max(e_g) < tol[1] and not problems and o.dtype == dtype
    ok = ok and all(g.dtype == dtype for g in grads[:3])
    names = "dq dk dv dpower".split()
    label = ", ".join(f"{n}={val}" for n, val in consts.items())
    report(f"{kind} {str(dtype)[6:]} B {b}, {hw[0]}x{hw[1]}, {heads} heads, d {d}{'; ' + label if label else ''}",
           ok, f"out {e_o:.1e}, " + ", ".join(f"{n} {e:.1e}" for n, e in zip(names, e_g))
           + f" ({time.time() - t:.1f} s)" + (f"; stores: {' | '.join(problems)}" if problems else ""))


class _Kernels(torch.autograd.Function):
    """The launchers as one autograd Function (the custom ops need torch >= 2.4), for gradcheck."""

    @staticmethod
    def forward(ctx, q, k, v, extra, kind, heads, hw):
        if kind == "nala":
            cos, sin = am.rope_angles(hw[0], hw[1], q.shape[-1] // heads, "cpu", torch.float64)
            o, state, mean = tri.nala_forward(q, k, v, cos, sin, heads)
            ctx.save_for_backward(q, k, v, cos, sin, state, mean)
        else:
            o, state, mean = tri.pola_forward(q, k, v, extra)
            ctx.save_for_backward(q, k, v, extra, state, mean)
        ctx.kind, ctx.heads = kind, heads
        return o

    @staticmethod
    def backward(ctx, do):
        if ctx.kind == "nala":
            q, k, v, cos, sin, state, mean = ctx.saved_tensors
            return tri.nala_backward(do, q, k, v, cos, sin, state, mean, ctx.heads) + (None, None, None, None)
        return tri.pola_backward(do, *ctx.saved_tensors) + (None, None, None)


def gradcheck(kind, b=1, hw=(3, 5), heads=2, d=8):
    q, k, v, power = random_inputs(kind, b, hw, heads, d, seed=7)
    extra = (1.0 + 4.0 * torch.sigmoid(power)) if kind == "pola" else torch.zeros(1, dtype=torch.float64)
    xs = [t.requires_grad_() for t in (q, k, v)] + [extra.requires_grad_(kind == "pola")]
    t = time.time()
    ok = torch.autograd.gradcheck(lambda q, k, v, e: _Kernels.apply(q, k, v, e, kind, heads, hw), xs,
                                  raise_exception=False)
    tl_emulator.WRITES.clear()
    report(f"{kind} kernels gradcheck float64 (B {b}, {hw[0]}x{hw[1]}, {heads} heads, d {d})", ok,
           f"{time.time() - t:.1f} s")


def bf16_case(kind, b=1, hw=(32, 32), heads=4, d=16):
    """bf16 q, k, v (as under autocast) vs float64 plain (one TF32 pass a tl.dot)."""
    q, k, v, power = random_inputs(kind, b, hw, heads, d, seed=11, scale=0.7)
    q, k, v = (t.to(torch.bfloat16) for t in (q, k, v))
    go = torch.randn(q.shape, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    want = plain(kind, q, k, v, power, heads, hw, go)
    rounding = rel(want[1].to(torch.bfloat16), want[1])  # what storing the exact dq as bf16 costs alone
    o, grads, problems = kernels(kind, q, k, v, power, heads, hw, go)
    e_o, e_g = rel(o, want[0]), [rel(g, w) for g, w in zip(grads, want[1:])]
    ok = e_o < 2e-3 and max(e_g) < 1e-2 and not problems
    report(f"{kind} bf16 inputs (one TF32 pass), B {b}, {hw[0]}x{hw[1]}, C {heads * d}", ok,
           f"out {e_o:.1e}, " + ", ".join(f"{n} {e:.1e}" for n, e in zip("dq dk dv dpower".split(), e_g))
           + f" (bf16 rounding of the exact dq alone: {rounding:.1e})")


def main():
    print(f"torch {torch.__version__} (CPU); Triton kernels run by tl_emulator_attention")
    report("triton_attention imports with the emulator; kernels defined", tri.HAVE_TRITON and not tri.AVAILABLE,
           "custom ops need torch >= 2.4: the launchers are checked directly")
    f64, f32 = torch.float64, torch.float32
    small = dict(CHUNK=32, TOKEN_CHUNK=32)
    block32 = dict(BLOCK_T=32, CHUNK=64, TOKEN_CHUNK=64)
    cases = [  # (B, (H, W), heads, d, dtype, constants): N never a multiple of the block
        (2, (5, 7), 2, 8, f64, None),
        (1, (9, 31), 4, 16, f64, small),  # 279 tokens: 9 chunks of 32, the last ragged
        (2, (6, 11), 2, 16, f64, block32),
        (3, (4, 4), 1, 4, f64, None),  # d 4: one RoPE pair per quarter
        (2, (9, 13), 4, 16, f32, None),  # tl.dot path
        (1, (17, 19), 2, 32, f32, dict(CHUNK=64, TOKEN_CHUNK=48)),
        (2, (7, 9), 2, 16, f32, block32),
        (2, (5, 7), 2, 8, f32, None),  # d 8: broadcast sums in float32
    ]
    for kind in ("nala", "pola"):
        for b, hw, heads, d, dtype, consts in cases:
            case(kind, b, hw, heads, d, dtype, consts)
    for kind in ("nala", "pola"):
        gradcheck(kind)
    for kind in ("nala", "pola"):
        bf16_case(kind)
    print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'}")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
