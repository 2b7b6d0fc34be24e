"""Depthwise k x k convolution (k 3, 5 or 7, zero padding, bias, optional + x residual) on token-major
(B, H, W, C) tensors as hand-written CUDA kernels (cuda_dwconv/dwconv_train.cu), forward and backward.
Same op, results and custom-op structure as triton_dwconv.py (spec and formulas: dwconv_ref.py).

Why CUDA through ctypes: the GPU machine's torch (2.x) is not the build machine's (1.13), so nothing is built
against torch's C++ ABI. The .cu has an extern "C" API taking raw pointers, strides and a cudaStream_t;
cuda_ext.py compiles it with nvcc on first use for the running GPU (cache keyed by source + headers + flags +
arch: ~/.cache/nalasr_cuda_ext or $NALASR_CUDA_EXT_CACHE) and loads it with ctypes; this module allocates every
buffer with torch (so the caching allocator and CUDA-graph capture work; the CUDA code allocates nothing).

  forward   a block = TILE_H x TILE_W pixels of one image x (ncg * vec) channels: the halo staged in shared
            memory (cp.async: all of its copies in flight at once), each thread ROWS output pixels x vec
            channels with its k*k weights in registers. Patch and ncg are compile-time (-D flags), ncg the
            most channel groups that fit FWD_MAX_THREADS whatever C.
  backward  (BWD_IMPL "split", the default) dx = the forward kernel's DX instance on dy (taps flipped in
            registers, + dy with the residual, + out with accumulate); dW / db = wgrad_kernel: a block walks
            WG_TILES_PER_BLOCK patches, staging the x halo and the dy patch (double-buffered: the next patch's
            copies are in flight meanwhile), a thread sums x_shifted * dy (and dy) down one patch column;
            then the block reduces its sums in a fixed order into a row of partial sums (blocks, k*k + 1, C),
            and a finish kernel sums the rows in a fixed order. No atomics: deterministic.
            BWD_IMPL "fused" (environment NALASR_DWCONV_BWD=fused, or launch_constants): the previous single
            kernel doing both (bwd_kernel, BWD_* constants), kept for A/B timing.

Inputs: x in bf16 / fp16 / fp32 (float32 math) or fp64 (float64 math), any pixel strides with channel stride 1
(e.g. a channel chunk of a wider tensor; otherwise a contiguous copy). Vector loads of `vec` elements need C,
the pixel strides and the base addresses to be multiples of vec (vec_width picks the widest that fits, down
to scalar loads). Outputs contiguous in x's dtype; weight / bias gradients in the parameters' dtypes.
Entry point: dwconv_cuda(x, weight, bias, residual=False); custom ops nalasr::cuda_dwconv_fwd / _bwd.
"""
import ctypes
import os
import pathlib

import torch

import cuda_ext
import dwconv_ref

SOURCE = pathlib.Path(__file__).resolve().parent / "cuda_dwconv" / "dwconv_train.cu"
AVAILABLE = hasattr(torch.library, "custom_op") and torch.cuda.is_available()
KERNEL_SIZES = (3, 5, 7)

