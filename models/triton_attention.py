"""Fused NaLa and Pola attention for training: Triton kernels, forward and backward (spec: fused_attention_ref.py).

The kernels that reduce over tokens run one program per (image, head, chunk of CHUNK tokens) and walk the
chunk in blocks of BLOCK_T tokens; the others run one program per (image, head, TOKEN_CHUNK tokens). Feature
maps, RoPE, numerator and normaliser live in registers; nothing token-sized is stored besides the inputs, the
output and the gradients. Reductions over tokens are two-stage and free of atomics: each program writes its
chunk's partial sums, and one torch .sum over the chunks finishes them (deterministic).

  forward   _*_state_kernel   partial S = sum rot(phi_k) v^T and sum phi_k    -> S, m (/ N)
            _*_out_kernel     o = rot(phi_q) S / (phi_q . m + eps)
  backward  _*_qbwd_kernel    dq; partial dS = sum rot(phi_q) dnum^T, dm; (Pola: partial dp)
            _*_kbwd_kernel    dk, dv from dS, dm; (Pola: partial dp)

RoPE pairs channel c with c^1 (see fused_attention_ref). No register shuffles: the key side recomputes the
partner's (cheap) feature map from a second load of k at the swapped columns; the query side moves the
rotation onto the rows of S loaded swapped, and rot^T onto the partner rows of S / dS likewise. Inputs may
be bf16/fp16/fp32 (math in float32) or float64 (math in float64, for gradcheck); they may be strided along
tokens (channel stride 1), e.g. chunks of the qkvg output. The output is float32 (float64 for float64 input), as
the `fast` path returns; gradients come back in the input dtype. Products of (tokens x d) blocks with the d x d
state go through tl.dot when d >= 16 (float32 inputs at float32 precision, DOT_MODE "tf32x3"; bf16 / fp16 at
one TF32 pass), else (float64, small d) through broadcast-multiply-sums. Each kernel has its own
launcher (nala_state, nala_out, nala_query_bwd, nala_key_bwd, pola_*): check_fused_attention.py --sweep times
them one by one, check_attention_cpu.py runs them on the CPU (tl_emulator_attention).

The ops are registered with torch.library.custom_op (nalasr::nala_fwd / nala_bwd through attention_ops, and
nalasr::pola_fwd / pola_bwd) with fake implementations and register_autograd, so torch.compile treats them as
opaque nodes inside a compiled block (no graph break, the rest of the block still fuses) and CUDA-graph capture
records the kernel launches.
Entry points: nala_triton(q, k, v, heads, cos, sin) and pola_triton(q, k, v, heads, power), same arguments as
attention_math.nala_fast / pola_fast.
"""
import torch

import attention_ops
from attention_ops import acc_dtype

try:
    import triton
    import triton.language as tl
    HAVE_TRITON = True
except ImportError:  # CPU machine: the module imports, the kernels are not defined
    triton = tl = None
    HAVE_TRITON = False
# the custom ops need torch >= 2.4; without them the launchers still run (check_attention_cpu.py, tl_emulator)
AVAILABLE = HAVE_TRITON and hasattr(torch.library, "custom_op")

# Tuned on an H100 at the training shape (B 32, 64x64 tokens, C 64, 4 heads; NaLa fwd + bwd, kernels only):
# block 32 / chunk 256 / 4 warps / ieee 1.40 ms, 2 warps 1.23 ms, tf32x3 0.98 ms, block 16 / chunk 128 /
# 1 warp / tf32x3 0.71 ms. Many small programs win: the work per token is tiny and latency-bound.
# check_fused_attention.py --sweep times the alternatives below, "session 2" = the kernels of that table.
BLOCK_T = 16  # tokens per block
CHUNK = 128  # tokens per program in the kernels that reduce over tokens (state, qbwd)
# Tokens per program in the per-token kernels (out, kbwd): each program loads its head's d x d matrices once
# for TOKEN_CHUNK tokens (session 2: one block, i.e. 32k programs re-reading 2-4 matrices for 16 tokens each).
TOKEN_CHUNK = 16
NUM_WARPS = 1
NUM_STAGES = 3  # Triton's default software pipelining of the loops (the sweep tries 1 and 2)
# tl.dot precision of the small products, by input dtype: "tf32x3" (3 tensor-core passes, float32 accuracy:
# measured 3e-7 relative like "ieee"), "tf32" (one pass, inputs rounded to 10 mantissa bits), "ieee" (FMA).
# 16-bit inputs (bf16 training) always take one "tf32" pass (_meta): it leaves 1.1e-3 in the output on the H100
# (less than one bf16 rounding, 2^-9) and nothing visible in the gradients, which go back as bf16 (their own
# rounding: 1.7e-3; check_attention_cpu.py emulates TF32); three passes cost 612 vs 465 us a NaLa block
# (session 6 sweep, H100).
# float64 inputs (gradcheck) and d < 16 always use broadcast-multiply-sums (plain tl.sum(x[:, :, None] *
# m[None], ...) products in float32 measured 8e-4 relative error on the H100, hence tl.dot for float32).
DOT_MODE = "tf32x3"  # float32 inputs
# RoPE of the NaLa query map: rot(x) S = (x cs) S - (x sn) S_sw, S_sw = S with rows c, c^1 swapped (loaded
# so), and rot(x)^T y = (x cs)^T y - rows-swapped (x sn)^T y: one query map a token, two more tl.dot. Session 2
# instead loaded q again at the swapped columns and computed a second query map for them (norm, tanh, log and
# exp per element); the session-6 sweep (H100, NaLa kernels a block) timed that at 466 vs 465 us in all: its
# `out` kernel 68 vs 79 us, its q-backward 176 vs 164. Removed in session 7 (history: git log of this file).
# Keys keep the second load: their map (k^3) is cheaper than two more products.
_DOTS = {"": 0, "ieee": 1, "tf32x3": 2, "tf32": 3}

