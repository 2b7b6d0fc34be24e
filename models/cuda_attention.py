"""NaLa attention core as hand-written CUDA kernels (cuda_attention/nala_attention.cu), forward and backward.

Same op, kernel split, results and saved tensors as triton_attention.py's NaLa (spec: attention_math.nala_plain):
  forward   state  partial sums of rot(phi_k)^T v and phi_k per chunk of CHUNK tokens, summed in a fixed order
                   by a finish kernel -> S, m (already / N)
            out    o = rot(phi_q) S / (phi_q . m + eps), one thread a token
  backward  qbwd   dq; partial sums of rot(phi_q)^T dnum, phi_q dden -> dS, dm (sums, not / N)
            kbwd   dk, dv from dS / N, dm / N, one thread a token
The token sums of state and qbwd run on the tensor cores (3xTF32; float64: FMAs); the per-token products (x S,
S y) of out, qbwd and kbwd are FMA loops, one thread a token (on the tensor cores, four lanes a token, they were
slower on an H100: session 8, 367.6 against 346.3 us a block forward + backward).
Built for the running GPU on first use by cuda_ext (nvcc, cached; ctypes, no torch C++ extension); every buffer
is allocated here with torch, the CUDA code only launches. Inputs q, k, v: (B, N, C) of one dtype, bf16 / fp16 /
fp32 (float32 math) or fp64 (float64 math), any token strides with channel stride 1 (e.g. chunks of the qkvg
output); head width 8 or 16. Output float32 (float64 for float64), gradients in the inputs' dtype.
Entry point: nala_cuda(q, k, v, heads, cos, sin), same arguments as attention_math.nala_fast; custom ops
nalasr::cuda_nala_fwd / _bwd (attention_ops). Pola has no CUDA kernels: the model's "cuda" formulation runs
Pola with the Triton kernels.
"""
import ctypes
import pathlib

import torch

import attention_ops
import cuda_ext
from attention_ops import acc_dtype

SOURCE = pathlib.Path(__file__).resolve().parent / "cuda_attention" / "nala_attention.cu"
AVAILABLE = hasattr(torch.library, "custom_op") and torch.cuda.is_available()
HEAD_DIMS = (8, 16)

# Launch constants (not autotuned). Compile-time ones are -D flags of the .cu: changing them builds another
# library. A reducing block stages up to REDUCE_THREADS tokens a tile in shared memory (fewer for float64).
REDUCE_THREADS = 128
TOKEN_THREADS = 128
REDUCE_MIN_BLOCKS = 1  # __launch_bounds__ minimum blocks an SM (qbwd uses 254 registers; 3 caps it at 168: spills)
TOKEN_MIN_BLOCKS = 1
CHUNK = 256  # tokens a block of the reducing kernels (runtime: partial sums (B*h, ceil(N / CHUNK), 2d*d + 2d))

_FUNCTIONS = ("nalasr_nala_state", "nalasr_nala_out", "nalasr_nala_qbwd", "nalasr_nala_kbwd")
# tensor argument -> prefix of its (image, token) stride fields in NalasrNalaArgs
STRIDE_PREFIX = dict(q="sq", k="sk", v="sv", dout="sdo", out="so", dq="sdq", dk="sdk", dv="sdv")


class NalaArgs(ctypes.Structure):
    """Mirror of NalasrNalaArgs in nala_attention.cu (all fields 8 bytes, no padding)."""
    _fields_ = ([(name, ctypes.c_void_p) for name in (
                    "q", "k", "v", "dout", "cos", "sin", "s_in", "m_in", "out", "dq", "dk", "dv", "part", "s_out",
                    "m_out", "stream")]
                + [(name, ctypes.c_longlong) for name in (
                    "sqb", "sqn", "skb", "skn", "svb", "svn", "sdob", "sdon", "sob", "son", "sdqb", "sdqn",
                    "sdkb", "sdkn", "sdvb", "sdvn", "B", "N", "heads", "d", "dtype", "chunk", "chunks", "device")])


