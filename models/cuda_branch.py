"""The NaLa attention branch between the qkvg and proj GEMMs as one custom op (issue 10, prepared in session 9):

    a = LayerNorm(nala(q, k, v) + lepe(v)) * SiLU(g),   (q, k, v, g) = qkvg.chunk(4, -1)

Same math as NalaAttention.forward with the "cuda" formulation (docs/model.md, NaLa step 6, before proj); what
changes is who moves the bytes. Under inductor the gate LayerNorm(o + lepe) * SiLU(g) is three memory-bound
kernels a block, and the gradient of the qkvg chunks is a concatenation pass that reads dq, dk, dv, dlepe's dv
and the gate's inputs again and writes d(qkvg) (session 8 profile, H100: 40 + 40 + 85 us a block, plus two of the
six ATen column sums a block). Here:
  forward   lepe = cuda_dwconv(v)          (5x5, reads the v chunk of qkvg in place)
            o, S, m = cuda_attention(q, k, v)
            a, mean, rstd = gate forward   (nala_gate.cu: one pass over o, lepe, g)
  backward  d(qkvg) allocated once; its slices are written in place:
            gate backward -> do (float32, for the attention), dlepe, dg -> d(qkvg)[..., 3C:], norm weight / bias
                             gradients as per-block partial sums (finished in a fixed order)
            attention backward -> dq, dk, dv -> d(qkvg)[..., :3C] (the kernels take strided outputs)
            lepe backward -> dv += dx (cuda_dwconv's accumulate flag), lepe weight / bias sums
so no concatenation and no separate reductions are left. The composition (branch_forward / branch_backward) runs
on interchangeable stages: CUDA_STAGES on the GPU, and in check_cuda_branch_cpu.py float64 torch stages
(REFERENCE_STAGES) and an emulation of the gate kernels, which is how it is checked without a GPU.

Entry point: nala_branch(qkvg, attn, cos, sin) with attn the NalaAttention module (its lepe and norm parameters);
custom ops nalasr::cuda_branch_fwd / _bwd. The model uses it when NalaAttention.branch == "cuda"
(NalaSR.set_attention_branch, train.py --attention-branch cuda, bench_train.py variant cuda-branch-graph).
"""
import ctypes
import pathlib
import struct
from typing import Callable, NamedTuple

import torch

import cuda_ext
import dwconv_ref
from attention_ops import acc_dtype

GATE_SOURCE = pathlib.Path(__file__).resolve().parent / "cuda_attention" / "nala_gate.cu"
AVAILABLE = hasattr(torch.library, "custom_op") and torch.cuda.is_available()
EPS = 1e-5  # NalaAttention.norm's eps (docs/model.md)
GATE_THREADS = 256  # compile-time (-D): a block of the gate kernels; 8 channels a lane, C / 8 lanes a token
GATE_CHANNELS = (8, 16, 32, 64, 128, 256)
# Backward grid: blocks an SM (80 registers a lane at 256 threads: 3 fit) -> partial-sum rows = SMs * this.
GATE_BWD_BLOCKS_PER_SM = 3


class GateArgs(ctypes.Structure):
    """Mirror of NalasrGateArgs in nala_gate.cu (all fields 8 bytes, no padding)."""
    _fields_ = ([(name, ctypes.c_void_p) for name in (
                    "o", "lepe", "g", "w", "bias", "da", "a", "mean", "rstd", "dout", "dlepe", "dg", "part",
                    "stream")]
                + [(name, ctypes.c_longlong) for name in (
                    "so", "slepe", "sg", "sda", "sa", "sdout", "sdlepe", "sdg",
                    "T", "C", "dtype", "eps_bits", "grid", "threads", "device")])


def compile_defines():
    return dict(GATE_THREADS=GATE_THREADS)


def gate_library(device):
    functions = {name: ([ctypes.POINTER(GateArgs)], ctypes.c_int) for name in ("nalasr_gate_fwd", "nalasr_gate_bwd")}
    functions["nalasr_gate_finish"] = ([ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong, ctypes.c_longlong,
                                        ctypes.c_int, ctypes.c_void_p, ctypes.c_int], ctypes.c_int)
    functions["nalasr_gate_error"] = ([ctypes.c_int], ctypes.c_char_p)
    return cuda_ext.load(GATE_SOURCE, device, compile_defines(), functions)


