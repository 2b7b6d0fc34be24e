"""Depthwise k x k convolution (k odd, zero padding, bias, optional + x residual) on token-major (B, H, W, C)
tensors as Triton kernels, forward and backward. Spec and formulas: dwconv_ref.py.

Why: the "shift" path (nalasr_model.depthwise_tokens) leaves inductor 1-2 ms per step of select/slice-backward
pointwise kernels per conv site and 768 tiny reductions per step for the weight gradients; cuDNN's NHWC
depthwise kernels were slower still. Here each conv is one kernel forward and three backward (weight sums,
their finish, dx).

  forward   _dwconv_kernel      one program per (patch of TILE_H x TILE_W pixels of one image, block of
                                channels): the k*k taps are masked loads of the shifted patch (the halo comes
                                from L1/L2), accumulated in float32 registers; + bias, + x (residual); one store.
  weight    _dwconv_wgrad_kernel one program per (run of WGRAD_PIXELS pixels in strips along image rows, block
  sums                          of channels): per strip it gathers all k*k shifted x strips at once as a
                                (taps, strip, channels) tensor, multiplies by the strip's dy and adds that to a
                                float32 accumulator of the same shape (dy alone for dbias); the pixels are
                                summed once, at the end, into a (k*k + 1, C) row of partial sums. Then
                                _sum_rows_kernel sums the (programs, k*k + 1, C) partials over programs in a
                                fixed order (deterministic, no atomics). dx = the forward kernel on dy with the
                                taps flipped (FLIP = 1).
  Session 4 (H200, graphed training step) measured the first backward design at 245 us a call vs 47 us for the
  forward: it walked 512-pixel chunks serially in 16- (3x3) or 8-pixel (5x5) tiles with a (16 or 32 taps,
  pixels, 32 channels) register accumulator fed by a 3-D gather and ran dx on those tiny tiles in the same
  kernel. Its successor, a "patches" kernel (a tl.sum over the patch per tap: a cross-warp reduction and barrier
  per tap and patch; fused with dx or not), and the session-4 choices (channel-major weights, torch .sum of the
  partials) were measured slower than the kernels above in session 6 (H100 sweep, docs/training.md) and
  removed in session 7 (history: git log of this file).

Inputs may be bf16/fp16/fp32 (math float32) or float64 (math float64, for the checks); any strides with channel
stride 1 (e.g. a channel chunk of the qkvg output). Outputs are contiguous in x's dtype; weight/bias
gradients come back in the parameters' dtype. Registered as torch.library.custom_ops nalasr::dwconv_fwd /
nalasr::dwconv_bwd with fake implementations and register_autograd, so regional torch.compile sees one opaque
node per conv and the CUDA-graph training step captures the launches (as triton_attention.py).
Entry point: dwconv_triton(x, weight, bias, residual=False).
"""

import torch

import dwconv_ref

try:
    import triton
    import triton.language as tl
    HAVE_TRITON = True
except ImportError:  # CPU machine: the module imports, the kernels are not defined
    triton = tl = None
    HAVE_TRITON = False
AVAILABLE = HAVE_TRITON and hasattr(torch.library, "custom_op")

# Launch constants (not autotuned; check_triton_dwconv.py --sweep times alternatives at the training size).
# The forward kernel works on patches of TILE_H x TILE_W pixels of one image (TILE_W = min(TILE_W_MAX, W rounded up
# to a power of 2), TILE_H = TILE_PIX / TILE_W, both shrunk to the image): a patch re-reads (TILE_H + k - 1) x
# (TILE_W + k - 1) pixels for its k x k taps, 1.4x (3x3) / 1.9x (5x5) the patch at 8 x 16, where the old
# 64-pixel strips of the flattened (b, y, x) grid (one image row at W 64) re-read 3x / 5x of it through L2.
FWD_TILE_PIX = 64  # forward / dx: patch pixels x FWD_BLOCK_C_MAX channels / threads = 32 float32 values a thread
# (64 px / 4 warps: the session-6 sweep's best, 737 vs 767 us a block at 128 px / 8 warps, H100)
# 64 channels: one 128-byte line per bf16 pixel, so a warp's load of a tap touches 4 whole lines instead of
# 8 half lines (half the L1 wavefronts a tap; the forward's time grows with the taps: 3x3 29 us, 5x5 65 us)
FWD_BLOCK_C_MAX = 64
FWD_NUM_WARPS = 4
TILE_W_MAX = 16
# Weight/bias sums (_dwconv_wgrad_kernel, "strips"): pixels a program covers (256: 4 rows of a 64-wide image;
# 512 programs a channel block at B 32 x 64^2, partials 1.3 MB at 3x3 C 64, 3.4 MB at 5x5), accumulator elements
# (taps rounded up to a power of 2 x strip x channels: 16 x 8 x 64 at 3x3, 32 x 4 x 64 at 5x5; 64 float32 values
# a thread at 4 warps)
WGRAD_PIXELS = 256
WGRAD_ACC_ELEMS = 8192
WGRAD_BLOCK_C_MAX = 64
WGRAD_NUM_WARPS = 4
# The (programs, k*k + 1, C) partials are summed by _sum_rows_kernel, BLOCK_R rows x BLOCK_N columns a step,
# in a fixed order: deterministic (torch's .sum(0) measured 787 vs 767 us a block, session 6).
SUM_BLOCK_R = 64
SUM_BLOCK_N = 64