def compile_defines():
    return dict(REDUCE_THREADS=REDUCE_THREADS, TOKEN_THREADS=TOKEN_THREADS, REDUCE_MIN_BLOCKS=REDUCE_MIN_BLOCKS,
                TOKEN_MIN_BLOCKS=TOKEN_MIN_BLOCKS)


def library(device):
    """The loaded library for this GPU and the current compile-time constants (built on first use)."""
    functions = {name: ([ctypes.POINTER(NalaArgs)], ctypes.c_int) for name in _FUNCTIONS}
    functions["nalasr_nala_error"] = ([ctypes.c_int], ctypes.c_char_p)
    return cuda_ext.load(SOURCE, device, compile_defines(), functions)


# ------------------------------------------------------------------------------------ launch geometry (CPU)

def chunks(n):
    return -(-n // CHUNK)


def partial_shape(b, heads, n, d):
    """The reducing kernels' partial sums: a row of sum a^T b (2d x d) and sum c (2d) per (image, head, chunk)."""
    return b * heads, chunks(n), 2 * d * d + 2 * d


def make_args(x, heads, stream, **tensors):
    """NalasrNalaArgs for inputs like x (B, N, C); tensors: {field: tensor} (pointers, and strides where the
    field has them)."""
    b, n, c = x.shape
    args = NalaArgs(B=b, N=n, heads=heads, d=c // heads, dtype=cuda_ext.DTYPES[x.dtype], chunk=CHUNK,
                    chunks=chunks(n), device=x.device.index or 0, stream=stream)
    for name, t in tensors.items():
        setattr(args, name, t.data_ptr())
        if name in STRIDE_PREFIX:
            assert t.dim() == 3 and t.stride(2) == 1, f"{name}: token-major (B, N, C) with channel stride 1"
            setattr(args, STRIDE_PREFIX[name] + "b", t.stride(0))
            setattr(args, STRIDE_PREFIX[name] + "n", t.stride(1))
    return args


# ---------------------------------------------------------------------------------------------- launchers

def _check(x, heads, *others):
    """-> b, n, c, d."""
    b, n, c = x.shape
    d = c // heads
    if d * heads != c or d not in HEAD_DIMS:
        raise ValueError(f"cuda_attention: head width {c}/{heads} not in {HEAD_DIMS}")
    if x.dtype not in cuda_ext.DTYPES or any(t.dtype != x.dtype for t in others):
        raise ValueError(f"cuda_attention: q, k, v of one dtype in {list(cuda_ext.DTYPES)}")
    if b * n == 0:
        raise ValueError("cuda_attention: empty input")
    return b, n, c, d


def _tables(cos, sin, acc):
    return cos.to(acc).contiguous(), sin.to(acc).contiguous()


def _launch(name, x, heads, **tensors):
    lib = library(x.device)
    code = getattr(lib, name)(ctypes.byref(make_args(x, heads, cuda_ext.stream_of(x), **tensors)))
    if code != 0:
        raise RuntimeError(f"cuda_attention {name}: {lib.nalasr_nala_error(code).decode()} (code {code})")


def _reduce_buffers(b, heads, n, d, acc, device):
    """The partial sums and the finished (B*h, 2d, d) matrix and (B*h, 2d) vector."""
    return (torch.empty(partial_shape(b, heads, n, d), dtype=acc, device=device),
            torch.empty(b * heads, 2, d, d, dtype=acc, device=device),
            torch.empty(b * heads, 2, d, dtype=acc, device=device))


# One function per kernel, as triton_attention's launchers; q, k, v: token-major (B, N, C).

def nala_state(k, v, cos, sin, heads):
    """Forward pass 1 -> state (B*h, 2, d, d) = [S+, S-], mean (B*h, 2, d) = [m+, m-] (both already / N)."""
    b, n, _, d = _check(k, heads, v)
    k, v = attention_ops.tokens(k, v)
    acc = acc_dtype(k)
    cos, sin = _tables(cos, sin, acc)
    part, state, mean = _reduce_buffers(b, heads, n, d, acc, k.device)
    _launch("nalasr_nala_state", k, heads, k=k, v=v, cos=cos, sin=sin, part=part, s_out=state, m_out=mean)
    return state, mean


def nala_out(q, state, mean, cos, sin, heads):
    """Forward pass 2 -> o (B, N, C), float32 (float64 for float64 q)."""
    _check(q, heads)
    (q,) = attention_ops.tokens(q)
    acc = acc_dtype(q)
    cos, sin = _tables(cos, sin, acc)
    o = torch.empty(q.shape, dtype=acc, device=q.device)
    _launch("nalasr_nala_out", q, heads, q=q, cos=cos, sin=sin, s_in=state.contiguous(), m_in=mean.contiguous(),
            out=o)
    return o


def _out_view(t, like, name):
    """A given output tensor (e.g. a slice of cuda_branch's d(qkvg)): like's shape and dtype, channel stride 1."""
    assert t.shape == like.shape and t.dtype == like.dtype and t.stride(2) == 1, f"{name}: shape, dtype, strides"
    return t


def nala_query_bwd(do, q, cos, sin, state, mean, heads, dq=None):
    """Backward pass 1 -> dq, dstate, dmean (sums over tokens, not yet / N). dq: where to write it (else new)."""
    b, n, _, d = _check(q, heads)
    acc = acc_dtype(q)
    q, do = attention_ops.tokens(q, do.to(acc))
    cos, sin = _tables(cos, sin, acc)
    dq = torch.empty(q.shape, dtype=q.dtype, device=q.device) if dq is None else _out_view(dq, q, "dq")
    part, dstate, dmean = _reduce_buffers(b, heads, n, d, acc, q.device)
    _launch("nalasr_nala_qbwd", q, heads, q=q, dout=do, cos=cos, sin=sin, s_in=state.contiguous(),
            m_in=mean.contiguous(), dq=dq, part=part, s_out=dstate, m_out=dmean)
    return dq, dstate, dmean


def nala_key_bwd(k, v, cos, sin, dstate, dmean, heads, dk=None, dv=None):
    """Backward pass 2 -> dk, dv (written into dk, dv where given)."""
    _check(k, heads, v)
    k, v = attention_ops.tokens(k, v)
    cos, sin = _tables(cos, sin, acc_dtype(k))
    dk = torch.empty(k.shape, dtype=k.dtype, device=k.device) if dk is None else _out_view(dk, k, "dk")
    dv = torch.empty(v.shape, dtype=v.dtype, device=v.device) if dv is None else _out_view(dv, v, "dv")
    _launch("nalasr_nala_kbwd", k, heads, k=k, v=v, cos=cos, sin=sin, s_in=dstate.contiguous(),
            m_in=dmean.contiguous(), dk=dk, dv=dv)
    return dk, dv


STAGES = attention_ops.NalaStages(nala_state, nala_out, nala_query_bwd, nala_key_bwd)

if AVAILABLE:
    _fwd_op = attention_ops.register_nala_ops("cuda_nala", STAGES)


def nala_cuda(q, k, v, heads, cos, sin):
    """Same arguments and result as attention_math.nala_fast (q, k, v may be bf16: math is float32)."""
    return _fwd_op(q, k, v, cos, sin, heads)[0]


def self_check(device="cuda"):
    """Small float32 forward + backward vs the fast path in float64 -> (ok, message); never raises (train.py
    keeps the fast path if it fails; a failed build lands here too)."""
    if not AVAILABLE:
        return False, "CUDA or torch.library.custom_op not available"
    return attention_ops.self_check(device, "nala", nala_cuda)
