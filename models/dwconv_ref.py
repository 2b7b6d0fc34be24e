"""Depthwise k x k convolution on token-major (B, H, W, C) tensors: the pure-PyTorch spec of triton_dwconv.py.

    y[b, i, j, c] = bias[c] + sum_{u, v} w[c, u, v] * x[b, i + u - r, j + v - r, c]   (+ x[b, i, j, c])
with r = k // 2, zero padding, same size; the optional residual (+ x) is what cpe1/cpe2/kpos/the FFN's dwconv
compute (x + dwconv(x)). Taps are numbered t = u * k + v (row-major, PyTorch's (C, 1, k, k) weight order).

Backward (what the kernels implement), dy = dL/dy:
    dx[b, i, j, c] = sum_t w[c, k*k-1-t] * dy[b, i + u_t - r, j + v_t - r, c]   (+ dy if residual)
                     i.e. the same convolution applied to dy with the taps flipped in both directions;
    dw[c, t]       = sum_{b, i, j} dy[b, i, j, c] * x[b, i + u_t - r, j + v_t - r, c]   (zero outside);
    dbias[c]       = sum_{b, i, j} dy[b, i, j, c].
Arithmetic is float32 (float64 for float64 input); outputs come back in x's dtype (as the "shift" path does),
weight/bias gradients in the parameters' dtype.

Also shared by the kernel modules (triton_dwconv.py, cuda_dwconv.py): pixels (the (B, H, W, C) layout they
read), module_constants (their launch_constants), register_ops (custom ops + autograd), self_check_op.

`python3 models/dwconv_ref.py` checks this against F.conv2d(groups=C) and runs torch.autograd.gradcheck
(float64, CPU; torch 1.13 is enough).
"""
import contextlib
import sys

import torch
import torch.nn.functional as F

from device_check import rel


def _acc_dtype(t):
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def conv_taps(src, w2, k, flip=False):
    """sum_t w2[:, t'] * src shifted by tap t (zero padding), t' = t or k*k-1-t (flip) -> (B, H, W, C), float32+."""
    _, h, w, _ = src.shape
    r = k // 2
    acc_dtype = _acc_dtype(src)
    padded = F.pad(src.to(acc_dtype), (0, 0, r, r, r, r))
    w2 = w2.to(acc_dtype)
    acc = torch.zeros(src.shape, dtype=acc_dtype, device=src.device)
    for t in range(k * k):
        u, v = divmod(t, k)
        wt = k * k - 1 - t if flip else t
        acc = acc + padded[:, u:u + h, v:v + w, :] * w2[:, wt]  # output (i, j) reads src (i + u - r, j + v - r)
    return acc


def weight_grad_taps(x, dy, k):
    """(k*k + 1, C): rows t < k*k = dw[:, t], row k*k = dbias; the layout of the kernels' partial sums."""
    _, h, w, _ = x.shape
    r = k // 2
    acc_dtype = _acc_dtype(x)
    padded = F.pad(x.to(acc_dtype), (0, 0, r, r, r, r))
    g = dy.to(acc_dtype)
    rows = [(padded[:, u:u + h, v:v + w, :] * g).sum((0, 1, 2)) for u in range(k) for v in range(k)]
    return torch.stack(rows + [g.sum((0, 1, 2))])


def forward(x, weight, bias, residual):
    k = weight.shape[-1]
    y = conv_taps(x, weight.reshape(weight.shape[0], k * k), k)
    if bias is not None:
        y = y + bias.to(y.dtype)
    if residual:
        y = y + x.to(y.dtype)
    return y.to(x.dtype)


def backward(dy, x, weight, residual):
    """-> dx (x's dtype), sums (k*k + 1, C) in the accumulation dtype: [dw taps..., dbias]."""
    k = weight.shape[-1]
    dx = conv_taps(dy, weight.reshape(weight.shape[0], k * k), k, flip=True)
    if residual:
        dx = dx + dy.to(dx.dtype)
    return dx.to(x.dtype), weight_grad_taps(x, dy, k)