if HAVE_TRITON:
    EPS = tl.constexpr(1e-6)
    TINY = tl.constexpr(1e-30)

    # ------------------------------------------------------------------------------------- helpers

    @triton.jit
    def _cvt(x, ACC: tl.constexpr):
        return x.to(ACC)

    @triton.jit
    def _load_tok(base, b, h, t, stride_b, stride_n, cols, N, D: tl.constexpr, ACC: tl.constexpr):
        """(BLOCK_T, D) block of head h's channels `cols` at tokens t; zeros past N."""
        ptrs = base + b.to(tl.int64) * stride_b + t[:, None].to(tl.int64) * stride_n + h * D + cols[None, :]
        return _cvt(tl.load(ptrs, mask=t[:, None] < N, other=0.0), ACC)

    @triton.jit
    def _store_tok(base, val, b, h, t, stride_b, stride_n, cols, N, D: tl.constexpr):
        ptrs = base + b.to(tl.int64) * stride_b + t[:, None].to(tl.int64) * stride_n + h * D + cols[None, :]
        tl.store(ptrs, val.to(base.dtype.element_ty), mask=t[:, None] < N)

    @triton.jit
    def _rope_tables(cos_ptr, sin_ptr, t, cols, N, D: tl.constexpr, ACC: tl.constexpr):
        """Per-channel cos and signed sin (BLOCK_T, D): channel c uses entry c//2 of the (N, D/2) tables."""
        offs = t[:, None] * (D // 2) + cols[None, :] // 2
        cs = _cvt(tl.load(cos_ptr + offs, mask=t[:, None] < N, other=1.0), ACC)
        sn = _cvt(tl.load(sin_ptr + offs, mask=t[:, None] < N, other=0.0), ACC)
        sign = tl.where(cols % 2 == 0, -1.0, 1.0)
        return cs, sn * sign[None, :]

    @triton.jit
    def _dot(a, b, DOT: tl.constexpr):
        """a @ b on the tensor cores; DOT 1 ieee, 2 tf32x3, 3 tf32."""
        if DOT == 3:
            r = tl.dot(a, b, input_precision="tf32")
        elif DOT == 2:
            r = tl.dot(a, b, input_precision="tf32x3")
        else:
            r = tl.dot(a, b, input_precision="ieee")
        return r

    @triton.jit
    def _mm(x, m, DOT: tl.constexpr):
        """x (T, D) @ m (D, E) -> (T, E)."""
        if DOT == 0:
            r = tl.sum(x[:, :, None] * m[None, :, :], axis=1)
        else:
            r = _dot(x, m, DOT)
        return r

    @triton.jit
    def _mm_t(x, m, DOT: tl.constexpr):
        """x (T, E) @ m^T for m (D, E) -> (T, D)."""
        if DOT == 0:
            r = tl.sum(x[:, None, :] * m[None, :, :], axis=2)
        else:
            r = _dot(x, tl.trans(m), DOT)
        return r

    @triton.jit
    def _outer(a, b, DOT: tl.constexpr):
        """a^T b for a (T, D), b (T, E) -> (D, E): a sum over tokens."""
        if DOT == 0:
            r = tl.sum(a[:, :, None] * b[:, None, :], axis=0)
        else:
            r = _dot(tl.trans(a), b, DOT)
        return r

    @triton.jit
    def _load_mat(base, rows, cols, D: tl.constexpr, ACC: tl.constexpr):
        return _cvt(tl.load(base + rows[:, None] * D + cols[None, :]), ACC)

    @triton.jit
    def _load_vec(base, cols, ACC: tl.constexpr):
        return _cvt(tl.load(base + cols), ACC)

    @triton.jit
    def _store_partial_mats(base, idx, a, b, rows, cols, D: tl.constexpr):
        """Stores [a, b] (each D x D, row r at `rows`[r]) at slot idx of a (..., 2, D, D) buffer."""
        off = idx.to(tl.int64) * 2 * D * D + rows[:, None] * D + cols[None, :]
        tl.store(base + off, a)
        tl.store(base + off + D * D, b)

    @triton.jit
    def _store_partial_vecs(base, idx, a, b, cols, D: tl.constexpr):
        off = idx.to(tl.int64) * 2 * D + cols
        tl.store(base + off, a)
        tl.store(base + off + D, b)

    # ------------------------------------------------------------------------------- feature maps

    @triton.jit
    def _halves(x, f):
        """The positive and the negative half of a feature map f of x."""
        return tl.where(x > 0.0, f, 0.0), tl.where(x < 0.0, f, 0.0)

    @triton.jit
    def _nala_key_map(k):
        k3 = k * k * k
        return tl.maximum(k3, 0.0), tl.maximum(-k3, 0.0)

    @triton.jit
    def _nala_query_parts(q):
        """Per token |q|, 1/n (n = |q| + eps), tanh n, p; per element log(|q|/n) and f = (|q|/n)^p."""
        nrm = tl.sqrt(tl.sum(q * q, axis=1))[:, None]
        n = nrm + EPS
        inv_n = 1.0 / n  # per token: one division instead of one per element
        th = 1.0 - 2.0 / (tl.exp(2.0 * n) + 1.0)  # tanh(n), n >= 0
        p = 3.0 * (0.5 + th)
        logu = tl.log(tl.maximum(tl.abs(q) * inv_n, TINY))
        f = tl.where(q != 0.0, tl.exp(p * logu), 0.0)
        return nrm, inv_n, th, p, logu, f

    @triton.jit
    def _nala_query_map(q):
        _, _, _, _, _, f = _nala_query_parts(q)
        return _halves(q, f)

    @triton.jit
    def _nala_query_map_bwd(q, nrm, inv_n, th, p, logu, f, g_pos, g_neg):
        """dq from the gradients reaching the two halves of phi_q, given _nala_query_parts(q)."""
        g = tl.where(q > 0.0, g_pos, tl.where(q < 0.0, g_neg, 0.0))
        gf = g * f
        f1 = tl.sum(gf, axis=1)[:, None]
        f2 = tl.sum(gf * logu, axis=1)[:, None]
        f_over_q = f / tl.where(q != 0.0, q, 1.0)
        # - p q/(|q| n) F1 + 3 (1 - tanh^2 n) q/|q| F2: a per-token factor of q
        per_token = (3.0 * (1.0 - th * th) * f2 - p * inv_n * f1) / tl.maximum(nrm, TINY)
        return p * g * f_over_q + q * per_token

    @triton.jit
    def _pola_map(x, p):
        """p (1, D) -> |x|^p (0 at 0) and log|x|, each (T, D)."""
        logx = tl.log(tl.maximum(tl.abs(x), TINY))
        return tl.where(x != 0.0, tl.exp(p * logx), 0.0), logx

    @triton.jit
    def _pola_map_bwd(x, p, f, logx, g_pos, g_neg):
        """-> dx, per-element dp contribution, given f, logx = _pola_map(x, p)."""
        g = tl.where(x > 0.0, g_pos, tl.where(x < 0.0, g_neg, 0.0))
        return p * g * f / tl.where(x != 0.0, x, 1.0), g * f * logx

    # ------------------------------------------------------------------------------------- NaLa

    @triton.jit
    def _nala_state_kernel(k_ptr, v_ptr, cos_ptr, sin_ptr, ps_ptr, pm_ptr, N, skb, skn, svb, svn,
                           H: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr, CH: tl.constexpr,
                           ACC: tl.constexpr, DOT: tl.constexpr):
        bh, c = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        cols, rows = tl.arange(0, D), tl.arange(0, D)
        sw = cols ^ 1
        acc_p = tl.zeros((D, D), dtype=ACC)
        acc_m = tl.zeros((D, D), dtype=ACC)
        sum_p = tl.zeros((D,), dtype=ACC)
        sum_m = tl.zeros((D,), dtype=ACC)
        for t0 in range(0, CH, BLOCK):
            t = c * CH + t0 + tl.arange(0, BLOCK)
            k = _load_tok(k_ptr, b, h, t, skb, skn, cols, N, D, ACC)
            k_sw = _load_tok(k_ptr, b, h, t, skb, skn, sw, N, D, ACC)
            v = _load_tok(v_ptr, b, h, t, svb, svn, cols, N, D, ACC)
            cs, sn = _rope_tables(cos_ptr, sin_ptr, t, cols, N, D, ACC)
            kp, km = _nala_key_map(k)
            kp_sw, km_sw = _nala_key_map(k_sw)
            acc_p += _outer(kp * cs + kp_sw * sn, v, DOT)
            acc_m += _outer(km * cs + km_sw * sn, v, DOT)
            sum_p += tl.sum(kp, axis=0)
            sum_m += tl.sum(km, axis=0)
        idx = bh * tl.num_programs(1) + c
        _store_partial_mats(ps_ptr, idx, acc_p, acc_m, rows, cols, D)
        _store_partial_vecs(pm_ptr, idx, sum_p, sum_m, cols, D)

    @triton.jit
    def _nala_out_kernel(q_ptr, s_ptr, m_ptr, cos_ptr, sin_ptr, o_ptr, N, sqb, sqn, sob, son,
                         H: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr, CH: tl.constexpr,
                         ACC: tl.constexpr, DOT: tl.constexpr):
        bh, c = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        cols, rows = tl.arange(0, D), tl.arange(0, D)
        base = s_ptr + bh * 2 * D * D
        s_p = _load_mat(base, rows, cols, D, ACC)
        s_m = _load_mat(base + D * D, rows, cols, D, ACC)
        s_p_sw = _load_mat(base, rows ^ 1, cols, D, ACC)  # row e holds S's row e^1
        s_m_sw = _load_mat(base + D * D, rows ^ 1, cols, D, ACC)
        m_p = _load_vec(m_ptr + bh * 2 * D, cols, ACC)
        m_m = _load_vec(m_ptr + bh * 2 * D + D, cols, ACC)
        for t0 in range(0, CH, BLOCK):
            t = c * CH + t0 + tl.arange(0, BLOCK)
            q = _load_tok(q_ptr, b, h, t, sqb, sqn, cols, N, D, ACC)
            cs, sn = _rope_tables(cos_ptr, sin_ptr, t, cols, N, D, ACC)
            qp, qm = _nala_query_map(q)
            num = (_mm(qp * cs, s_p, DOT) + _mm(qm * cs, s_m, DOT)
                   - _mm(qp * sn, s_p_sw, DOT) - _mm(qm * sn, s_m_sw, DOT))
            inv_den = 1.0 / (tl.sum(qp * m_p[None, :], axis=1) + tl.sum(qm * m_m[None, :], axis=1) + EPS)
            _store_tok(o_ptr, num * inv_den[:, None], b, h, t, sob, son, cols, N, D)

    @triton.jit
    def _nala_qbwd_kernel(q_ptr, do_ptr, s_ptr, m_ptr, cos_ptr, sin_ptr, dq_ptr, pds_ptr, pdm_ptr, N,
                          sqb, sqn, sdob, sdon, sdqb, sdqn,
                          H: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr, CH: tl.constexpr,
                          ACC: tl.constexpr, DOT: tl.constexpr):
        bh, c = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        cols, rows = tl.arange(0, D), tl.arange(0, D)
        base = s_ptr + bh * 2 * D * D
        s_p = _load_mat(base, rows, cols, D, ACC)
        s_m = _load_mat(base + D * D, rows, cols, D, ACC)
        s_p_sw = _load_mat(base, rows ^ 1, cols, D, ACC)  # row e holds S's row e^1
        s_m_sw = _load_mat(base + D * D, rows ^ 1, cols, D, ACC)
        m_p = _load_vec(m_ptr + bh * 2 * D, cols, ACC)
        m_m = _load_vec(m_ptr + bh * 2 * D + D, cols, ACC)
        acc_p = tl.zeros((D, D), dtype=ACC)  # sum of (phi cs)^T dnum
        acc_m = tl.zeros((D, D), dtype=ACC)
        acc_sp = tl.zeros((D, D), dtype=ACC)  # sum of (phi sn)^T dnum
        acc_sm = tl.zeros((D, D), dtype=ACC)
        sum_p = tl.zeros((D,), dtype=ACC)
        sum_m = tl.zeros((D,), dtype=ACC)
        for t0 in range(0, CH, BLOCK):
            t = c * CH + t0 + tl.arange(0, BLOCK)
            q = _load_tok(q_ptr, b, h, t, sqb, sqn, cols, N, D, ACC)
            do = _load_tok(do_ptr, b, h, t, sdob, sdon, cols, N, D, ACC)
            cs, sn = _rope_tables(cos_ptr, sin_ptr, t, cols, N, D, ACC)
            nrm, inv_n, th, pw, logu, f = _nala_query_parts(q)  # once: the backward of the map reuses it
            qp, qm = _halves(q, f)
            xp, xm, yp, ym = qp * cs, qm * cs, qp * sn, qm * sn
            num = _mm(xp, s_p, DOT) + _mm(xm, s_m, DOT) - _mm(yp, s_p_sw, DOT) - _mm(ym, s_m_sw, DOT)
            inv_den = (1.0 / (tl.sum(qp * m_p[None, :], axis=1) + tl.sum(qm * m_m[None, :], axis=1) + EPS))[:, None]
            dnum = do * inv_den
            dden = -tl.sum(do * num, axis=1)[:, None] * inv_den * inv_den
            acc_p += _outer(xp, dnum, DOT)
            acc_m += _outer(xm, dnum, DOT)
            acc_sp += _outer(yp, dnum, DOT)
            acc_sm += _outer(ym, dnum, DOT)
            sum_p += tl.sum(qp * dden, axis=0)
            sum_m += tl.sum(qm * dden, axis=0)
            # gradient reaching phi_q: rot^T(dnum S^T) + m dden, per half
            g_p = _mm_t(dnum, s_p, DOT) * cs - _mm_t(dnum, s_p_sw, DOT) * sn + m_p[None, :] * dden
            g_m = _mm_t(dnum, s_m, DOT) * cs - _mm_t(dnum, s_m_sw, DOT) * sn + m_m[None, :] * dden
            dq = _nala_query_map_bwd(q, nrm, inv_n, th, pw, logu, f, g_p, g_m)
            _store_tok(dq_ptr, dq, b, h, t, sdqb, sdqn, cols, N, D)
        idx = bh * tl.num_programs(1) + c
        # two slots a program, summed by the launcher: (phi cs)^T dnum, and -(phi sn)^T dnum rows-swapped
        _store_partial_mats(pds_ptr, 2 * idx, acc_p, acc_m, rows, cols, D)
        _store_partial_mats(pds_ptr, 2 * idx + 1, -acc_sp, -acc_sm, rows ^ 1, cols, D)
        _store_partial_vecs(pdm_ptr, idx, sum_p, sum_m, cols, D)

    @triton.jit
    def _nala_kbwd_kernel(k_ptr, v_ptr, ds_ptr, dm_ptr, cos_ptr, sin_ptr, dk_ptr, dv_ptr, N,
                          skb, skn, svb, svn, sdkb, sdkn, sdvb, sdvn,
                          H: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr, CH: tl.constexpr,
                          ACC: tl.constexpr, DOT: tl.constexpr):
        bh, c = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        cols, rows = tl.arange(0, D), tl.arange(0, D)
        sw = cols ^ 1
        base = ds_ptr + bh * 2 * D * D
        ds_p = _load_mat(base, rows, cols, D, ACC) / N
        ds_m = _load_mat(base + D * D, rows, cols, D, ACC) / N
        ds_p_sw = _load_mat(base, rows ^ 1, cols, D, ACC) / N
        ds_m_sw = _load_mat(base + D * D, rows ^ 1, cols, D, ACC) / N
        dm_p = _load_vec(dm_ptr + bh * 2 * D, cols, ACC) / N
        dm_m = _load_vec(dm_ptr + bh * 2 * D + D, cols, ACC) / N
        for t0 in range(0, CH, BLOCK):
            t = c * CH + t0 + tl.arange(0, BLOCK)
            k = _load_tok(k_ptr, b, h, t, skb, skn, cols, N, D, ACC)
            k_sw = _load_tok(k_ptr, b, h, t, skb, skn, sw, N, D, ACC)
            v = _load_tok(v_ptr, b, h, t, svb, svn, cols, N, D, ACC)
            cs, sn = _rope_tables(cos_ptr, sin_ptr, t, cols, N, D, ACC)
            kp, km = _nala_key_map(k)
            kp_sw, km_sw = _nala_key_map(k_sw)
            dv = _mm(kp * cs + kp_sw * sn, ds_p, DOT) + _mm(km * cs + km_sw * sn, ds_m, DOT)
            g_p = _mm_t(v, ds_p, DOT) * cs - _mm_t(v, ds_p_sw, DOT) * sn + dm_p[None, :]
            g_m = _mm_t(v, ds_m, DOT) * cs - _mm_t(v, ds_m_sw, DOT) * sn + dm_m[None, :]
            dk = 3.0 * k * k * tl.where(k > 0.0, g_p, tl.where(k < 0.0, -g_m, 0.0))
            _store_tok(dk_ptr, dk, b, h, t, sdkb, sdkn, cols, N, D)
            _store_tok(dv_ptr, dv, b, h, t, sdvb, sdvn, cols, N, D)

    # ------------------------------------------------------------------------------------- Pola

    @triton.jit
    def _pola_state_kernel(k_ptr, v_ptr, p_ptr, ps_ptr, pm_ptr, N, skb, skn, svb, svn,
                           H: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr, CH: tl.constexpr,
                           ACC: tl.constexpr, DOT: tl.constexpr):
        bh, c = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        cols, rows = tl.arange(0, D), tl.arange(0, D)
        p = _load_vec(p_ptr + h * D, cols, ACC)[None, :]
        acc_p = tl.zeros((D, D), dtype=ACC)
        acc_m = tl.zeros((D, D), dtype=ACC)
        sum_p = tl.zeros((D,), dtype=ACC)
        sum_m = tl.zeros((D,), dtype=ACC)
        for t0 in range(0, CH, BLOCK):
            t = c * CH + t0 + tl.arange(0, BLOCK)
            k = _load_tok(k_ptr, b, h, t, skb, skn, cols, N, D, ACC)
            v = _load_tok(v_ptr, b, h, t, svb, svn, cols, N, D, ACC)
            f, _ = _pola_map(k, p)
            kp, km = _halves(k, f)
            acc_p += _outer(kp, v, DOT)
            acc_m += _outer(km, v, DOT)
            sum_p += tl.sum(kp, axis=0)
            sum_m += tl.sum(km, axis=0)
        idx = bh * tl.num_programs(1) + c
        _store_partial_mats(ps_ptr, idx, acc_p, acc_m, rows, cols, D)
        _store_partial_vecs(pm_ptr, idx, sum_p, sum_m, cols, D)

    @triton.jit
    def _pola_mats(s_ptr, m_ptr, bh, rows, cols, D: tl.constexpr, ACC: tl.constexpr):
        """A = [S+ | S-], B = [S- | S+] by column half; m+, m-."""
        base = s_ptr + bh * 2 * D * D
        s_p = _load_mat(base, rows, cols, D, ACC)
        s_m = _load_mat(base + D * D, rows, cols, D, ACC)
        first = (cols < D // 2)[None, :]
        m_p = _load_vec(m_ptr + bh * 2 * D, cols, ACC)[None, :]
        m_m = _load_vec(m_ptr + bh * 2 * D + D, cols, ACC)[None, :]
        return tl.where(first, s_p, s_m), tl.where(first, s_m, s_p), m_p, m_m

    @triton.jit
    def _pola_inv_den(qp, qm, m_p, m_m, cols, D: tl.constexpr):
        """1 / normaliser, (T, D): the sim one for the first half of the columns, the opp one for the rest."""
        sim = tl.sum(qp * m_p, axis=1) + tl.sum(qm * m_m, axis=1) + EPS
        opp = tl.sum(qp * m_m, axis=1) + tl.sum(qm * m_p, axis=1) + EPS
        return tl.where((cols < D // 2)[None, :], (1.0 / sim)[:, None], (1.0 / opp)[:, None])

    @triton.jit
    def _pola_out_kernel(q_ptr, p_ptr, s_ptr, m_ptr, o_ptr, N, sqb, sqn, sob, son,
                         H: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr, CH: tl.constexpr,
                         ACC: tl.constexpr, DOT: tl.constexpr):
        bh, c = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        cols, rows = tl.arange(0, D), tl.arange(0, D)
        p = _load_vec(p_ptr + h * D, cols, ACC)[None, :]
        a, bm, m_p, m_m = _pola_mats(s_ptr, m_ptr, bh, rows, cols, D, ACC)
        for t0 in range(0, CH, BLOCK):
            t = c * CH + t0 + tl.arange(0, BLOCK)
            q = _load_tok(q_ptr, b, h, t, sqb, sqn, cols, N, D, ACC)
            f, _ = _pola_map(q, p)
            qp, qm = _halves(q, f)
            num = _mm(qp, a, DOT) + _mm(qm, bm, DOT)
            _store_tok(o_ptr, num * _pola_inv_den(qp, qm, m_p, m_m, cols, D), b, h, t, sob, son, cols, N, D)

    @triton.jit
    def _pola_qbwd_kernel(q_ptr, do_ptr, p_ptr, s_ptr, m_ptr, dq_ptr, pds_ptr, pdm_ptr, pdp_ptr, N,
                          sqb, sqn, sdob, sdon, sdqb, sdqn,
                          H: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr, CH: tl.constexpr,
                          ACC: tl.constexpr, DOT: tl.constexpr):
        bh, c = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        cols, rows = tl.arange(0, D), tl.arange(0, D)
        first = (cols < D // 2)[None, :]
        p = _load_vec(p_ptr + h * D, cols, ACC)[None, :]
        a, bm, m_p, m_m = _pola_mats(s_ptr, m_ptr, bh, rows, cols, D, ACC)
        acc_a = tl.zeros((D, D), dtype=ACC)
        acc_b = tl.zeros((D, D), dtype=ACC)
        sum_p = tl.zeros((D,), dtype=ACC)
        sum_m = tl.zeros((D,), dtype=ACC)
        sum_dp = tl.zeros((D,), dtype=ACC)
        for t0 in range(0, CH, BLOCK):
            t = c * CH + t0 + tl.arange(0, BLOCK)
            q = _load_tok(q_ptr, b, h, t, sqb, sqn, cols, N, D, ACC)
            do = _load_tok(do_ptr, b, h, t, sdob, sdon, cols, N, D, ACC)
            f, logq = _pola_map(q, p)  # once: the backward of the map reuses it
            qp, qm = _halves(q, f)
            num = _mm(qp, a, DOT) + _mm(qm, bm, DOT)
            inv_den = _pola_inv_den(qp, qm, m_p, m_m, cols, D)
            dnum = do * inv_den
            dden = -dnum * num * inv_den
            d_sim = tl.sum(tl.where(first, dden, 0.0), axis=1)[:, None]
            d_opp = tl.sum(tl.where(first, 0.0, dden), axis=1)[:, None]
            acc_a += _outer(qp, dnum, DOT)
            acc_b += _outer(qm, dnum, DOT)
            sum_p += tl.sum(qp * d_sim + qm * d_opp, axis=0)
            sum_m += tl.sum(qm * d_sim + qp * d_opp, axis=0)
            g_p = _mm_t(dnum, a, DOT) + d_sim * m_p + d_opp * m_m
            g_m = _mm_t(dnum, bm, DOT) + d_sim * m_m + d_opp * m_p
            dq, dp = _pola_map_bwd(q, p, f, logq, g_p, g_m)
            sum_dp += tl.sum(dp, axis=0)
            _store_tok(dq_ptr, dq, b, h, t, sdqb, sdqn, cols, N, D)
        idx = bh * tl.num_programs(1) + c
        _store_partial_mats(pds_ptr, idx, tl.where(first, acc_a, acc_b), tl.where(first, acc_b, acc_a),
                            rows, cols, D)
        _store_partial_vecs(pdm_ptr, idx, sum_p, sum_m, cols, D)
        tl.store(pdp_ptr + idx.to(tl.int64) * D + cols, sum_dp)

    @triton.jit
    def _pola_kbwd_kernel(k_ptr, v_ptr, p_ptr, ds_ptr, dm_ptr, dk_ptr, dv_ptr, pdp_ptr, N,
                          skb, skn, svb, svn, sdkb, sdkn, sdvb, sdvn,
                          H: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr, CH: tl.constexpr,
                          ACC: tl.constexpr, DOT: tl.constexpr):
        bh, c = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        cols, rows = tl.arange(0, D), tl.arange(0, D)
        p = _load_vec(p_ptr + h * D, cols, ACC)[None, :]
        base = ds_ptr + bh * 2 * D * D
        ds_p = _load_mat(base, rows, cols, D, ACC) / N
        ds_m = _load_mat(base + D * D, rows, cols, D, ACC) / N
        dm_p = _load_vec(dm_ptr + bh * 2 * D, cols, ACC)[None, :] / N
        dm_m = _load_vec(dm_ptr + bh * 2 * D + D, cols, ACC)[None, :] / N
        sum_dp = tl.zeros((D,), dtype=ACC)
        for t0 in range(0, CH, BLOCK):
            t = c * CH + t0 + tl.arange(0, BLOCK)
            k = _load_tok(k_ptr, b, h, t, skb, skn, cols, N, D, ACC)
            v = _load_tok(v_ptr, b, h, t, svb, svn, cols, N, D, ACC)
            f, logk = _pola_map(k, p)
            kp, km = _halves(k, f)
            dv = _mm(kp, ds_p, DOT) + _mm(km, ds_m, DOT)
            dk, dp = _pola_map_bwd(k, p, f, logk, _mm_t(v, ds_p, DOT) + dm_p, _mm_t(v, ds_m, DOT) + dm_m)
            sum_dp += tl.sum(dp, axis=0)
            _store_tok(dk_ptr, dk, b, h, t, sdkb, sdkn, cols, N, D)
            _store_tok(dv_ptr, dv, b, h, t, sdvb, sdvn, cols, N, D)
        idx = bh * tl.num_programs(1) + c
        tl.store(pdp_ptr + idx.to(tl.int64) * D + cols, sum_dp)


# ----------------------------------------------------------------------------------------- launchers

def _strides(t):
    assert t.dim() == 3 and t.stride(2) == 1, "token-major (B, N, C) with channel stride 1"
    return t.stride(0), t.stride(1)


def _common(q, heads):
    b, n, c = q.shape
    d = c // heads
    assert d * heads == c and d >= 4 and d & (d - 1) == 0, "head width must be a power of two >= 4"
    return b, n, c, d, triton.cdiv(n, CHUNK)


def _meta(heads, d, dtype, per_token=False):
    """Kernel constants; per_token kernels (no reduction over tokens) run TOKEN_CHUNK tokens a program."""
    assert CHUNK % BLOCK_T == 0 and TOKEN_CHUNK % BLOCK_T == 0, "chunks are whole blocks"
    if dtype == torch.float64 or d < 16:  # float64: exact products for gradcheck; tl.dot needs 16 x 16 tiles
        dot = ""
    else:
        dot = DOT_MODE if dtype == torch.float32 else "tf32"  # bf16 / fp16: one pass (see DOT_MODE)
    return dict(H=heads, D=d, BLOCK=BLOCK_T, CH=TOKEN_CHUNK if per_token else CHUNK,
                ACC=tl.float64 if dtype == torch.float64 else tl.float32, DOT=_DOTS[dot], num_warps=NUM_WARPS,
                num_stages=NUM_STAGES)


def _token_grid(b, heads, n):
    return (b * heads, triton.cdiv(n, TOKEN_CHUNK))


def _partials(b, heads, chunks, d, acc, device, slots=1):
    """Per-program partial sums: `slots` pairs of d x d matrices and one pair of d-vectors."""
    return (torch.empty(b * heads, chunks, slots, 2, d, d, dtype=acc, device=device),
            torch.empty(b * heads, chunks, 2, d, dtype=acc, device=device))


# One function per kernel (the check script times them one by one); q, k, v: token-major (B, N, C).

def nala_state(k, v, cos, sin, heads):
    """Forward pass 1 -> state (B*h, 2, d, d) = [S+, S-], mean (B*h, 2, d) = [m+, m-] (both already / N)."""
    b, n, c, d, chunks = _common(k, heads)
    k, v = attention_ops.tokens(k, v)
    ps, pm = _partials(b, heads, chunks, d, acc_dtype(k), k.device)
    _nala_state_kernel[(b * heads, chunks)](k, v, cos.contiguous(), sin.contiguous(), ps, pm, n, *_strides(k),
                                            *_strides(v), **_meta(heads, d, k.dtype))
    return ps.sum((1, 2)) / n, pm.sum(1) / n


def nala_out(q, state, mean, cos, sin, heads):
    """Forward pass 2 -> o (B, N, C), float32 (float64 for float64 q)."""
    b, n, c, d, _ = _common(q, heads)
    (q,) = attention_ops.tokens(q)
    o = torch.empty(b, n, c, dtype=acc_dtype(q), device=q.device)
    _nala_out_kernel[_token_grid(b, heads, n)](q, state, mean, cos.contiguous(), sin.contiguous(), o, n,
                                               *_strides(q), *_strides(o), **_meta(heads, d, q.dtype, per_token=True))
    return o


def nala_query_bwd(do, q, cos, sin, state, mean, heads):
    """Backward pass 1 -> dq, dstate, dmean (sums over tokens, not yet / N)."""
    b, n, c, d, chunks = _common(q, heads)
    q, do = attention_ops.tokens(q, do)
    dq = torch.empty(b, n, c, dtype=q.dtype, device=q.device)
    pds, pdm = _partials(b, heads, chunks, d, acc_dtype(q), q.device, slots=2)
    _nala_qbwd_kernel[(b * heads, chunks)](q, do, state, mean, cos.contiguous(), sin.contiguous(), dq, pds, pdm,
                                           n, *_strides(q), *_strides(do), *_strides(dq), **_meta(heads, d, q.dtype))
    return dq, pds.sum((1, 2)), pdm.sum(1)


def nala_key_bwd(k, v, cos, sin, dstate, dmean, heads):
    """Backward pass 2 -> dk, dv."""
    b, n, c, d, _ = _common(k, heads)
    k, v = attention_ops.tokens(k, v)
    dk, dv = (torch.empty(b, n, c, dtype=t.dtype, device=t.device) for t in (k, v))
    _nala_kbwd_kernel[_token_grid(b, heads, n)](k, v, dstate, dmean, cos.contiguous(), sin.contiguous(), dk, dv,
                                                n, *_strides(k), *_strides(v), *_strides(dk), *_strides(dv),
                                                **_meta(heads, d, k.dtype, per_token=True))
    return dk, dv


STAGES = attention_ops.NalaStages(nala_state, nala_out, nala_query_bwd, nala_key_bwd)
nala_forward, nala_backward = STAGES.forward, STAGES.backward


def pola_state(k, v, p):
    """p: the (h, d) exponent in the accumulation dtype. -> state, mean as nala_state."""
    heads = p.shape[0]
    b, n, c, d, chunks = _common(k, heads)
    k, v = attention_ops.tokens(k, v)
    ps, pm = _partials(b, heads, chunks, d, acc_dtype(k), k.device)
    _pola_state_kernel[(b * heads, chunks)](k, v, p, ps, pm, n, *_strides(k), *_strides(v),
                                            **_meta(heads, d, k.dtype))
    return ps.sum((1, 2)) / n, pm.sum(1) / n


def pola_out(q, p, state, mean):
    heads = p.shape[0]
    b, n, c, d, _ = _common(q, heads)
    (q,) = attention_ops.tokens(q)
    o = torch.empty(b, n, c, dtype=acc_dtype(q), device=q.device)
    _pola_out_kernel[_token_grid(b, heads, n)](q, p, state, mean, o, n, *_strides(q), *_strides(o),
                                               **_meta(heads, d, q.dtype, per_token=True))
    return o


def pola_query_bwd(do, q, p, state, mean):
    """-> dq, dstate, dmean (sums over tokens), dp contribution (h, d)."""
    heads = p.shape[0]
    b, n, c, d, chunks = _common(q, heads)
    q, do = attention_ops.tokens(q, do)
    dq = torch.empty(b, n, c, dtype=q.dtype, device=q.device)
    pds, pdm = _partials(b, heads, chunks, d, acc_dtype(q), q.device)
    pdp = torch.empty(b, heads, chunks, d, dtype=acc_dtype(q), device=q.device)
    _pola_qbwd_kernel[(b * heads, chunks)](q, do, p, state, mean, dq, pds, pdm, pdp, n, *_strides(q),
                                           *_strides(do), *_strides(dq), **_meta(heads, d, q.dtype))
    return dq, pds.sum((1, 2)), pdm.sum(1), pdp.sum((0, 2))


def pola_key_bwd(k, v, p, dstate, dmean):
    """-> dk, dv, dp contribution (h, d)."""
    heads = p.shape[0]
    b, n, c, d, _ = _common(k, heads)
    k, v = attention_ops.tokens(k, v)
    dk, dv = (torch.empty(b, n, c, dtype=t.dtype, device=t.device) for t in (k, v))
    grid = _token_grid(b, heads, n)
    pdp = torch.empty(b, heads, grid[1], d, dtype=acc_dtype(k), device=k.device)
    _pola_kbwd_kernel[grid](k, v, p, dstate, dmean, dk, dv, pdp, n, *_strides(k), *_strides(v), *_strides(dk),
                            *_strides(dv), **_meta(heads, d, k.dtype, per_token=True))
    return dk, dv, pdp.sum((0, 2))


def pola_forward(q, k, v, p):
    """p: the (h, d) exponent. -> o, state, mean as nala_forward."""
    p = p.to(acc_dtype(q)).contiguous()
    state, mean = pola_state(k, v, p)
    return pola_out(q, p, state, mean), state, mean


def pola_backward(do, q, k, v, p, state, mean):
    p_acc = p.to(acc_dtype(q)).contiguous()
    dq, dstate, dmean, dp_q = pola_query_bwd(do, q, p_acc, state, mean)
    dk, dv, dp_k = pola_key_bwd(k, v, p_acc, dstate, dmean)
    return dq, dk, dv, (dp_q + dp_k).to(p.dtype)


# --------------------------------------------------------------------------------- custom ops + autograd

if AVAILABLE:
    _nala_fwd_op = attention_ops.register_nala_ops("nala", STAGES)

    @torch.library.custom_op("nalasr::pola_fwd", mutates_args=())
    def _pola_fwd_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return pola_forward(q, k, v, p)

    @_pola_fwd_op.register_fake
    def _(q, k, v, p):
        b, n, c = q.shape
        heads, d, acc = p.shape[0], p.shape[1], acc_dtype(q)
        return (q.new_empty((b, n, c), dtype=acc), q.new_empty((b * heads, 2, d, d), dtype=acc),
                q.new_empty((b * heads, 2, d), dtype=acc))

    @torch.library.custom_op("nalasr::pola_bwd", mutates_args=())
    def _pola_bwd_op(do: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: torch.Tensor,
                     state: torch.Tensor, mean: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return pola_backward(do, q, k, v, p, state, mean)

    @_pola_bwd_op.register_fake
    def _(do, q, k, v, p, state, mean):
        return tuple(t.new_empty(t.shape) for t in (q, k, v, p))

    def _pola_setup(ctx, inputs, output):
        q, k, v, p = inputs
        ctx.save_for_backward(q, k, v, p, output[1], output[2])

    def _pola_grad(ctx, do, _dstate, _dmean):
        q, k, v, p, state, mean = ctx.saved_tensors
        return _pola_bwd_op(do, q, k, v, p, state, mean)

    _pola_fwd_op.register_autograd(_pola_grad, setup_context=_pola_setup)


def nala_triton(q, k, v, heads, cos, sin):
    """Same arguments and result as attention_math.nala_fast (q, k, v may be bf16: math is float32)."""
    return _nala_fwd_op(q, k, v, cos, sin, heads)[0]


def pola_triton(q, k, v, heads, power):
    """Same arguments and result as attention_math.pola_fast (power = the raw (h, d) parameter)."""
    return _pola_fwd_op(q, k, v, 1.0 + 4.0 * torch.sigmoid(power))[0]


def self_check(device="cuda", kind="nala"):
    """Small forward + backward of the kernels vs attention_math's fast path in float64 -> (ok, message).

    Never raises: train.py calls it before switching to the kernels and keeps the `fast` path if it fails.
    """
    if not AVAILABLE:
        return False, "triton or torch.library.custom_op not available"
    return attention_ops.self_check(device, kind, nala_triton, pola_triton)
