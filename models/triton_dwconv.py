"""Depthwise k x k convolution (k odd, zero padding, bias, optional + x residual) on token-major (B, H, W, C)
tensors as Triton kernels, forward and backward. Spec and formulas: dwconv_ref.py.

Why: the "shift" path (nalasr_model.depthwise_tokens) leaves inductor 1-2 ms per step of select/slice-backward
pointwise kernels per conv site and 768 tiny reductions per step for the weight gradients; cuDNN's NHWC
depthwise kernels were slower still. Here each conv is one kernel forward and one kernel backward.

  forward   _dwconv_kernel      one program per (tile of BLOCK_P pixels, block of channels): the k*k taps are
                                masked loads of the shifted tile (neighbouring tiles' pixels come from L1/L2),
                                accumulated in float32 registers; + bias, + x (residual); one store.
  backward  _dwconv_bwd_kernel  one program per (chunk of TILES tiles, block of channels), walking its chunk:
                                dx = the same convolution of dy with the flipped taps (+ dy if residual), and
                                the weight/bias gradient partial sums of all k*k taps at once: a
                                (KK_PAD, BLOCK_P, BLOCK_C) register accumulator of x_shifted * dy, reduced over
                                pixels once at the end of the chunk; row k*k accumulates dy alone (dbias).
                                Partials go to a (programs, k*k+1, C) buffer and one torch .sum finishes them:
                                deterministic, no atomics, one launch for every tap.

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

# Launch constants (not autotuned; first guesses for an H100 at B 32, 64x64, C 64/128 -- see the timing of
# check_triton_dwconv.py). Forward / dx: BLOCK_P pixels x up to 64 channels (128 B of bf16 per pixel row).
FWD_BLOCK_P = 64
FWD_BLOCK_C_MAX = 64
# Backward: the weight-gradient accumulator holds KK_PAD x BLOCK_P x BLOCK_C values (KK_PAD = 16 for 3x3,
# 32 for 5x5, one row more than k*k for dbias); BWD_TILE_ELEMS caps it at 64 float32 registers a thread with
# 4 warps, so BLOCK_P = 16 (3x3) / 8 (5x5) pixels at 32 channels.
BWD_TILE_ELEMS = 8192
BWD_BLOCK_C_MAX = 32
# Pixels one backward program walks: fewer, longer programs mean a smaller partial-sum buffer
# (programs x (k*k+1) x C float32: 0.7 MB for 3x3 / 1.7 MB for 5x5 at B 32, 64x64, C 64).
BWD_PIXELS_PER_PROGRAM = 512
NUM_WARPS = 4
# True: dx inside the weight-gradient kernel (reads x and dy once, writes dx: one launch). False: dx by the
# forward kernel on dy with flipped taps (two launches, dy read twice): the fallback if the fused one spills.
FUSED_BWD = True

if HAVE_TRITON:
    @triton.jit
    def _pixel_coords(tile, NPIX, H, W, BLOCK_P: tl.constexpr):
        """Pixels tile*BLOCK_P ... of the flattened (b, y, x) grid -> b, y, x, in-range mask (each (BLOCK_P,))."""
        p = tile * BLOCK_P + tl.arange(0, BLOCK_P)
        row = p // W
        return row // H, row % H, p % W, p < NPIX

    @triton.jit
    def _offsets(b, yy, xx, sb, sh, sw):
        """Element offsets of pixels (b, yy, xx) in int64 (a 4K image x 256 channels passes 2^31)."""
        return b.to(tl.int64) * sb + yy.to(tl.int64) * sh + xx.to(tl.int64) * sw

    @triton.jit
    def _conv_tile(src, w_ptr, b, y, x, inb, cols, cmask, H, W, sb, sh, sw,
                   K: tl.constexpr, FLIP: tl.constexpr, ACC: tl.constexpr,
                   BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
        """(BLOCK_P, BLOCK_C): sum over taps t of w[c, t'] * src[b, y + t//K - K//2, x + t%K - K//2, c], zero
        outside the image; t' = t, or K*K-1-t with FLIP = 1 (dx of a conv = conv of dy with flipped taps).
        w is (C, K*K) contiguous."""
        acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=ACC)
        for t in tl.static_range(K * K):
            yy = y + (t // K - K // 2)
            xx = x + (t % K - K // 2)
            ok = inb & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            val = tl.load(src + _offsets(b, yy, xx, sb, sh, sw)[:, None] + cols[None, :],
                          mask=ok[:, None] & cmask[None, :], other=0.0).to(ACC)
            wt = t + FLIP * (K * K - 1 - 2 * t)
            wv = tl.load(w_ptr + cols * (K * K) + wt, mask=cmask, other=0.0).to(ACC)
            acc += val * wv[None, :]
        return acc

    @triton.jit
    def _dwconv_kernel(x_ptr, w_ptr, bias_ptr, y_ptr, NPIX, H, W, C, sxb, sxh, sxw, syb, syh, syw,
                       K: tl.constexpr, FLIP: tl.constexpr, RESIDUAL: tl.constexpr, HAS_BIAS: tl.constexpr,
                       ACC: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
        """y = conv(x) (+ bias) (+ x): the forward pass, and dx (FLIP = 1, no bias) when FUSED_BWD is off."""
        b, y, x, inb = _pixel_coords(tl.program_id(0), NPIX, H, W, BLOCK_P)
        cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
        cmask = cols < C
        mask = inb[:, None] & cmask[None, :]
        acc = _conv_tile(x_ptr, w_ptr, b, y, x, inb, cols, cmask, H, W, sxb, sxh, sxw, K, FLIP, ACC, BLOCK_P, BLOCK_C)
        if RESIDUAL:  # the centre tap's pixels again (an L1 hit), rather than w + 1 (which would round w)
            acc += tl.load(x_ptr + _offsets(b, y, x, sxb, sxh, sxw)[:, None] + cols[None, :], mask=mask,
                           other=0.0).to(ACC)
        if HAS_BIAS:
            acc += tl.load(bias_ptr + cols, mask=cmask, other=0.0).to(ACC)[None, :]
        tl.store(y_ptr + _offsets(b, y, x, syb, syh, syw)[:, None] + cols[None, :],
                 acc.to(y_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _dwconv_bwd_kernel(x_ptr, dy_ptr, w_ptr, dx_ptr, part_ptr, NPIX, H, W, C, TILES,
                           sxb, sxh, sxw, sdb, sdh, sdw, sgb, sgh, sgw,
                           K: tl.constexpr, RESIDUAL: tl.constexpr, WITH_DX: tl.constexpr, ACC: tl.constexpr,
                           KK_PAD: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
        """Partial sums part[pid, t, c] = sum over this program's pixels of x(shifted by tap t) * dy for t < K*K,
        and of dy for t = K*K; with WITH_DX also dx for its pixels."""
        pid = tl.program_id(0)
        cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
        cmask = cols < C
        taps = tl.arange(0, KK_PAD)  # rows: K*K taps, then the bias row, then padding (masked)
        ty = taps // K - K // 2
        tx = taps % K - K // 2
        tap_ok = taps < K * K
        bias_row = taps == K * K
        acc = tl.zeros((KK_PAD, BLOCK_P, BLOCK_C), dtype=ACC)
        for i in range(0, TILES):
            b, y, x, inb = _pixel_coords(pid * TILES + i, NPIX, H, W, BLOCK_P)
            mask = inb[:, None] & cmask[None, :]
            g = tl.load(dy_ptr + _offsets(b, y, x, sdb, sdh, sdw)[:, None] + cols[None, :], mask=mask,
                        other=0.0).to(ACC)
            yy = y[None, :] + ty[:, None]  # (KK_PAD, BLOCK_P)
            xx = x[None, :] + tx[:, None]
            ok = tap_ok[:, None] & inb[None, :] & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            offs = b.to(tl.int64)[None, :] * sxb + yy.to(tl.int64) * sxh + xx.to(tl.int64) * sxw
            xs = tl.load(x_ptr + offs[:, :, None] + cols[None, None, :],
                         mask=ok[:, :, None] & cmask[None, None, :], other=0.0).to(ACC)
            xs = tl.where(bias_row[:, None, None], 1.0, xs)  # g is 0 outside the image: no mask needed
            acc += xs * g[None, :, :]
            if WITH_DX:
                dx = _conv_tile(dy_ptr, w_ptr, b, y, x, inb, cols, cmask, H, W, sdb, sdh, sdw, K, 1, ACC,
                                BLOCK_P, BLOCK_C)
                if RESIDUAL:
                    dx += g
                tl.store(dx_ptr + _offsets(b, y, x, sgb, sgh, sgw)[:, None] + cols[None, :],
                         dx.to(dx_ptr.dtype.element_ty), mask=mask)
        part = tl.sum(acc, axis=1)  # (KK_PAD, BLOCK_C): one reduction over pixels per program
        rows_ok = taps <= K * K
        tl.store(part_ptr + (pid.to(tl.int64) * (K * K + 1) + taps[:, None]) * C + cols[None, :], part,
                 mask=rows_ok[:, None] & cmask[None, :])


# ----------------------------------------------------------------------------------------- launchers

def _pow2(n):
    return 1 << max(0, n - 1).bit_length()


def _acc(t):
    return tl.float64 if t.dtype == torch.float64 else tl.float32


def _pixels(t):
    """A (B, H, W, C) tensor as the kernels read it (channel stride 1; else a contiguous copy), its strides."""
    assert t.dim() == 4, "token-major (B, H, W, C)"
    if t.stride(3) != 1 and t.shape[3] > 1:
        t = t.contiguous()
    return t, (t.stride(0), t.stride(1), t.stride(2))


def _check(x, weight):
    c, k = x.shape[-1], weight.shape[-1]
    # pixel indices are int32 in the kernels (addresses are int64)
    assert x.shape[0] * x.shape[1] * x.shape[2] < 2 ** 31 - 4096, "more than 2^31 pixels"
    assert weight.shape == (c, 1, k, k) and k % 2 == 1, f"depthwise weight (C, 1, k, k), k odd; got {weight.shape}"
    return weight.reshape(c, k * k).contiguous(), k


def _launch_conv(src, w2, k, bias, out, residual, flip):
    """out = conv(src) with w2 (C, k*k) [flipped] (+ bias) (+ src)."""
    bsz, h, w, c = src.shape
    npix = bsz * h * w
    if npix == 0 or c == 0:
        return
    src, ss = _pixels(src)
    _, so = _pixels(out)
    block_c = min(FWD_BLOCK_C_MAX, max(16, _pow2(c)))
    grid = (triton.cdiv(npix, FWD_BLOCK_P), triton.cdiv(c, block_c))
    _dwconv_kernel[grid](src, w2, w2 if bias is None else bias, out, npix, h, w, c, *ss, *so,
                         K=k, FLIP=int(flip), RESIDUAL=int(residual), HAS_BIAS=int(bias is not None),
                         ACC=_acc(src), BLOCK_P=FWD_BLOCK_P, BLOCK_C=block_c, num_warps=NUM_WARPS)


def dwconv_forward(x, weight, bias, residual):
    """-> y (B, H, W, C) contiguous, x's dtype."""
    w2, k = _check(x, weight)
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    _launch_conv(x, w2, k, bias, y, residual, flip=False)
    return y


def bwd_layout(npix, c, k):
    """-> (block_p, block_c, kk_pad, tiles per program, programs) of the backward kernel."""
    kk_pad = _pow2(k * k + 1)
    block_c = min(BWD_BLOCK_C_MAX, max(16, _pow2(c)))
    block_p = max(4, BWD_TILE_ELEMS // (kk_pad * block_c))
    n_tiles = max(1, -(-npix // block_p))
    tiles = max(1, min(n_tiles, BWD_PIXELS_PER_PROGRAM // block_p))
    return block_p, block_c, kk_pad, tiles, -(-n_tiles // tiles)


def dwconv_backward(dy, x, weight, residual):
    """-> dx (B, H, W, C) contiguous in x's dtype, sums (k*k + 1, C) float32 (float64 for float64 x):
    rows 0..k*k-1 = dw[:, tap], row k*k = dbias (dwconv_ref.split_sums turns them into parameter gradients)."""
    w2, k = _check(x, weight)
    bsz, h, w, c = x.shape
    npix = bsz * h * w
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    dx = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    if npix == 0 or c == 0:
        return dx.zero_(), torch.zeros(k * k + 1, c, dtype=acc, device=x.device)
    x, sx = _pixels(x)
    dy, sd = _pixels(dy)
    _, sg = _pixels(dx)
    block_p, block_c, kk_pad, tiles, programs = bwd_layout(npix, c, k)
    part = torch.empty(programs, k * k + 1, c, dtype=acc, device=x.device)
    _dwconv_bwd_kernel[(programs, triton.cdiv(c, block_c))](
        x, dy, w2, dx, part, npix, h, w, c, tiles, *sx, *sd, *sg,
        K=k, RESIDUAL=int(residual), WITH_DX=int(FUSED_BWD), ACC=_acc(x), KK_PAD=kk_pad,
        BLOCK_P=block_p, BLOCK_C=block_c, num_warps=NUM_WARPS)
    if not FUSED_BWD:
        _launch_conv(dy, w2, k, None, dx, residual, flip=True)
    return dx, part.sum(0)


# --------------------------------------------------------------------------------- custom ops + autograd

if AVAILABLE:
    @torch.library.custom_op("nalasr::dwconv_fwd", mutates_args=())
    def _dwconv_fwd_op(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, residual: bool) -> torch.Tensor:
        return dwconv_forward(x, weight, bias, residual)

    @_dwconv_fwd_op.register_fake
    def _(x, weight, bias, residual):
        return x.new_empty(x.shape)

    @torch.library.custom_op("nalasr::dwconv_bwd", mutates_args=())
    def _dwconv_bwd_op(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                       residual: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return dwconv_backward(dy, x, weight, residual)

    @_dwconv_bwd_op.register_fake
    def _(dy, x, weight, residual):
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        return x.new_empty(x.shape), x.new_empty((weight.shape[-1] ** 2 + 1, x.shape[-1]), dtype=acc)

    def _setup(ctx, inputs, output):
        x, weight, bias, residual = inputs
        ctx.save_for_backward(x, weight)
        ctx.residual, ctx.bias_dtype = residual, bias.dtype

    def _grad(ctx, dy):
        x, weight = ctx.saved_tensors
        dx, sums = _dwconv_bwd_op(dy, x, weight, ctx.residual)
        dw, db = dwconv_ref.split_sums(sums, weight, ctx.bias_dtype)  # views + a copy: fused by inductor
        return dx, dw, db, None

    _dwconv_fwd_op.register_autograd(_grad, setup_context=_setup)


def dwconv_triton(x, weight, bias, residual=False):
    """Depthwise conv of token-major x (B, H, W, C) with weight (C, 1, k, k) and bias (C), zero padding, same
    size; + x if residual. Same result as nalasr_model.depthwise_tokens(x, weight, bias, "shift") (+ x)."""
    return _dwconv_fwd_op(x, weight, bias, residual)


def self_check(device="cuda"):
    """Small float32 forward + backward of the kernels (3x3 with residual, 5x5 without; ragged tiles; a channel
    chunk as input) vs F.conv2d in float64 -> (ok, message). Never raises: train.py calls it before switching
    the depthwise convs to the kernels and keeps "shift" if it fails."""
    try:
        if not AVAILABLE:
            return False, "triton or torch.library.custom_op not available"
        worst = 0.0
        for (b, h, w, c, k, residual) in ((2, 13, 21, 48, 3, True), (1, 23, 30, 80, 5, False)):
            (x, weight, bias), dy = dwconv_ref.random_case(b, h, w, 2 * c, k, seed=k)
            x, weight, bias = (t.detach() for t in (x, weight, bias))
            dy = dy[..., :c].contiguous()
            truth = dwconv_ref.values_and_grads(
                dwconv_ref.dwconv_conv2d, [t.requires_grad_() for t in (x[..., :c].contiguous(), weight[:c],
                                                                          bias[:c])], dy, residual)
            # strided input (channel stride 1, pixel stride 2C), like lepe(v) on a chunk of the qkvg output
            leaves = [x.to(device, torch.float32)[..., :c].requires_grad_()] + \
                [t[:c].to(device, torch.float32).requires_grad_() for t in (weight, bias)]
            got = dwconv_ref.values_and_grads(dwconv_triton, leaves, dy.to(device, torch.float32), residual)
            worst = max([worst] + [dwconv_ref.rel(a.cpu(), t) for a, t in zip(got, truth)])
        return worst < 1e-5, f"float32 kernels vs float64 F.conv2d, max relative error {worst:.2e}"
    except Exception as exc:  # noqa: BLE001 -- any failure means: do not use the kernels
        return False, f"{type(exc).__name__}: {str(exc)[:300]}"