def split_sums(sums, weight, bias_dtype):
    """The (k*k + 1, C) sums -> dw (C, 1, k, k), dbias (C) in the parameters' dtypes."""
    kk = weight.shape[-1] ** 2
    return sums[:kk].t().reshape(weight.shape).to(weight.dtype), sums[kk].to(bias_dtype)


class DwConvRef(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, residual):
        ctx.save_for_backward(x, weight)
        ctx.residual, ctx.bias_dtype = residual, bias.dtype
        return forward(x, weight, bias, residual)

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        dx, sums = backward(dy, x, weight, ctx.residual)
        dw, db = split_sums(sums, weight, ctx.bias_dtype)
        return dx, dw, db, None


def dwconv_ref(x, weight, bias, residual=False):
    """Token-major depthwise conv (+ x if residual) with the hand-written backward; x (B, H, W, C)."""
    return DwConvRef.apply(x, weight, bias, residual)


def dwconv_conv2d(x, weight, bias, residual=False):
    """The same function through F.conv2d(groups=C) (cuDNN on the GPU): the ground truth of the checks."""
    k = weight.shape[-1]
    y = F.conv2d(x.permute(0, 3, 1, 2), weight, bias, padding=k // 2, groups=x.shape[-1]).permute(0, 2, 3, 1)
    return y + x if residual else y


# ----------------------------------------------------------------------------------------------- checks



def random_case(b, h, w, c, k, dtype=torch.float64, device="cpu", seed=0):
    """Random x, weight, bias, dy (never zero), x/weight/bias requiring grad."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, h, w, c, generator=g, dtype=torch.float64)
    weight = torch.randn(c, 1, k, k, generator=g, dtype=torch.float64) / k
    bias = torch.randn(c, generator=g, dtype=torch.float64)
    dy = torch.randn(b, h, w, c, generator=g, dtype=torch.float64)
    leaves = [t.to(device, dtype).requires_grad_() for t in (x, weight, bias)]
    return leaves, dy.to(device, dtype)


def values_and_grads(fn, leaves, dy, residual):
    y = fn(*leaves, residual)
    return [y] + list(torch.autograd.grad(y, leaves, dy))


@contextlib.contextmanager
def module_constants(namespace, cfg):
    """Sets the names of cfg in a module's globals() for the block and restores them afterwards (the kernel
    modules' launch_constants)."""
    saved = {name: namespace[name] for name in cfg}
    namespace.update(cfg)
    try:
        yield
    finally:
        namespace.update(saved)


def pixels(t):
    """A (B, H, W, C) tensor as the kernel modules read it (channel stride 1; else a contiguous copy), its pixel
    strides (B, H, W) in elements."""
    assert t.dim() == 4, "token-major (B, H, W, C)"
    if t.stride(3) != 1 and t.shape[3] > 1:
        t = t.contiguous()
    return t, (t.stride(0), t.stride(1), t.stride(2))


# (B, H, W, C, k): odd sizes, images smaller than the kernel, one row/column
SHAPES = [(2, 5, 7, 16, 3), (1, 9, 31, 8, 5), (2, 3, 2, 4, 5), (1, 1, 6, 3, 3), (2, 6, 1, 5, 5), (1, 4, 4, 2, 3)]


def self_check_op(op, device="cuda"):
    """Small float32 forward + backward of a depthwise op (3x3 with residual, 5x5 without; ragged tiles; a channel
    chunk as input: channel stride 1, pixel stride 2C, like lepe(v) on a chunk of the qkvg output) vs F.conv2d
    in float64 -> worst relative error. What the kernel modules' self_check runs before train.py uses them."""
    worst = 0.0
    for (b, h, w, c, k, residual) in ((2, 13, 21, 48, 3, True), (1, 23, 30, 80, 5, False)):
        (x, weight, bias), dy = random_case(b, h, w, 2 * c, k, seed=k)
        x, weight, bias = (t.detach() for t in (x, weight, bias))
        dy = dy[..., :c].contiguous()
        truth = values_and_grads(dwconv_conv2d, [t.requires_grad_() for t in (x[..., :c].contiguous(), weight[:c],
                                                                             bias[:c])], dy, residual)
        leaves = [x.to(device, torch.float32)[..., :c].requires_grad_()] + \
            [t[:c].to(device, torch.float32).requires_grad_() for t in (weight, bias)]
        got = values_and_grads(op, leaves, dy.to(device, torch.float32), residual)
        worst = max([worst] + [rel(a.cpu(), t) for a, t in zip(got, truth)])
    return worst


def register_ops(name, forward, backward):
    """Registers forward(x, weight, bias, residual) -> y and backward(dy, x, weight, residual) -> (dx, sums) as
    torch.library custom ops nalasr::{name}_fwd / _bwd with fake implementations and autograd, so regional
    torch.compile sees one opaque op each way and CUDA graphs capture it. -> the forward op."""
    @torch.library.custom_op(f"nalasr::{name}_fwd", mutates_args=())
    def fwd_op(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, residual: bool) -> torch.Tensor:
        return forward(x, weight, bias, residual)

    @fwd_op.register_fake
    def _(x, weight, bias, residual):
        return x.new_empty(x.shape)

    @torch.library.custom_op(f"nalasr::{name}_bwd", mutates_args=())
    def bwd_op(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
               residual: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return backward(dy, x, weight, residual)

    @bwd_op.register_fake
    def _(dy, x, weight, residual):
        return x.new_empty(x.shape), x.new_empty((weight.shape[-1] ** 2 + 1, x.shape[-1]), dtype=_acc_dtype(x))

    def setup(ctx, inputs, output):
        x, weight, bias, residual = inputs
        ctx.save_for_backward(x, weight)
        ctx.residual, ctx.bias_dtype = residual, bias.dtype

    def grad(ctx, dy):
        x, weight = ctx.saved_tensors
        dx, sums = bwd_op(dy, x, weight, ctx.residual)
        dw, db = split_sums(sums, weight, ctx.bias_dtype)  # views + a copy: fused by inductor
        return dx, dw, db, None

    fwd_op.register_autograd(grad, setup_context=setup)
    return fwd_op


def main():
    fails = []
    print(f"torch {torch.__version__}")
    for b, h, w, c, k in SHAPES:
        for residual in (False, True):
            leaves, dy = random_case(b, h, w, c, k, seed=h * 100 + w)
            ref = values_and_grads(dwconv_ref, leaves, dy, residual)
            truth = values_and_grads(dwconv_conv2d, leaves, dy, residual)
            errs = [rel(a, t) for a, t in zip(ref, truth)]
            ok = max(errs) < 1e-13
            name = f"B {b}, {h}x{w}, C {c}, k {k}, residual {residual}"
            print(f"{'PASS' if ok else 'FAIL'}  ref vs F.conv2d float64 ({name}): y / dx / dw / db "
                  + " / ".join(f"{e:.1e}" for e in errs))
            if not ok:
                fails.append(name)
            if b * h * w * c <= 300:  # gradcheck's Jacobian is dense
                ok = torch.autograd.gradcheck(lambda x, wt, bs: dwconv_ref(x, wt, bs, residual), leaves,
                                              raise_exception=False)
                print(f"{'PASS' if ok else 'FAIL'}  gradcheck float64 ({name})")
                if not ok:
                    fails.append("gradcheck " + name)
    print(f"{len(fails)} failed" + (": " + ", ".join(fails) if fails else ""))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())


def guarded_self_check(op, available, unavailable, what, device):
    """self_check_op of `op` as (ok, message), never raising: train.py runs it before switching the depthwise
    convs to a kernel set and keeps "shift" if it fails (a failed build or launch lands here too)."""
    try:
        if not available:
            return False, unavailable
        worst = self_check_op(op, device)
        return worst < 1e-5, f"{what} vs float64 F.conv2d, max relative error {worst:.2e}"
    except Exception as exc:  # noqa: BLE001 -- any failure means: do not use the kernels
        return False, f"{type(exc).__name__}: {str(exc)[:300]}"