def launch_constants(cfg):
    """Sets module launch constants (e.g. the check scripts' small patches, a --sweep entry) for the block; the
    launchers read them at each call."""
    return dwconv_ref.module_constants(globals(), cfg)

if HAVE_TRITON:
    @triton.jit
    def _tile_pixels(tile, B, H, W, TILE_H: tl.constexpr, TILE_W: tl.constexpr):
        """Patch `tile` of the (b, patch column, patch row) grid, patch rows fastest -> b (scalar), y, x,
        in-range mask (each (TILE_H * TILE_W,)); tiles past the last image are all masked out."""
        n_ty = (H + TILE_H - 1) // TILE_H
        per_image = n_ty * ((W + TILE_W - 1) // TILE_W)
        b = tile // per_image
        r = tile % per_image
        p = tl.arange(0, TILE_H * TILE_W)
        y = (r % n_ty) * TILE_H + p // TILE_W
        x = (r // n_ty) * TILE_W + p % TILE_W
        return b, y, x, (y < H) & (x < W) & (b < B)

    @triton.jit
    def _offsets(b, yy, xx, sb, sh, sw):
        """Element offsets of pixels (b, yy, xx) in int64 (a 4K image x 256 channels passes 2^31)."""
        return b.to(tl.int64) * sb + yy.to(tl.int64) * sh + xx.to(tl.int64) * sw

    @triton.jit
    def _conv_tile(src, w_ptr, swc, swt, b, y, x, inb, cols, cmask, H, W, sb, sh, sw,
                   K: tl.constexpr, FLIP: tl.constexpr, ACC: tl.constexpr,
                   BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
        """(BLOCK_P, BLOCK_C): sum over taps t of w[c, t'] * src[b, y + t//K - K//2, x + t%K - K//2, c], zero
        outside the image; t' = t, or K*K-1-t with FLIP = 1 (dx of a conv = conv of dy with flipped taps).
        w[c, t] is at w_ptr + c * swc + t * swt."""
        acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=ACC)
        for t in tl.static_range(K * K):
            yy = y + (t // K - K // 2)
            xx = x + (t % K - K // 2)
            ok = inb & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            val = tl.load(src + _offsets(b, yy, xx, sb, sh, sw)[:, None] + cols[None, :],
                          mask=ok[:, None] & cmask[None, :], other=0.0).to(ACC)
            wt = t + FLIP * (K * K - 1 - 2 * t)
            wv = tl.load(w_ptr + cols * swc + wt * swt, mask=cmask, other=0.0).to(ACC)
            acc += val * wv[None, :]
        return acc

    @triton.jit
    def _dwconv_kernel(x_ptr, w_ptr, bias_ptr, y_ptr, B, H, W, C, swc, swt, sxb, sxh, sxw, syb, syh, syw,
                       K: tl.constexpr, FLIP: tl.constexpr, RESIDUAL: tl.constexpr, HAS_BIAS: tl.constexpr,
                       ACC: tl.constexpr, TILE_H: tl.constexpr, TILE_W: tl.constexpr, BLOCK_C: tl.constexpr):
        """y = conv(x) (+ bias) (+ x) for one patch x channel block: the forward pass, and dx (FLIP = 1, no
        bias, + dy with RESIDUAL)."""
        b, y, x, inb = _tile_pixels(tl.program_id(0), B, H, W, TILE_H, TILE_W)
        cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
        cmask = cols < C
        mask = inb[:, None] & cmask[None, :]
        acc = _conv_tile(x_ptr, w_ptr, swc, swt, b, y, x, inb, cols, cmask, H, W, sxb, sxh, sxw, K, FLIP, ACC,
                         TILE_H * TILE_W, BLOCK_C)
        if RESIDUAL:  # the centre tap's pixels again (an L1 hit), rather than w + 1 (which would round w)
            acc += tl.load(x_ptr + _offsets(b, y, x, sxb, sxh, sxw)[:, None] + cols[None, :], mask=mask,
                           other=0.0).to(ACC)
        if HAS_BIAS:
            acc += tl.load(bias_ptr + cols, mask=cmask, other=0.0).to(ACC)[None, :]
        tl.store(y_ptr + _offsets(b, y, x, syb, syh, syw)[:, None] + cols[None, :],
                 acc.to(y_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _dwconv_wgrad_kernel(x_ptr, dy_ptr, part_ptr, B, H, W, C, STEPS, sxb, sxh, sxw, sdb, sdh, sdw,
                             K: tl.constexpr, ACC: tl.constexpr, KK_PAD: tl.constexpr, STRIP: tl.constexpr,
                             BLOCK_C: tl.constexpr):
        """Weight/bias sums of STEPS consecutive strips of STRIP pixels along image rows (strips numbered over
        (b, y, strip of the row), row-major) for one channel block: part[pid, t, c] = sum over its pixels of
        x(shifted by tap t) * dy for t < K*K and of dy for t = K*K. Each step gathers all taps at once as a
        (KK_PAD taps, STRIP, BLOCK_C) tensor and adds x_shifted * dy elementwise to a float32 accumulator of
        that shape; the pixels are summed once, at the end. Nothing is reduced inside the loop (a per-tap
        tl.sum would cost a cross-warp reduction and barrier per tap and patch), and consecutive strips walk
        whole rows, so the halo rows are L1 hits of the previous row."""
        pid = tl.program_id(0)
        cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
        cols3 = cols[None, None, :]
        cmask3 = cols3 < C
        tap = tl.arange(0, KK_PAD)[:, None, None]
        du = tap // K - K // 2
        dv = tap % K - K // 2
        pix = tl.arange(0, STRIP)[None, :, None]
        strips_per_row = (W + STRIP - 1) // STRIP
        acc = tl.zeros((KK_PAD, STRIP, BLOCK_C), dtype=ACC)
        acc_bias = tl.zeros((1, STRIP, BLOCK_C), dtype=ACC)
        for i in range(0, STEPS):
            strip = pid * STEPS + i
            row = strip // strips_per_row  # over (b, y); past the last image when b >= B (all masked)
            b = row // H
            y = row % H
            x = (strip % strips_per_row) * STRIP + pix
            inb = (x < W) & (b < B)
            g = tl.load(dy_ptr + _offsets(b, y, x, sdb, sdh, sdw) + cols3, mask=inb & cmask3,
                        other=0.0).to(ACC)
            acc_bias += g
            yy = y + du
            xx = x + dv
            ok = inb & (tap < K * K) & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            xs = tl.load(x_ptr + _offsets(b, yy, xx, sxb, sxh, sxw) + cols3, mask=ok & cmask3,
                         other=0.0).to(ACC)
            acc += xs * g
        taps = tl.arange(0, KK_PAD)[:, None]
        row0 = pid.to(tl.int64) * (K * K + 1)
        tl.store(part_ptr + (row0 + taps) * C + cols[None, :], tl.sum(acc, axis=1),
                 mask=(taps < K * K) & (cols < C)[None, :])
        tl.store(part_ptr + (row0 + K * K) * C + cols[None, :], tl.sum(acc_bias, axis=1),
                 mask=(cols < C)[None, :])

    @triton.jit
    def _sum_rows_kernel(part_ptr, out_ptr, ROWS, N, ACC: tl.constexpr, BLOCK_R: tl.constexpr,
                         BLOCK_N: tl.constexpr):
        """out[n] = sum over r of part[r, n], part (ROWS, N) contiguous, for one block of columns: the
        backward's partial sums finished in a fixed order (deterministic, no atomics), one launch a conv."""
        cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
        rows = tl.arange(0, BLOCK_R)
        acc = tl.zeros((BLOCK_R, BLOCK_N), dtype=ACC)
        for r0 in range(0, ROWS, BLOCK_R):
            r = r0 + rows
            acc += tl.load(part_ptr + r.to(tl.int64)[:, None] * N + cols[None, :],
                           mask=(r < ROWS)[:, None] & (cols < N)[None, :], other=0.0)
        tl.store(out_ptr + cols, tl.sum(acc, axis=0), mask=cols < N)


# ----------------------------------------------------------------------------------------- launchers

def _pow2(n):
    return 1 << max(0, n - 1).bit_length()


def _acc(t):
    return tl.float64 if t.dtype == torch.float64 else tl.float32


def _check(x, weight):
    """-> k."""
    c, k = x.shape[-1], weight.shape[-1]
    # pixel and patch indices are int32 in the kernels (addresses are int64)
    assert x.shape[0] * x.shape[1] * x.shape[2] < 2 ** 31 - 4096, "more than 2^31 pixels"
    assert weight.shape == (c, 1, k, k) and k % 2 == 1, f"depthwise weight (C, 1, k, k), k odd; got {weight.shape}"
    return k


def _conv_weights(weight):
    """(C, 1, k, k) -> the weight as the conv kernels read it, a tap-major (k*k, C) copy made per call, and its
    (channel, tap) element strides. Tap-major, a thread's 8 channels of a tap are 2 vector loads, where the
    parameter's (C, k*k) layout costs 8 scalar loads from lines k*k*4 bytes apart (session 6 sweep: 767 vs
    802 us a block with the parameter as it is)."""
    c, kk = weight.shape[0], weight.shape[-1] ** 2
    return weight.reshape(c, kk).t().contiguous(), 1, c


def tile_shape(h, w, pix):
    """(TILE_H, TILE_W) powers of 2 with TILE_H * TILE_W <= pix: TILE_W = min(TILE_W_MAX, W rounded up),
    TILE_H fills the rest up to the image height, and a short image (few rows) widens the patch again."""
    tw = min(TILE_W_MAX, _pow2(w), pix)
    th = min(_pow2(h), max(1, pix // tw))
    tw = min(_pow2(w), max(tw, pix // th))
    return th, tw


def _n_tiles(bsz, h, w, th, tw):
    return bsz * -(-h // th) * -(-w // tw)


def _block_c(c, cap):
    return min(cap, max(16, _pow2(c)))


def _launch_conv(src, weight, bias, out, residual, flip):
    """out = conv(src) with weight (C, 1, k, k) [flipped] (+ bias) (+ src)."""
    bsz, h, w, c = src.shape
    if bsz * h * w == 0 or c == 0:
        return
    src, ss = dwconv_ref.pixels(src)
    _, so = dwconv_ref.pixels(out)
    th, tw = tile_shape(h, w, FWD_TILE_PIX)
    block_c = _block_c(c, FWD_BLOCK_C_MAX)
    grid = (_n_tiles(bsz, h, w, th, tw), triton.cdiv(c, block_c))
    w_taps, swc, swt = _conv_weights(weight)
    _dwconv_kernel[grid](src, w_taps, w_taps if bias is None else bias, out, bsz, h, w, c, swc, swt, *ss, *so,
                         K=weight.shape[-1], FLIP=int(flip), RESIDUAL=int(residual), HAS_BIAS=int(bias is not None),
                         ACC=_acc(src), TILE_H=th, TILE_W=tw, BLOCK_C=block_c, num_warps=FWD_NUM_WARPS)


def dwconv_forward(x, weight, bias, residual):
    """-> y (B, H, W, C) contiguous, x's dtype."""
    _check(x, weight)
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    _launch_conv(x, weight, bias, y, residual, flip=False)
    return y


def wgrad_layout(bsz, h, w, c, k):
    """-> dict of the strips weight-gradient kernel's launch: block_c, kk_pad, strip (pixels a step), steps
    (strips a program), programs (partial-sum rows), channel_blocks."""
    block_c = _block_c(c, WGRAD_BLOCK_C_MAX)
    kk_pad = _pow2(k * k)
    strip = max(1, min(_pow2(w), WGRAD_ACC_ELEMS // (kk_pad * block_c)))
    n_strips = max(1, bsz * h * -(-w // strip))
    steps = max(1, min(n_strips, -(-WGRAD_PIXELS // strip)))
    return dict(block_c=block_c, kk_pad=kk_pad, strip=strip, steps=steps, programs=-(-n_strips // steps),
                channel_blocks=-(-c // block_c))


def _finish_sums(part):
    """(programs, k*k + 1, C) partial sums -> (k*k + 1, C), summed over programs by _sum_rows_kernel."""
    out = torch.empty(part.shape[1:], dtype=part.dtype, device=part.device)
    n = out.numel()
    _sum_rows_kernel[(triton.cdiv(n, SUM_BLOCK_N),)](part, out, part.shape[0], n, ACC=_acc(part),
                                                     BLOCK_R=SUM_BLOCK_R, BLOCK_N=SUM_BLOCK_N, num_warps=4)
    return out


def _launch_sums(x, dy, weight):
    """The weight/bias sums -> (k*k + 1, C): the strips kernel, then the finishing kernel."""
    bsz, h, w, c = x.shape
    k = weight.shape[-1]
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    x, sx = dwconv_ref.pixels(x)
    dy, sd = dwconv_ref.pixels(dy)
    lay = wgrad_layout(bsz, h, w, c, k)
    part = torch.empty(lay["programs"], k * k + 1, c, dtype=acc, device=x.device)
    _dwconv_wgrad_kernel[(lay["programs"], lay["channel_blocks"])](
        x, dy, part, bsz, h, w, c, lay["steps"], *sx, *sd, K=k, ACC=_acc(x), KK_PAD=lay["kk_pad"],
        STRIP=lay["strip"], BLOCK_C=lay["block_c"], num_warps=WGRAD_NUM_WARPS)
    return _finish_sums(part)


def dwconv_backward(dy, x, weight, residual):
    """-> dx (B, H, W, C) contiguous in x's dtype, sums (k*k + 1, C) float32 (float64 for float64 x):
    rows 0..k*k-1 = dw[:, tap], row k*k = dbias (dwconv_ref.split_sums turns them into parameter gradients).
    The weight-sum kernel and its finish, then dx by the forward kernel on dy with flipped taps."""
    k = _check(x, weight)
    bsz, h, w, c = x.shape
    dx = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    if bsz * h * w == 0 or c == 0:
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        return dx.zero_(), torch.zeros(k * k + 1, c, dtype=acc, device=x.device)
    sums = _launch_sums(x, dy, weight)
    _launch_conv(dy, weight, None, dx, residual, flip=True)
    return dx, sums


def dwconv_dx(dy, weight, residual):
    """dx alone (the forward kernel on dy with flipped taps, + dy): for timing the pieces."""
    _check(dy, weight)
    dx = torch.empty(dy.shape, dtype=dy.dtype, device=dy.device)
    _launch_conv(dy, weight, None, dx, residual, flip=True)
    return dx


def dwconv_weight_sums(dy, x, weight, residual):
    """The (k*k + 1, C) weight/bias sums alone (strips kernel + finish): for timing the pieces. residual does
    not change them (the + x term has no weight); kept so the timed pieces share one signature."""
    _check(x, weight)
    return _launch_sums(x, dy, weight)


# --------------------------------------------------------------------------------- custom ops + autograd

if AVAILABLE:
    _dwconv_fwd_op = dwconv_ref.register_ops("dwconv", dwconv_forward, dwconv_backward)


def dwconv_triton(x, weight, bias, residual=False):
    """Depthwise conv of token-major x (B, H, W, C) with weight (C, 1, k, k) and bias (C), zero padding, same
    size; + x if residual. Same result as nalasr_model.depthwise_tokens(x, weight, bias, "shift") (+ x)."""
    return _dwconv_fwd_op(x, weight, bias, residual)


def self_check(device="cuda"):
    """Small float32 forward + backward of the kernels (3x3 with residual, 5x5 without; ragged tiles; a channel
    chunk as input) vs F.conv2d in float64 -> (ok, message). Never raises: train.py calls it before switching
    the depthwise convs to the kernels and keeps "shift" if it fails."""
    return dwconv_ref.guarded_self_check(dwconv_triton, AVAILABLE, "triton or torch.library.custom_op not available",
                                         "float32 kernels", device)