# Launch constants (not autotuned; check_cuda_dwconv.py --sweep times alternatives at the training size).
# Compile-time ones (ROWS, MAX_THREADS, MIN_BLOCKS, VEC, FWD_TILE_H / W) are -D flags: changing them builds
# another library.
# Patch shape: a thread computes ROWS vertically adjacent pixels, so TILE_H % ROWS == 0; TILE_W x TILE_H/ROWS
# pixel groups (32 here) times ncg channel groups <= MAX_THREADS threads a block.
FWD_TILE_H = 8
FWD_TILE_W = 16
FWD_ROWS = 4
FWD_MAX_THREADS = 256
# __launch_bounds__ minimum blocks an SM. The halo copies are in flight while a block waits for them, so
# resident blocks = bytes in flight: 3 caps registers at 80 (bf16 3x3 vec 4: 92 -> 80, 5x5 vec 2: 92 -> 80, no
# spills; 7x7 vec 2 would spill 576 B, hence vec 1 there) -> 3 blocks (24 warps) an SM instead of 2.
FWD_MIN_BLOCKS = 3
# Elements a thread loads per vector, by k: the k*k weights of vec channels are registers.
FWD_VEC = {3: 4, 5: 2, 7: 1}
BWD_TILE_H = 8
BWD_TILE_W = 16
BWD_ROWS = 4
BWD_MAX_THREADS = 256
BWD_MIN_BLOCKS = 1
# backward: weights + (k*k + 1) sums of vec channels in registers (nvcc 13, sm_90, bf16: 3x3 vec 4 158
# registers, 5x5 vec 2 190 -> 1 block of 8 warps an SM; 3x3 vec 2 94 -> 2 blocks). The double-buffered halos
# keep the next patch's copies in flight while a block computes, which 1 block an SM did not do before.
BWD_VEC = {3: 4, 5: 2, 7: 1}
# Patches a backward block walks before it writes its partial-sum row: at B 32 x 64^2 and 8 x 16 patches,
# 64 blocks a channel block, a (64, k*k + 1, C) float32 partial buffer (164 kB at 3x3, C 64). 16 was the best
# of 1-16 on an H100 (session 8 sweep: a block's convs 472 us fwd + bwd against 535 at 4).
BWD_TILES_PER_BLOCK = 16
# "split": dx through the forward kernel + wgrad_kernel; "fused": bwd_kernel (session 10's backward)
BWD_IMPL = os.environ.get("NALASR_DWCONV_BWD", "split")
BWD_IMPLS = ("split", "fused")
# wgrad_kernel: WG_TILE_H x WG_TILE_W patches, one thread a column x vec channels, WG_NCG channel groups (idle
# past C); compile-time. 16 x 16 = 256 threads; bf16 3x3 vec 4 and 5x5 vec 2: 112 registers (nvcc 13, sm_90)
# and 79 / 47 kB of double-buffered smem -> 2 blocks an SM (WG_MIN_BLOCKS).
WG_TILE_H = 8
WG_TILE_W = 16
WG_NCG = 16
WG_MIN_BLOCKS = 2
WG_VEC = {3: 4, 5: 2, 7: 1}
# Patches a wgrad block walks (runtime): at B 32 x 64^2, 1024 patches a channel block -> 256 blocks (~2 an
# SM of an H100, 132 SMs) and a (256, k*k + 1, C) float32 partial buffer (655 kB at 3x3, C 64).
WG_TILES_PER_BLOCK = 4
SMEM_LIMIT = 227 * 1024  # H100 / H200 opt-in maximum a block; above 48 kB the launcher opts in


def launch_constants(cfg):
    """Sets module launch constants for the block; the launchers (and the library choice) read them at each call."""
    return dwconv_ref.module_constants(globals(), cfg)


# ------------------------------------------------------------------------------------------------- build

def compile_defines():
    defines = dict(FWD_TILE_H=FWD_TILE_H, FWD_TILE_W=FWD_TILE_W, FWD_ROWS=FWD_ROWS,
                   FWD_MAX_THREADS=FWD_MAX_THREADS, FWD_MIN_BLOCKS=FWD_MIN_BLOCKS,
                   BWD_ROWS=BWD_ROWS, BWD_MAX_THREADS=BWD_MAX_THREADS, BWD_MIN_BLOCKS=BWD_MIN_BLOCKS,
                   WG_TILE_H=WG_TILE_H, WG_TILE_W=WG_TILE_W, WG_NCG=WG_NCG, WG_MIN_BLOCKS=WG_MIN_BLOCKS)
    for k in KERNEL_SIZES:
        defines[f"FWD_VEC_K{k}"] = FWD_VEC[k]
        defines[f"BWD_VEC_K{k}"] = BWD_VEC[k]
        defines[f"WG_VEC_K{k}"] = WG_VEC[k]
    return defines