# ------------------------------------------------------------------------------------ launch geometry (CPU)

def eps_bits(eps):
    return struct.unpack("<q", struct.pack("<d", eps))[0]


def gate_grid(tokens, c, sms, backward):
    """Blocks of the gate kernels (a block takes GATE_THREADS * 8 / C tokens an iteration): the forward one
    iteration a block; the backward a grid-stride loop over SMs * GATE_BWD_BLOCKS_PER_SM blocks at most, each
    writing one partial-sum row."""
    assert c in GATE_CHANNELS, f"gate: C {c} not in {GATE_CHANNELS}"
    per_block = GATE_THREADS // (c // 8)
    blocks = -(-tokens // per_block)
    return min(blocks, sms * GATE_BWD_BLOCKS_PER_SM) if backward else blocks


def aligned(t):
    """The gate kernels load 8 elements a lane as 16-byte vectors: the base 16-byte aligned, the token stride
    a multiple of 8 elements (true of the chunks of a contiguous qkvg at C % 8 == 0)."""
    return t.data_ptr() % 16 == 0 and t.stride(-2) % 8 == 0 and t.stride(-1) == 1


def _tokens2d(t):
    """(B, H, W, C) -> (T, C) view (any token stride that flattens) or a contiguous copy."""
    c = t.shape[-1]
    try:
        v = t.view(-1, c)
    except RuntimeError:
        v = t.reshape(-1, c)
    return v if aligned(v) else v.contiguous()


# ------------------------------------------------------------------------------------------------ stages

class BranchStages(NamedTuple):
    """What the branch composition calls; every *_into stage writes its result into the views it is given."""
    dw_fwd: Callable  # (v, w, b) -> lepe (B, H, W, C) in v's dtype
    dw_bwd_into: Callable  # (dy, v, w, out) -> sums (k*k + 1, C); out += dx
    attn_fwd: Callable  # (q, k, v, cos, sin, heads) on (B, N, C) -> o (acc dtype), S, m
    attn_bwd_into: Callable  # (do, q, k, v, cos, sin, S, m, heads, dq, dk, dv); writes dq, dk, dv
    gate_fwd: Callable  # (o, lepe, g, nw, nb) on (B, H, W, C) -> a, mean (T), rstd (T)
    gate_bwd_into: Callable  # (da, o, lepe, g, nw, nb, mean, rstd, dg) -> do (acc), dlepe, (2, C) [dnw; dnb]; writes dg


def branch_forward(st, qkvg, lepe_w, lepe_b, norm_w, norm_b, cos, sin, heads):
    """-> a, and what the backward needs: lepe, o, S, m, mean, rstd."""
    b, h, w, c4 = qkvg.shape
    c = c4 // 4
    q, k, v, g = qkvg.chunk(4, dim=-1)
    lepe = st.dw_fwd(v, lepe_w, lepe_b)
    o, state, mean_key = st.attn_fwd(*(t.reshape(b, h * w, c) for t in (q, k, v)), cos, sin, heads)
    a, mean, rstd = st.gate_fwd(o.reshape(b, h, w, c), lepe, g, norm_w, norm_b)
    return a, lepe, o, state, mean_key, mean, rstd


def branch_backward(st, da, qkvg, lepe_w, norm_w, norm_b, cos, sin, lepe, o, state, mean_key, mean, rstd, heads):
    """-> d(qkvg) (contiguous, qkvg's dtype), lepe sums (k*k + 1, C), norm sums (2, C) = [d weight; d bias] (acc
    dtype). Sums, not parameter gradients: the op's outputs must not alias each other (grad() splits them)."""
    b, h, w, c4 = qkvg.shape
    c = c4 // 4
    q, k, v, g = qkvg.chunk(4, dim=-1)
    dqkvg = torch.empty(qkvg.shape, dtype=qkvg.dtype, device=qkvg.device)
    dq, dk, dv, dg = dqkvg.chunk(4, dim=-1)
    do, dlepe, norm_sums = st.gate_bwd_into(da, o.reshape(b, h, w, c), lepe, g, norm_w, norm_b, mean, rstd, dg)
    flat = [t.reshape(b, h * w, c) for t in (do, q, k, v)]
    st.attn_bwd_into(*flat, cos, sin, state, mean_key, heads, *(t.view(b, h * w, c) for t in (dq, dk, dv)))
    sums = st.dw_bwd_into(dlepe, v, lepe_w, dv)  # after the attention's dv: accumulates into it
    return dqkvg, sums, norm_sums


# --------------------------------------------------------------------------------- float64 torch stages

def gate_reference(o, lepe, g, norm_w, norm_b, eps=EPS):
    """a = LayerNorm(o + lepe) * SiLU(g) in the math dtype, and the per-token mean and rstd."""
    acc = acc_dtype(lepe)
    z = o.to(acc) + lepe.to(acc)
    mean = z.mean(-1)
    rstd = 1.0 / torch.sqrt(((z - mean[..., None]) ** 2).mean(-1) + eps)
    y = (z - mean[..., None]) * rstd[..., None] * norm_w.to(acc) + norm_b.to(acc)
    gv = g.to(acc)
    return y * gv * torch.sigmoid(gv), mean.reshape(-1), rstd.reshape(-1)


def gate_backward_reference(da, o, lepe, g, norm_w, norm_b, mean, rstd):
    """The hand-derived gate backward (what nala_gate.cu computes) -> dz (= do = dlepe), dg, dnw, dnb."""
    acc = acc_dtype(lepe)
    c = o.shape[-1]
    zn = (o.to(acc) + lepe.to(acc) - mean.reshape(o.shape[:-1])[..., None]) * rstd.reshape(o.shape[:-1])[..., None]
    gv, d = g.to(acc), da.to(acc)
    sg = torch.sigmoid(gv)
    dy = d * gv * sg
    dg = d * (zn * norm_w.to(acc) + norm_b.to(acc)) * (sg * (1 + gv * (1 - sg)))
    dyw = dy * norm_w.to(acc)
    m1 = dyw.sum(-1, keepdim=True) / c
    m2 = (dyw * zn).sum(-1, keepdim=True) / c
    dz = rstd.reshape(o.shape[:-1])[..., None] * (dyw - m1 - zn * m2)
    dims = tuple(range(o.dim() - 1))
    return dz, dg, (dy * zn).sum(dims), dy.sum(dims)


def _ref_attn_fwd(q, k, v, cos, sin, heads):
    import fused_attention_ref as far
    c = q.shape[-1]
    cs, sn = far.channel_tables(cos, sin, c // heads)
    qh, kh, vh = (far.split_heads(t.to(acc_dtype(q)), heads) for t in (q, k, v))
    state, mean = far.nala_state(kh, vh, cs, sn)
    o, _ = far.nala_output(qh, state, mean, cs, sn)
    return o.reshape(q.shape), state, mean


def _ref_attn_bwd_into(do, q, k, v, cos, sin, state, mean, heads, dq, dk, dv):
    import fused_attention_ref as far
    c = q.shape[-1]
    acc = acc_dtype(q)
    cs, sn = far.channel_tables(cos, sin, c // heads)
    qh, kh, vh, doh = (far.split_heads(t.to(acc), heads) for t in (q, k, v, do))
    gq, dstate, dmean = far.nala_query_bwd(qh, doh, state, mean, cs, sn)
    gk, gv = far.nala_key_bwd(kh, vh, dstate, dmean, cs, sn)
    for out, val in ((dq, gq), (dk, gk), (dv, gv)):
        out.copy_(val.reshape(out.shape))


def _ref_dw_bwd_into(dy, v, w, out):
    dx, sums = dwconv_ref.backward(dy, v, w, False)
    out.add_(dx)
    return sums


def _ref_gate_fwd(o, lepe, g, nw, nb):
    a, mean, rstd = gate_reference(o, lepe, g, nw, nb)
    return a.to(lepe.dtype), mean, rstd


def _ref_gate_bwd_into(da, o, lepe, g, nw, nb, mean, rstd, dg):
    dz, dgv, dnw, dnb = gate_backward_reference(da, o, lepe, g, nw, nb, mean, rstd)
    dg.copy_(dgv)
    return dz, dz.to(lepe.dtype), torch.stack([dnw, dnb])


REFERENCE_STAGES = BranchStages(
    dw_fwd=lambda v, w, b: dwconv_ref.forward(v, w, b, False), dw_bwd_into=_ref_dw_bwd_into,
    attn_fwd=_ref_attn_fwd, attn_bwd_into=_ref_attn_bwd_into,
    gate_fwd=_ref_gate_fwd, gate_bwd_into=_ref_gate_bwd_into)


# ------------------------------------------------------------------------------------------ CUDA stages

def _gate_call(name, lib, args):
    code = getattr(lib, name)(ctypes.byref(args))
    if code != 0:
        raise RuntimeError(f"cuda_branch {name}: {lib.nalasr_gate_error(code).decode()} (code {code})")


def _sms(device):
    return torch.cuda.get_device_properties(device).multi_processor_count


def _gate_args(like, **tensors):
    """The kernels' argument struct: T, C, dtype, device and stream from `like` (T, C), then each tensor's pointer."""
    t, c = like.shape[0], like.shape[1]
    args = GateArgs(T=t, C=c, dtype=cuda_ext.DTYPES[like.dtype], eps_bits=eps_bits(EPS), threads=GATE_THREADS,
                    device=like.device.index or 0, stream=cuda_ext.stream_of(like))
    strides = dict(o="so", lepe="slepe", g="sg", da="sda", a="sa", dout="sdout", dlepe="sdlepe", dg="sdg")
    for name, x in tensors.items():
        assert x.data_ptr() % 16 == 0, f"gate: {name} not 16-byte aligned"
        setattr(args, name, x.data_ptr())
        if name in strides:
            assert x.dim() == 2 and x.stride(1) == 1 and x.stride(0) % 8 == 0, f"gate: {name} token stride"
            setattr(args, strides[name], x.stride(0))
    return args


def cuda_gate_fwd(o, lepe, g, nw, nb):
    shape = lepe.shape
    acc = acc_dtype(lepe)
    o2, l2, g2 = _tokens2d(o), _tokens2d(lepe), _tokens2d(g)
    t, c = l2.shape
    a = torch.empty(shape, dtype=lepe.dtype, device=lepe.device)
    mean, rstd = (torch.empty(t, dtype=acc, device=lepe.device) for _ in range(2))
    w, b = (p.detach().to(acc).contiguous() for p in (nw, nb))
    args = _gate_args(l2, o=o2, lepe=l2, g=g2, w=w, bias=b, a=a.view(t, c), mean=mean, rstd=rstd)
    args.grid = gate_grid(t, c, _sms(lepe.device), backward=False)
    _gate_call("nalasr_gate_fwd", gate_library(lepe.device), args)
    return a, mean, rstd


def cuda_gate_bwd_into(da, o, lepe, g, nw, nb, mean, rstd, dg):
    shape = lepe.shape
    acc = acc_dtype(lepe)
    o2, l2, g2, da2 = _tokens2d(o), _tokens2d(lepe), _tokens2d(g), _tokens2d(da.to(lepe.dtype))
    t, c = l2.shape
    dg2 = dg.view(t, c)  # a slice of the contiguous d(qkvg): token stride 4C
    do = torch.empty(shape, dtype=acc, device=lepe.device)
    dlepe = torch.empty(shape, dtype=lepe.dtype, device=lepe.device)
    w, b = (p.detach().to(acc).contiguous() for p in (nw, nb))
    grid = gate_grid(t, c, _sms(lepe.device), backward=True)
    part = torch.empty(grid, 2, c, dtype=acc, device=lepe.device)
    sums = torch.empty(2, c, dtype=acc, device=lepe.device)
    args = _gate_args(l2, o=o2, lepe=l2, g=g2, w=w, bias=b, da=da2, mean=mean, rstd=rstd, dout=do.view(t, c),
                      dlepe=dlepe.view(t, c), dg=dg2, part=part)
    args.grid = grid
    lib = gate_library(lepe.device)
    _gate_call("nalasr_gate_bwd", lib, args)
    code = lib.nalasr_gate_finish(part.data_ptr(), sums.data_ptr(), grid, 2 * c, int(acc == torch.float64),
                                  cuda_ext.stream_of(part), lepe.device.index or 0)
    if code != 0:
        raise RuntimeError(f"cuda_branch finish: {lib.nalasr_gate_error(code).decode()} (code {code})")
    return do, dlepe, sums


def _cuda_attn_fwd(q, k, v, cos, sin, heads):
    import cuda_attention as ca
    return ca.STAGES.forward(q, k, v, cos, sin, heads)


def _cuda_attn_bwd_into(do, q, k, v, cos, sin, state, mean, heads, dq, dk, dv):
    import cuda_attention as ca
    _, dstate, dmean = ca.nala_query_bwd(do, q, cos, sin, state, mean, heads, dq=dq)
    ca.nala_key_bwd(k, v, cos, sin, dstate, dmean, heads, dk=dk, dv=dv)


def _cuda_dw_fwd(v, w, b):
    import cuda_dwconv
    return cuda_dwconv.dwconv_forward(v, w, b, False)


def _cuda_dw_bwd_into(dy, v, w, out):
    import cuda_dwconv
    return cuda_dwconv.dwconv_backward(dy, v, w, False, out=out, accumulate=True)[1]


CUDA_STAGES = BranchStages(dw_fwd=_cuda_dw_fwd, dw_bwd_into=_cuda_dw_bwd_into, attn_fwd=_cuda_attn_fwd,
                           attn_bwd_into=_cuda_attn_bwd_into, gate_fwd=cuda_gate_fwd, gate_bwd_into=cuda_gate_bwd_into)


# --------------------------------------------------------------------------------- custom ops + autograd

def register_branch_ops(name, stages):
    """nalasr::{name}_fwd / _bwd around branch_forward / branch_backward on `stages` -> the forward op."""
    @torch.library.custom_op(f"nalasr::{name}_fwd", mutates_args=())
    def fwd_op(qkvg: torch.Tensor, lepe_w: torch.Tensor, lepe_b: torch.Tensor, norm_w: torch.Tensor,
               norm_b: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, heads: int) -> tuple[
                   torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return branch_forward(stages, qkvg, lepe_w, lepe_b, norm_w, norm_b, cos, sin, heads)

    @fwd_op.register_fake
    def _(qkvg, lepe_w, lepe_b, norm_w, norm_b, cos, sin, heads):
        b, h, w, c4 = qkvg.shape
        c, acc = c4 // 4, acc_dtype(qkvg)
        d = c // heads
        return (qkvg.new_empty((b, h, w, c)), qkvg.new_empty((b, h, w, c)),
                qkvg.new_empty((b, h * w, c), dtype=acc), qkvg.new_empty((b * heads, 2, d, d), dtype=acc),
                qkvg.new_empty((b * heads, 2, d), dtype=acc), qkvg.new_empty((b * h * w,), dtype=acc),
                qkvg.new_empty((b * h * w,), dtype=acc))

    @torch.library.custom_op(f"nalasr::{name}_bwd", mutates_args=())
    def bwd_op(da: torch.Tensor, qkvg: torch.Tensor, lepe_w: torch.Tensor, norm_w: torch.Tensor,
               norm_b: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, lepe: torch.Tensor, o: torch.Tensor,
               state: torch.Tensor, mean_key: torch.Tensor, mean: torch.Tensor, rstd: torch.Tensor,
               heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return branch_backward(stages, da, qkvg, lepe_w, norm_w, norm_b, cos, sin, lepe, o, state, mean_key,
                               mean, rstd, heads)

    @bwd_op.register_fake
    def _(da, qkvg, lepe_w, norm_w, norm_b, cos, sin, lepe, o, state, mean_key, mean, rstd, heads):
        c, acc = qkvg.shape[-1] // 4, acc_dtype(qkvg)
        return (qkvg.new_empty(qkvg.shape), qkvg.new_empty((lepe_w.shape[-1] ** 2 + 1, c), dtype=acc),
                qkvg.new_empty((2, c), dtype=acc))

    def setup(ctx, inputs, output):
        qkvg, lepe_w, lepe_b, norm_w, norm_b, cos, sin, heads = inputs
        _, lepe, o, state, mean_key, mean, rstd = output
        ctx.save_for_backward(qkvg, lepe_w, norm_w, norm_b, cos, sin, lepe, o, state, mean_key, mean, rstd)
        ctx.heads, ctx.lepe_b_dtype = heads, lepe_b.dtype

    def grad(ctx, da, *_unused):
        qkvg, lepe_w, norm_w, norm_b, cos, sin, lepe, o, state, mean_key, mean, rstd = ctx.saved_tensors
        dqkvg, sums, norm_sums = bwd_op(da, qkvg, lepe_w, norm_w, norm_b, cos, sin, lepe, o, state, mean_key, mean,
                                        rstd, ctx.heads)
        dlw, dlb = dwconv_ref.split_sums(sums, lepe_w, ctx.lepe_b_dtype)
        return dqkvg, dlw, dlb, norm_sums[0].to(norm_w.dtype), norm_sums[1].to(norm_b.dtype), None, None, None

    fwd_op.register_autograd(grad, setup_context=setup)
    return fwd_op


if AVAILABLE:
    _fwd_op = register_branch_ops("cuda_branch", CUDA_STAGES)


def nala_branch(qkvg, attn, cos, sin):
    """a = attn.norm(nala(q, k, v) + attn.lepe(v)) * SiLU(g) for qkvg = attn.qkvg(x) (B, H, W, 4C); the result
    goes to attn.proj. Same value as NalaAttention.forward's "cuda" path before proj."""
    return _fwd_op(qkvg, attn.lepe.weight, attn.lepe.bias, attn.norm.weight, attn.norm.bias, cos, sin,
                   attn.heads)[0]


def self_check(device="cuda"):
    """Small float32 branch forward + backward vs the float64 reference stages on the same inputs -> (ok,
    message); never raises (train.py keeps the inductor gate if it fails; a failed build lands here too)."""
    try:
        if not AVAILABLE:
            return False, "CUDA or torch.library.custom_op not available"
        import attention_math as am
        gen = torch.Generator().manual_seed(0)
        b, h, w, c, heads = 2, 12, 20, 64, 4
        qkvg = torch.randn(b, h, w, 4 * c, generator=gen, dtype=torch.float64)
        params = [torch.randn(c, 1, 5, 5, generator=gen, dtype=torch.float64) * 0.2,
                  torch.randn(c, generator=gen, dtype=torch.float64) * 0.1,
                  1 + 0.2 * torch.randn(c, generator=gen, dtype=torch.float64),
                  0.1 * torch.randn(c, generator=gen, dtype=torch.float64)]
        da = torch.randn(b, h, w, c, generator=gen, dtype=torch.float64)
        results = []
        for dt, dev, stages in ((torch.float64, "cpu", REFERENCE_STAGES), (torch.float32, device, CUDA_STAGES)):
            cos, sin = am.rope_angles(h, w, c // heads, dev, dt)
            x = qkvg.to(dev, dt)
            ps = [p.to(dev, dt) for p in params]
            fw = branch_forward(stages, x, *ps, cos, sin, heads)
            bw = branch_backward(stages, da.to(dev, dt), x, ps[0], ps[2], ps[3], cos, sin, *fw[1:], heads)
            results.append([fw[0]] + list(bw))
        err = max(((a.double().cpu() - r).norm() / r.norm()).item() for a, r in zip(results[1], results[0]))
        return err < 1e-4, f"float32 CUDA branch vs float64 reference stages, max relative error {err:.2e}"
    except Exception as exc:  # noqa: BLE001 -- any failure means: do not use the kernels
        return False, f"{type(exc).__name__}: {str(exc)[:300]}"
