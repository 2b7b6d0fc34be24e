"""What the fused NaLa implementations (triton_attention.py, cuda_attention.py) share: the custom-op + autograd
registration around their forward / backward launchers, and the self-check train.py runs before using them.

The ops are registered with torch.library.custom_op with fake implementations and register_autograd, so
torch.compile treats them as opaque nodes inside a compiled block (no graph break, the rest of the block still
fuses) and CUDA-graph capture records the kernel launches. The forward saves q, k, v, cos, sin, S and m for the
backward; S (B*h, 2d, d) and m (B*h, 2d) come out of the forward as extra outputs (already / N).
"""
from typing import Callable, NamedTuple

import torch

import attention_math as am


def acc_dtype(t):
    """The math (and output) dtype for inputs of t's dtype: float64 for float64, else float32."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def tokens(*ts):
    """Token-major inputs as the kernels read them: any strides, but channel stride 1 (else a contiguous copy)."""
    return [t if t.stride(2) == 1 else t.contiguous() for t in ts]


class NalaStages(NamedTuple):
    """An implementation's four launchers (triton_attention's signatures); forward / backward chain them."""
    state: Callable  # (k, v, cos, sin, heads) -> S, m (/ N)
    out: Callable  # (q, S, m, cos, sin, heads) -> o
    query_bwd: Callable  # (do, q, cos, sin, S, m, heads) -> dq, dS, dm (sums over tokens)
    key_bwd: Callable  # (k, v, cos, sin, dS, dm, heads) -> dk, dv

    def forward(self, q, k, v, cos, sin, heads):
        """-> o (B, N, C), state, mean."""
        state, mean = self.state(k, v, cos, sin, heads)
        return self.out(q, state, mean, cos, sin, heads), state, mean

    def backward(self, do, q, k, v, cos, sin, state, mean, heads):
        dq, dstate, dmean = self.query_bwd(do, q, cos, sin, state, mean, heads)
        return (dq,) + tuple(self.key_bwd(k, v, cos, sin, dstate, dmean, heads))


def register_nala_ops(name, stages):
    """nalasr::{name}_fwd / {name}_bwd around stages.forward / stages.backward -> the forward op."""
    forward, backward = stages.forward, stages.backward

    @torch.library.custom_op(f"nalasr::{name}_fwd", mutates_args=())
    def fwd_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
               heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return forward(q, k, v, cos, sin, heads)

    @fwd_op.register_fake
    def _(q, k, v, cos, sin, heads):
        b, n, c = q.shape
        d, acc = c // heads, acc_dtype(q)
        return (q.new_empty((b, n, c), dtype=acc), q.new_empty((b * heads, 2, d, d), dtype=acc),
                q.new_empty((b * heads, 2, d), dtype=acc))

    @torch.library.custom_op(f"nalasr::{name}_bwd", mutates_args=())
    def bwd_op(do: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor,
               sin: torch.Tensor, state: torch.Tensor, mean: torch.Tensor,
               heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return backward(do, q, k, v, cos, sin, state, mean, heads)

    @bwd_op.register_fake
    def _(do, q, k, v, cos, sin, state, mean, heads):
        return tuple(t.new_empty(t.shape) for t in (q, k, v))

    def setup(ctx, inputs, output):
        q, k, v, cos, sin, heads = inputs
        ctx.save_for_backward(q, k, v, cos, sin, output[1], output[2])
        ctx.heads = heads

    def grad(ctx, do, _dstate, _dmean):
        q, k, v, cos, sin, state, mean = ctx.saved_tensors
        dq, dk, dv = bwd_op(do, q, k, v, cos, sin, state, mean, ctx.heads)
        return dq, dk, dv, None, None, None

    fwd_op.register_autograd(grad, setup_context=setup)
    return fwd_op


def self_check(device, kind, nala, pola=None):
    """Small forward + backward of nala(q, k, v, heads, cos, sin) (or pola(q, k, v, heads, power)) in float32
    vs attention_math's fast path in float64 -> (ok, message). Never raises: train.py calls it before switching
    to the kernels and keeps the `fast` path if it fails."""
    try:
        b, (hh, ww), heads, c = 2, (16, 20), 4, 64  # 320 tokens: several chunks, the last ragged
        gen = torch.Generator(device="cpu").manual_seed(0)
        q, k, v, go = (torch.randn(b, hh * ww, c, generator=gen, dtype=torch.float64).to(device) for _ in range(4))
        power = torch.randn(heads, c // heads, generator=gen, dtype=torch.float64).to(device)
        if kind == "nala":
            tables = {dt: am.rope_angles(hh, ww, c // heads, device, dt) for dt in (torch.float64, torch.float32)}
            fns = (lambda q, k, v, p: am.nala_fast(q, k, v, heads, *tables[q.dtype]),
                   lambda q, k, v, p: nala(q, k, v, heads, *tables[q.dtype]))
        else:
            fns = (lambda q, k, v, p: am.pola_fast(q, k, v, heads, p),
                   lambda q, k, v, p: pola(q, k, v, heads, p))
        results = []
        for f, dtype in zip(fns, (torch.float64, torch.float32)):  # reference: fast in float64
            xs = [t.to(dtype).requires_grad_() for t in (q, k, v, power)]
            o = f(*xs)
            results.append([o] + list(torch.autograd.grad(o, xs, go.to(dtype), allow_unused=True)))
        err = max(((a.double() - r.double()).norm() / r.double().norm()).item()
                  for a, r in zip(results[1], results[0]) if r is not None)
        return err < 1e-3, f"{kind}: float32 kernels vs float64 fast path, max relative error {err:.2e}"
    except Exception as exc:  # noqa: BLE001 -- any failure means: do not use the kernels
        return False, f"{kind}: {type(exc).__name__}: {str(exc)[:300]}"