class DwArgs(ctypes.Structure):
    """Mirror of NalasrDwArgs in dwconv_train.cu (all fields 8 bytes, no padding)."""
    _fields_ = ([(name, ctypes.c_void_p) for name in ("x", "dy", "w", "bias", "out", "part", "stream")]
                + [(name, ctypes.c_longlong) for name in (
                    "sxb", "sxh", "sxw", "sdb", "sdh", "sdw", "sob", "soh", "sow",
                    "B", "H", "W", "C", "k", "dtype", "vec", "tile_h", "tile_w", "ncg", "tiles_per_block",
                    "residual", "grid_x", "grid_y", "threads", "smem", "device", "accumulate")])


def library(device):
    """The loaded library for this GPU and the current compile-time constants (built on first use)."""
    functions = {name: ([ctypes.POINTER(DwArgs)], ctypes.c_int)
                 for name in ("nalasr_dwconv_fwd", "nalasr_dwconv_dx", "nalasr_dwconv_bwd", "nalasr_dwconv_wgrad")}
    functions["nalasr_dwconv_finish"] = ([ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong, ctypes.c_longlong,
                                          ctypes.c_int, ctypes.c_void_p, ctypes.c_int], ctypes.c_int)
    functions["nalasr_dwconv_error"] = ([ctypes.c_int], ctypes.c_char_p)
    return cuda_ext.load(SOURCE, device, compile_defines(), functions)


def _check_code(lib, code, what):
    if code != 0:
        raise RuntimeError(f"cuda_dwconv {what}: {lib.nalasr_dwconv_error(code).decode()} (code {code})")


# ------------------------------------------------------------------------------------ launch geometry (CPU)

def _pow2_ceil(n):
    return 1 << max(0, n - 1).bit_length()


def _pow2_floor(n):
    return 1 << (max(1, n).bit_length() - 1)


def vec_width(c, esize, cap, strides=(), addresses=()):
    """Widest vector (elements, a power of 2 <= cap and <= 16 bytes) such that C, every pixel stride and every
    base address (bytes) are multiples of it; 1 (scalar loads) at worst."""
    v = _pow2_floor(min(cap, 16 // esize))
    while v > 1 and (c % v or any(s % v for s in strides) or any(a % (v * esize) for a in addresses)):
        v //= 2
    return v


def conv_layout(bsz, h, w, c, k, esize, vec, backward, acc_size=4):
    """-> dict of one kernel launch: tile_h, tile_w, ncg (channel groups of vec), cb (channels a block), threads,
    grid_x, grid_y, smem (bytes), n_tiles, tiles_per_block (backward; grid_x = partial-sum rows)."""
    th, tw, rows, max_threads = ((BWD_TILE_H, BWD_TILE_W, BWD_ROWS, BWD_MAX_THREADS) if backward else
                                 (FWD_TILE_H, FWD_TILE_W, FWD_ROWS, FWD_MAX_THREADS))
    assert th % rows == 0, "TILE_H must be a multiple of ROWS"
    groups = tw * (th // rows)
    assert groups <= max_threads, "more pixel groups than threads a block"
    # forward: the kernel's compile-time FWD_NCG (idle channel groups past C); backward: no more than C needs
    ncg = _pow2_floor(max_threads // groups)
    ncg = ncg if not backward else min(_pow2_ceil(-(-c // vec)), ncg)
    pixel_bytes = (th + k - 1) * (tw + k - 1) * vec * esize  # a halo, per channel group
    while backward and ncg > 1 and 4 * ncg * pixel_bytes > SMEM_LIMIT and (ncg // 2 * groups) % 32 == 0:
        ncg //= 2  # the double-buffered x and dy halos must fit (float64 at 512 threads)
    if backward:  # the reduction's warp shuffles need whole warps
        assert (ncg * groups) % 32 == 0, "backward blocks must be whole warps (TILE_W * TILE_H / ROWS * ncg)"
    cb = ncg * vec
    n_tiles = bsz * -(-h // th) * -(-w // tw)
    halo = ncg * pixel_bytes
    lay = dict(tile_h=th, tile_w=tw, ncg=ncg, cb=cb, threads=ncg * groups, grid_y=-(-c // cb), n_tiles=n_tiles)
    if backward:
        tiles = max(1, min(BWD_TILES_PER_BLOCK, n_tiles))
        slots = lay["threads"] // max(32, ncg)
        lay.update(tiles_per_block=tiles, grid_x=-(-n_tiles // tiles),
                   smem=max(4 * halo, slots * (k * k + 1) * cb * acc_size))  # x + dy halos, double-buffered
    else:
        lay.update(tiles_per_block=1, grid_x=n_tiles, smem=halo)
    assert n_tiles < 2 ** 31, "patch indices are int32 in the kernels"
    assert lay["grid_y"] <= 65535 and lay["smem"] <= SMEM_LIMIT, f"launch out of range: {lay}"
    return lay


def wgrad_layout(bsz, h, w, c, k, esize, vec, acc_size=4):
    """-> dict of one wgrad_kernel launch (conv_layout's keys); grid_x = partial-sum rows."""
    th, tw, ncg = WG_TILE_H, WG_TILE_W, WG_NCG
    assert (tw * ncg) % 32 == 0 and ncg & (ncg - 1) == 0, "wgrad blocks: whole warps, ncg a power of 2"
    cb = ncg * vec
    n_tiles = bsz * -(-h // th) * -(-w // tw)
    tiles = max(1, min(WG_TILES_PER_BLOCK, n_tiles))
    buffer = ((th + k - 1) * (tw + k - 1) + th * tw) * cb * esize  # the x halo and the dy patch
    slots = tw * ncg // max(32, ncg)
    lay = dict(tile_h=th, tile_w=tw, ncg=ncg, cb=cb, threads=tw * ncg, grid_y=-(-c // cb), n_tiles=n_tiles,
               tiles_per_block=tiles, grid_x=-(-n_tiles // tiles),
               smem=max(2 * buffer, slots * (k * k + 1) * cb * acc_size))
    assert n_tiles < 2 ** 31, "patch indices are int32 in the kernels"
    assert lay["grid_y"] <= 65535 and lay["smem"] <= SMEM_LIMIT, f"launch out of range: {lay}"
    return lay


# ---------------------------------------------------------------------------------------------- launchers

def _acc(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _check(x, weight):
    """-> k."""
    c, k = x.shape[-1], weight.shape[-1]
    if x.dtype not in cuda_ext.DTYPES:
        raise ValueError(f"cuda_dwconv: dtype {x.dtype} not supported ({', '.join(map(str, cuda_ext.DTYPES))})")
    if weight.shape != (c, 1, k, k) or k not in KERNEL_SIZES:
        raise ValueError(f"cuda_dwconv: depthwise weight (C, 1, k, k) with k in {KERNEL_SIZES}; "
                         f"got {tuple(weight.shape)}")
    return k


def _params(weight, bias, acc):
    """(C, 1, k, k) weight -> (C, k*k) contiguous in the math dtype (a channels_last parameter is this layout
    already); bias likewise or None."""
    c, kk = weight.shape[0], weight.shape[-1] ** 2
    w2 = weight.detach().reshape(c, kk).to(acc).contiguous()
    return w2, None if bias is None else bias.detach().to(acc).contiguous()


def _base_args(src, out, c, k, vec, lay, residual):
    """out: the kernel's (B, H, W, C) output, or None (wgrad_kernel writes partial sums only)."""
    bsz, h, w, _ = src.shape
    so = (0, 0, 0) if out is None else out.stride()[:3]
    return dict(sob=so[0], soh=so[1], sow=so[2], B=bsz, H=h, W=w, C=c, k=k,
                dtype=cuda_ext.DTYPES[src.dtype], vec=vec, tile_h=lay["tile_h"], tile_w=lay["tile_w"], ncg=lay["ncg"],
                tiles_per_block=lay["tiles_per_block"], residual=int(residual),
                grid_x=lay["grid_x"], grid_y=lay["grid_y"], threads=lay["threads"], smem=lay["smem"],
                device=src.device.index, stream=cuda_ext.stream_of(src),
                out=None if out is None else out.data_ptr())


def _launch_conv(src, weight, bias, out, residual, dx=False, accumulate=False):
    """out = conv(src) with weight (C, 1, k, k) (+ bias) (+ src); dx: src is dy and the taps are flipped (no
    bias), and with accumulate out's contents are added."""
    bsz, h, w, c = src.shape
    k = weight.shape[-1]
    if bsz * h * w == 0 or c == 0:
        return
    src, ss = dwconv_ref.pixels(src)
    w2, b2 = _params(weight, bias, _acc(src.dtype))
    esize = src.element_size()
    vec = vec_width(c, esize, FWD_VEC[k], ss + tuple(out.stride()[:3]), (src.data_ptr(), out.data_ptr()))
    lay = conv_layout(bsz, h, w, c, k, esize, vec, backward=False)
    # the kernel loads weights and bias as vectors of vec: bases aligned to that (a parameter's own storage is)
    w2, b2 = (t if t is None or t.data_ptr() % (vec * t.element_size()) == 0 else t.clone() for t in (w2, b2))
    args = DwArgs(x=src.data_ptr(), w=w2.data_ptr(), bias=None if b2 is None else b2.data_ptr(),
                  sxb=ss[0], sxh=ss[1], sxw=ss[2], accumulate=int(accumulate),
                  **_base_args(src, out, c, k, vec, lay, residual))
    lib = library(src.device)
    launch = lib.nalasr_dwconv_dx if dx else lib.nalasr_dwconv_fwd
    _check_code(lib, launch(ctypes.byref(args)), "dx" if dx else "forward")


def dwconv_forward(x, weight, bias, residual):
    """-> y (B, H, W, C) contiguous, x's dtype."""
    _check(x, weight)
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    _launch_conv(x, weight, bias, y, residual)
    return y


def dwconv_backward(dy, x, weight, residual, out=None, accumulate=False):
    """-> dx (B, H, W, C) contiguous in x's dtype, sums (k*k + 1, C) float32 (float64 for float64 x): rows
    0..k*k-1 = dw[:, tap], row k*k = dbias (dwconv_ref.split_sums makes the parameter gradients).
    out: where dx goes instead (x's shape and dtype, channel stride 1, e.g. the dv slice of d(qkvg)); with
    accumulate, dx is added to what out holds (cuda_branch.py). Returns out as dx then. BWD_IMPL picks the
    kernels (split: dx + wgrad; fused: bwd_kernel)."""
    k = _check(x, weight)
    assert BWD_IMPL in BWD_IMPLS, f"cuda_dwconv.BWD_IMPL {BWD_IMPL!r} not in {BWD_IMPLS}"
    c = x.shape[-1]
    acc = _acc(x.dtype)
    if out is not None:
        assert out.shape == x.shape and out.dtype == x.dtype and out.stride(3) == 1, "out: x's shape, dtype"
    dx = torch.empty(x.shape, dtype=x.dtype, device=x.device) if out is None else out
    if x.numel() == 0:
        return (dx if accumulate else dx.zero_()), torch.zeros(k * k + 1, c, dtype=acc, device=x.device)
    x, sx = dwconv_ref.pixels(x)
    dy, sd = dwconv_ref.pixels(dy.to(x.dtype))
    if BWD_IMPL == "fused":
        return dx, _fused_backward(dy, sd, x, sx, weight, residual, dx, accumulate)
    _launch_conv(dy, weight, None, dx, residual, dx=True, accumulate=accumulate)
    return dx, dwconv_weight_sums(dy, x, k)


def dwconv_weight_sums(dy, x, k):
    """The (k*k + 1, C) sums of dwconv_backward (dw taps, dbias) from wgrad_kernel alone."""
    bsz, h, w, c = x.shape
    acc = _acc(x.dtype)
    x, sx = dwconv_ref.pixels(x)
    dy, sd = dwconv_ref.pixels(dy.to(x.dtype))
    esize = x.element_size()
    vec = vec_width(c, esize, WG_VEC[k], sx + sd, (x.data_ptr(), dy.data_ptr()))
    lay = wgrad_layout(bsz, h, w, c, k, esize, vec, acc_size=8 if acc == torch.float64 else 4)
    part = torch.empty(lay["grid_x"], k * k + 1, c, dtype=acc, device=x.device)
    args = DwArgs(x=x.data_ptr(), dy=dy.data_ptr(), part=part.data_ptr(), sxb=sx[0], sxh=sx[1], sxw=sx[2],
                  sdb=sd[0], sdh=sd[1], sdw=sd[2], **_base_args(x, None, c, k, vec, lay, False))
    lib = library(x.device)
    _check_code(lib, lib.nalasr_dwconv_wgrad(ctypes.byref(args)), "wgrad")
    return _finish_sums(lib, part)


def _fused_backward(dy, sd, x, sx, weight, residual, dx, accumulate):
    """bwd_kernel: dx into dx (added with accumulate) -> the sums."""
    bsz, h, w, c = x.shape
    k = weight.shape[-1]
    acc = _acc(x.dtype)
    w2, _ = _params(weight, None, acc)
    esize = x.element_size()
    vec = vec_width(c, esize, BWD_VEC[k], sx + sd + tuple(dx.stride()[:3]),
                    (x.data_ptr(), dy.data_ptr(), dx.data_ptr()))
    lay = conv_layout(bsz, h, w, c, k, esize, vec, backward=True, acc_size=8 if acc == torch.float64 else 4)
    part = torch.empty(lay["grid_x"], k * k + 1, c, dtype=acc, device=x.device)
    args = DwArgs(x=x.data_ptr(), dy=dy.data_ptr(), w=w2.data_ptr(), part=part.data_ptr(),
                  sxb=sx[0], sxh=sx[1], sxw=sx[2], sdb=sd[0], sdh=sd[1], sdw=sd[2],
                  accumulate=int(accumulate), **_base_args(x, dx, c, k, vec, lay, residual))
    lib = library(x.device)
    _check_code(lib, lib.nalasr_dwconv_bwd(ctypes.byref(args)), "backward")
    return _finish_sums(lib, part)


def _finish_sums(lib, part):
    """(rows, k*k + 1, C) partial sums -> (k*k + 1, C), summed over rows in a fixed order."""
    out = torch.empty(part.shape[1:], dtype=part.dtype, device=part.device)
    code = lib.nalasr_dwconv_finish(part.data_ptr(), out.data_ptr(), part.shape[0], out.numel(),
                                    int(part.dtype == torch.float64),
                                    cuda_ext.stream_of(part), part.device.index)
    _check_code(lib, code, "finish")
    return out


def dwconv_dx(dy, weight, residual):
    """dx alone (the forward kernel's DX instance on dy, + dy): the split backward's first half."""
    _check(dy, weight)
    dx = torch.empty(dy.shape, dtype=dy.dtype, device=dy.device)
    _launch_conv(dy, weight, None, dx, residual, dx=True)
    return dx


# --------------------------------------------------------------------------------- custom ops + autograd

if AVAILABLE:
    _fwd_op = dwconv_ref.register_ops("cuda_dwconv", dwconv_forward, dwconv_backward)


def dwconv_cuda(x, weight, bias, residual=False):
    """Depthwise conv of token-major x (B, H, W, C) with weight (C, 1, k, k) and bias (C), zero padding, same
    size; + x if residual. Same result as triton_dwconv.dwconv_triton."""
    return _fwd_op(x, weight, bias, residual)


def self_check(device="cuda"):
    """Small float32 forward + backward (3x3 with residual, 5x5 without; ragged patches; a channel chunk as
    input) vs F.conv2d in float64 -> (ok, message). Never raises: train.py runs it before switching the
    depthwise convs to these kernels and keeps "shift" if it fails (a failed build lands here too)."""
    return dwconv_ref.guarded_self_check(dwconv_cuda, AVAILABLE, "CUDA or torch.library.custom_op not available",
                                         "float32 CUDA kernels", device)
