"""Fused NaLa and Pola attention for training: Triton kernels, forward and backward (spec: fused_attention_ref.py).

The kernels that reduce over tokens run one program per (image, head, chunk of CHUNK tokens) and walk the
chunk in blocks of BLOCK_T tokens; the others run one program per (image, head, block). Feature maps, RoPE, numerator and normaliser live in registers; nothing token-sized is stored besides
the inputs, the output and the gradients. Reductions over tokens are two-stage and free of atomics: each
program writes its chunk's partial sums, and one torch .sum over the chunks finishes them (deterministic).

  forward   _*_state_kernel   partial S = sum rot(phi_k) v^T and sum phi_k    -> S, m (/ N)
            _*_out_kernel     o = rot(phi_q) S / (phi_q . m + eps)
  backward  _*_qbwd_kernel    dq; partial dS = sum rot(phi_q) dnum^T, dm; (Pola: partial dp)
            _*_kbwd_kernel    dk, dv from dS, dm; (Pola: partial dp)

RoPE pairs channel c with c^1 (see fused_attention_ref): the partner's feature map is recomputed from a
second load of the input at the swapped columns, and the partner row of a small matrix (S, dS) is loaded
swapped, so no register shuffles are needed. Inputs may be bf16/fp16/fp32 (math in float32) or float64 (math
in float64, for gradcheck); they may be strided along tokens (channel stride 1), e.g. chunks of the qkvg
output. The output is float32 (float64 for float64 input), as the `fast` path returns; gradients come back in
the input dtype. Products of (tokens x d) blocks with the d x d state go through tl.dot in float32 precision
("tf32x3", see DOT_MODE) when d >= 16, else (float64, small d) through broadcast-multiply-sums.

The ops are registered with torch.library.custom_op (nalasr::nala_fwd / nala_bwd / pola_fwd / pola_bwd) with
fake implementations and register_autograd, so torch.compile treats them as opaque nodes inside a compiled
block (no graph break, the rest of the block still fuses) and CUDA-graph capture records the kernel launches.
Entry points: nala_triton(q, k, v, heads, cos, sin) and pola_triton(q, k, v, heads, power), same arguments as
attention_math.nala_fast / pola_fast.
"""
import torch

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
BLOCK_T = 16  # tokens per block
CHUNK = 128  # tokens per program in the kernels that reduce over tokens (the others run one block each)
NUM_WARPS = 1
# float32 products: tl.dot with input_precision "tf32x3" (tensor cores, 3 passes: float32 accuracy, measured
# 3e-7 relative like "ieee") or "ieee" (FMA); "" = broadcast-multiply-sums, which float64 and d < 16 use.
# Plain tl.sum(x[:, :, None] * m[None], ...) products in float32 gave 8e-4 relative error on the H100.
DOT_MODE = "tf32x3"

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
    def _mm(x, m, DOT: tl.constexpr):
        """x (T, D) @ m (D, E) -> (T, E)."""
        if DOT == 2:
            r = tl.dot(x, m, input_precision="tf32x3")
        elif DOT == 1:
            r = tl.dot(x, m, input_precision="ieee")
        else:
            r = tl.sum(x[:, :, None] * m[None, :, :], axis=1)
        return r

    @triton.jit
    def _mm_t(x, m, DOT: tl.constexpr):
        """x (T, E) @ m^T for m (D, E) -> (T, D)."""
        if DOT == 2:
            r = tl.dot(x, tl.trans(m), input_precision="tf32x3")
        elif DOT == 1:
            r = tl.dot(x, tl.trans(m), input_precision="ieee")
        else:
            r = tl.sum(x[:, None, :] * m[None, :, :], axis=2)
        return r

    @triton.jit
    def _outer(a, b, DOT: tl.constexpr):
        """a^T b for a (T, D), b (T, E) -> (D, E): a sum over tokens."""
        if DOT == 2:
            r = tl.dot(tl.trans(a), b, input_precision="tf32x3")
        elif DOT == 1:
            r = tl.dot(tl.trans(a), b, input_precision="ieee")
        else:
            r = tl.sum(a[:, :, None] * b[:, None, :], axis=0)
        return r

    @triton.jit
    def _load_mat(base, rows, cols, D: tl.constexpr, ACC: tl.constexpr):
        return _cvt(tl.load(base + rows[:, None] * D + cols[None, :]), ACC)

    @triton.jit
    def _load_vec(base, cols, ACC: tl.constexpr):
        return _cvt(tl.load(base + cols), ACC)

    @triton.jit
    def _store_partial_mats(base, idx, a, b, rows, cols, D: tl.constexpr):
        """Stores [a, b] (each D x D) at slot idx of a (..., 2, D, D) buffer."""
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
    def _nala_key_map(k):
        k3 = k * k * k
        return tl.maximum(k3, 0.0), tl.maximum(-k3, 0.0)

    @triton.jit
    def _nala_query_parts(q):
        nrm = tl.sqrt(tl.sum(q * q, axis=1))[:, None]
        n = nrm + EPS
        th = 1.0 - 2.0 / (tl.exp(2.0 * n) + 1.0)  # tanh(n), n >= 0
        p = 3.0 * (0.5 + th)
        logu = tl.log(tl.maximum(tl.abs(q) / n, TINY))
        f = tl.where(q != 0.0, tl.exp(p * logu), 0.0)
        return nrm, n, th, p, logu, f

    @triton.jit
    def _nala_query_map(q):
        _, _, _, _, _, f = _nala_query_parts(q)
        return tl.where(q > 0.0, f, 0.0), tl.where(q < 0.0, f, 0.0)

    @triton.jit
    def _nala_query_map_bwd(q, g_pos, g_neg):
        nrm, n, th, p, logu, f = _nala_query_parts(q)
        g = tl.where(q > 0.0, g_pos, tl.where(q < 0.0, g_neg, 0.0))
        gf = g * f
        f1 = tl.sum(gf, axis=1)[:, None]
        f2 = tl.sum(gf * logu, axis=1)[:, None]
        f_over_q = f / tl.where(q != 0.0, q, 1.0)
        q_unit = q / tl.maximum(nrm, TINY)
        return p * g * f_over_q - p * q_unit / n * f1 + 3.0 * (1.0 - th * th) * q_unit * f2

    @triton.jit
    def _pola_map(x, p):
        """p (1, D) -> positive part, negative part, log|x| (each (T, D))."""
        logx = tl.log(tl.maximum(tl.abs(x), TINY))
        f = tl.where(x != 0.0, tl.exp(p * logx), 0.0)
        return tl.where(x > 0.0, f, 0.0), tl.where(x < 0.0, f, 0.0), logx

    @triton.jit
    def _pola_map_bwd(x, p, g_pos, g_neg):
        """-> dx, per-element dp contribution."""
        fp, fn, logx = _pola_map(x, p)
        f = fp + fn
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
        sw = cols ^ 1
        s_p = _load_mat(s_ptr + bh * 2 * D * D, rows, cols, D, ACC)
        s_m = _load_mat(s_ptr + bh * 2 * D * D + D * D, rows, cols, D, ACC)
        m_p = _load_vec(m_ptr + bh * 2 * D, cols, ACC)
        m_m = _load_vec(m_ptr + bh * 2 * D + D, cols, ACC)
        for t0 in range(0, CH, BLOCK):
            t = c * CH + t0 + tl.arange(0, BLOCK)
            q = _load_tok(q_ptr, b, h, t, sqb, sqn, cols, N, D, ACC)
            q_sw = _load_tok(q_ptr, b, h, t, sqb, sqn, sw, N, D, ACC)
            cs, sn = _rope_tables(cos_ptr, sin_ptr, t, cols, N, D, ACC)
            qp, qm = _nala_query_map(q)
            qp_sw, qm_sw = _nala_query_map(q_sw)
            num = _mm(qp * cs + qp_sw * sn, s_p, DOT) + _mm(qm * cs + qm_sw * sn, s_m, DOT)
            den = tl.sum(qp * m_p[None, :], axis=1) + tl.sum(qm * m_m[None, :], axis=1) + EPS
            _store_tok(o_ptr, num / den[:, None], b, h, t, sob, son, cols, N, D)

    @triton.jit
    def _nala_qbwd_kernel(q_ptr, do_ptr, s_ptr, m_ptr, cos_ptr, sin_ptr, dq_ptr, pds_ptr, pdm_ptr, N,
                          sqb, sqn, sdob, sdon, sdqb, sdqn,
                          H: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr, CH: tl.constexpr,
                          ACC: tl.constexpr, DOT: tl.constexpr):
        bh, c = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        cols, rows = tl.arange(0, D), tl.arange(0, D)
        sw = cols ^ 1
        base = s_ptr + bh * 2 * D * D
        s_p = _load_mat(base, rows, cols, D, ACC)
        s_m = _load_mat(base + D * D, rows, cols, D, ACC)
        s_p_sw = _load_mat(base, rows ^ 1, cols, D, ACC)  # row e holds S's row e^1
        s_m_sw = _load_mat(base + D * D, rows ^ 1, cols, D, ACC)
        m_p = _load_vec(m_ptr + bh * 2 * D, cols, ACC)
        m_m = _load_vec(m_ptr + bh * 2 * D + D, cols, ACC)
        acc_p = tl.zeros((D, D), dtype=ACC)
        acc_m = tl.zeros((D, D), dtype=ACC)
        sum_p = tl.zeros((D,), dtype=ACC)
        sum_m = tl.zeros((D,), dtype=ACC)
        for t0 in range(0, CH, BLOCK):
            t = c * CH + t0 + tl.arange(0, BLOCK)
            q = _load_tok(q_ptr, b, h, t, sqb, sqn, cols, N, D, ACC)
            q_sw = _load_tok(q_ptr, b, h, t, sqb, sqn, sw, N, D, ACC)
            do = _load_tok(do_ptr, b, h, t, sdob, sdon, cols, N, D, ACC)
            cs, sn = _rope_tables(cos_ptr, sin_ptr, t, cols, N, D, ACC)
            qp, qm = _nala_query_map(q)
            qp_sw, qm_sw = _nala_query_map(q_sw)
            rqp, rqm = qp * cs + qp_sw * sn, qm * cs + qm_sw * sn
            num = _mm(rqp, s_p, DOT) + _mm(rqm, s_m, DOT)
            den = (tl.sum(qp * m_p[None, :], axis=1) + tl.sum(qm * m_m[None, :], axis=1) + EPS)[:, None]
            dnum = do / den
            dden = -tl.sum(do * num, axis=1)[:, None] / (den * den)
            acc_p += _outer(rqp, dnum, DOT)
            acc_m += _outer(rqm, dnum, DOT)
            sum_p += tl.sum(qp * dden, axis=0)
            sum_m += tl.sum(qm * dden, axis=0)
            # gradient reaching phi_q: rot^T(dnum S^T) + m dden, per half
            g_p = _mm_t(dnum, s_p, DOT) * cs - _mm_t(dnum, s_p_sw, DOT) * sn + m_p[None, :] * dden
            g_m = _mm_t(dnum, s_m, DOT) * cs - _mm_t(dnum, s_m_sw, DOT) * sn + m_m[None, :] * dden
            _store_tok(dq_ptr, _nala_query_map_bwd(q, g_p, g_m), b, h, t, sdqb, sdqn, cols, N, D)
        idx = bh * tl.num_programs(1) + c
        _store_partial_mats(pds_ptr, idx, acc_p, acc_m, rows, cols, D)
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
            kp, km, _ = _pola_map(k, p)
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
    def _pola_den(qp, qm, m_p, m_m, cols, D: tl.constexpr):
        sim = tl.sum(qp * m_p, axis=1) + tl.sum(qm * m_m, axis=1) + EPS
        opp = tl.sum(qp * m_m, axis=1) + tl.sum(qm * m_p, axis=1) + EPS
        return tl.where((cols < D // 2)[None, :], sim[:, None], opp[:, None])

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
            qp, qm, _ = _pola_map(q, p)
            num = _mm(qp, a, DOT) + _mm(qm, bm, DOT)
            _store_tok(o_ptr, num / _pola_den(qp, qm, m_p, m_m, cols, D), b, h, t, sob, son, cols, N, D)

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
            qp, qm, _ = _pola_map(q, p)
            num = _mm(qp, a, DOT) + _mm(qm, bm, DOT)
            den = _pola_den(qp, qm, m_p, m_m, cols, D)
            dnum = do / den
            dden = -do * num / (den * den)
            d_sim = tl.sum(tl.where(first, dden, 0.0), axis=1)[:, None]
            d_opp = tl.sum(tl.where(first, 0.0, dden), axis=1)[:, None]
            acc_a += _outer(qp, dnum, DOT)
            acc_b += _outer(qm, dnum, DOT)
            sum_p += tl.sum(qp * d_sim + qm * d_opp, axis=0)
            sum_m += tl.sum(qm * d_sim + qp * d_opp, axis=0)
            g_p = _mm_t(dnum, a, DOT) + d_sim * m_p + d_opp * m_m
            g_m = _mm_t(dnum, bm, DOT) + d_sim * m_m + d_opp * m_p
            dq, dp = _pola_map_bwd(q, p, g_p, g_m)
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
            kp, km, _ = _pola_map(k, p)
            dv = _mm(kp, ds_p, DOT) + _mm(km, ds_m, DOT)
            dk, dp = _pola_map_bwd(k, p, _mm_t(v, ds_p, DOT) + dm_p, _mm_t(v, ds_m, DOT) + dm_m)
            sum_dp += tl.sum(dp, axis=0)
            _store_tok(dk_ptr, dk, b, h, t, sdkb, sdkn, cols, N, D)
            _store_tok(dv_ptr, dv, b, h, t, sdvb, sdvn, cols, N, D)
        idx = bh * tl.num_programs(1) + c
        tl.store(pdp_ptr + idx.to(tl.int64) * D + cols, sum_dp)


# ----------------------------------------------------------------------------------------- launchers

def _acc_dtype(t):
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def _strides(t):
    assert t.dim() == 3 and t.stride(2) == 1, "token-major (B, N, C) with channel stride 1"
    return t.stride(0), t.stride(1)


def _tokens(*ts):
    """Token-major inputs as the kernels read them: any strides, but channel stride 1."""
    return [t if t.stride(2) == 1 else t.contiguous() for t in ts]


def _common(q, heads):
    b, n, c = q.shape
    d = c // heads
    assert d * heads == c and d >= 4 and d & (d - 1) == 0, "head width must be a power of two >= 4"
    return b, n, c, d, triton.cdiv(n, CHUNK), q.dtype == torch.float64


def _meta(heads, d, f64, per_token=False):
    """Kernel constants; per_token kernels (no reduction over tokens) run one block per program."""
    dot = {"": 0, "ieee": 1, "tf32x3": 2}[DOT_MODE] if not f64 and d >= 16 else 0  # tl.dot needs 16 x 16 tiles
    return dict(H=heads, D=d, BLOCK=BLOCK_T, CH=BLOCK_T if per_token else CHUNK,
                ACC=tl.float64 if f64 else tl.float32, DOT=dot, num_warps=NUM_WARPS)


def _token_grid(b, heads, n):
    return (b * heads, triton.cdiv(n, BLOCK_T))


def _partials(b, heads, chunks, d, acc, device):
    return (torch.empty(b * heads, chunks, 2, d, d, dtype=acc, device=device),
            torch.empty(b * heads, chunks, 2, d, dtype=acc, device=device))


# One function per kernel (the check script times them one by one); q, k, v: token-major (B, N, C).

def nala_state(k, v, cos, sin, heads):
    """Forward pass 1 -> state (B*h, 2, d, d) = [S+, S-], mean (B*h, 2, d) = [m+, m-] (both already / N)."""
    b, n, c, d, chunks, f64 = _common(k, heads)
    k, v = _tokens(k, v)
    ps, pm = _partials(b, heads, chunks, d, _acc_dtype(k), k.device)
    _nala_state_kernel[(b * heads, chunks)](k, v, cos.contiguous(), sin.contiguous(), ps, pm, n, *_strides(k),
                                            *_strides(v), **_meta(heads, d, f64))
    return ps.sum(1) / n, pm.sum(1) / n


def nala_out(q, state, mean, cos, sin, heads):
    """Forward pass 2 -> o (B, N, C), float32 (float64 for float64 q)."""
    b, n, c, d, _, f64 = _common(q, heads)
    (q,) = _tokens(q)
    o = torch.empty(b, n, c, dtype=_acc_dtype(q), device=q.device)
    _nala_out_kernel[_token_grid(b, heads, n)](q, state, mean, cos.contiguous(), sin.contiguous(), o, n,
                                               *_strides(q), *_strides(o), **_meta(heads, d, f64, per_token=True))
    return o


def nala_query_bwd(do, q, cos, sin, state, mean, heads):
    """Backward pass 1 -> dq, dstate, dmean (sums over tokens, not yet / N)."""
    b, n, c, d, chunks, f64 = _common(q, heads)
    q, do = _tokens(q, do)
    dq = torch.empty(b, n, c, dtype=q.dtype, device=q.device)
    pds, pdm = _partials(b, heads, chunks, d, _acc_dtype(q), q.device)
    _nala_qbwd_kernel[(b * heads, chunks)](q, do, state, mean, cos.contiguous(), sin.contiguous(), dq, pds, pdm,
                                           n, *_strides(q), *_strides(do), *_strides(dq), **_meta(heads, d, f64))
    return dq, pds.sum(1), pdm.sum(1)


def nala_key_bwd(k, v, cos, sin, dstate, dmean, heads):
    """Backward pass 2 -> dk, dv."""
    b, n, c, d, _, f64 = _common(k, heads)
    k, v = _tokens(k, v)
    dk, dv = (torch.empty(b, n, c, dtype=t.dtype, device=t.device) for t in (k, v))
    _nala_kbwd_kernel[_token_grid(b, heads, n)](k, v, dstate, dmean, cos.contiguous(), sin.contiguous(), dk, dv,
                                                n, *_strides(k), *_strides(v), *_strides(dk), *_strides(dv),
                                                **_meta(heads, d, f64, per_token=True))
    return dk, dv


def nala_forward(q, k, v, cos, sin, heads):
    """-> o (B, N, C), state, mean (see nala_state)."""
    state, mean = nala_state(k, v, cos, sin, heads)
    return nala_out(q, state, mean, cos, sin, heads), state, mean


def nala_backward(do, q, k, v, cos, sin, state, mean, heads):
    dq, dstate, dmean = nala_query_bwd(do, q, cos, sin, state, mean, heads)
    return (dq,) + nala_key_bwd(k, v, cos, sin, dstate, dmean, heads)


def pola_state(k, v, p):
    """p: the (h, d) exponent in the accumulation dtype. -> state, mean as nala_state."""
    heads = p.shape[0]
    b, n, c, d, chunks, f64 = _common(k, heads)
    k, v = _tokens(k, v)
    ps, pm = _partials(b, heads, chunks, d, _acc_dtype(k), k.device)
    _pola_state_kernel[(b * heads, chunks)](k, v, p, ps, pm, n, *_strides(k), *_strides(v), **_meta(heads, d, f64))
    return ps.sum(1) / n, pm.sum(1) / n


def pola_out(q, p, state, mean):
    heads = p.shape[0]
    b, n, c, d, _, f64 = _common(q, heads)
    (q,) = _tokens(q)
    o = torch.empty(b, n, c, dtype=_acc_dtype(q), device=q.device)
    _pola_out_kernel[_token_grid(b, heads, n)](q, p, state, mean, o, n, *_strides(q), *_strides(o),
                                               **_meta(heads, d, f64, per_token=True))
    return o


def pola_query_bwd(do, q, p, state, mean):
    """-> dq, dstate, dmean (sums over tokens), dp contribution (h, d)."""
    heads = p.shape[0]
    b, n, c, d, chunks, f64 = _common(q, heads)
    q, do = _tokens(q, do)
    dq = torch.empty(b, n, c, dtype=q.dtype, device=q.device)
    pds, pdm = _partials(b, heads, chunks, d, _acc_dtype(q), q.device)
    pdp = torch.empty(b, heads, chunks, d, dtype=_acc_dtype(q), device=q.device)
    _pola_qbwd_kernel[(b * heads, chunks)](q, do, p, state, mean, dq, pds, pdm, pdp, n, *_strides(q),
                                           *_strides(do), *_strides(dq), **_meta(heads, d, f64))
    return dq, pds.sum(1), pdm.sum(1), pdp.sum((0, 2))


def pola_key_bwd(k, v, p, dstate, dmean):
    """-> dk, dv, dp contribution (h, d)."""
    heads = p.shape[0]
    b, n, c, d, _, f64 = _common(k, heads)
    k, v = _tokens(k, v)
    dk, dv = (torch.empty(b, n, c, dtype=t.dtype, device=t.device) for t in (k, v))
    grid = _token_grid(b, heads, n)
    pdp = torch.empty(b, heads, grid[1], d, dtype=_acc_dtype(k), device=k.device)
    _pola_kbwd_kernel[grid](k, v, p, dstate, dmean, dk, dv, pdp, n, *_strides(k), *_strides(v), *_strides(dk),
                            *_strides(dv), **_meta(heads, d, f64, per_token=True))
    return dk, dv, pdp.sum((0, 2))


def pola_forward(q, k, v, p):
    """p: the (h, d) exponent. -> o, state, mean as nala_forward."""
    p = p.to(_acc_dtype(q)).contiguous()
    state, mean = pola_state(k, v, p)
    return pola_out(q, p, state, mean), state, mean


def pola_backward(do, q, k, v, p, state, mean):
    p_acc = p.to(_acc_dtype(q)).contiguous()
    dq, dstate, dmean, dp_q = pola_query_bwd(do, q, p_acc, state, mean)
    dk, dv, dp_k = pola_key_bwd(k, v, p_acc, dstate, dmean)
    return dq, dk, dv, (dp_q + dp_k).to(p.dtype)


# --------------------------------------------------------------------------------- custom ops + autograd

if AVAILABLE:
    @torch.library.custom_op("nalasr::nala_fwd", mutates_args=())
    def _nala_fwd_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                     heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return nala_forward(q, k, v, cos, sin, heads)

    @_nala_fwd_op.register_fake
    def _(q, k, v, cos, sin, heads):
        b, n, c = q.shape
        d, acc = c // heads, _acc_dtype(q)
        return (q.new_empty((b, n, c), dtype=acc), q.new_empty((b * heads, 2, d, d), dtype=acc),
                q.new_empty((b * heads, 2, d), dtype=acc))

    @torch.library.custom_op("nalasr::nala_bwd", mutates_args=())
    def _nala_bwd_op(do: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor,
                     sin: torch.Tensor, state: torch.Tensor, mean: torch.Tensor,
                     heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return nala_backward(do, q, k, v, cos, sin, state, mean, heads)

    @_nala_bwd_op.register_fake
    def _(do, q, k, v, cos, sin, state, mean, heads):
        return tuple(t.new_empty(t.shape) for t in (q, k, v))

    def _nala_setup(ctx, inputs, output):
        q, k, v, cos, sin, heads = inputs
        ctx.save_for_backward(q, k, v, cos, sin, output[1], output[2])
        ctx.heads = heads

    def _nala_grad(ctx, do, _dstate, _dmean):
        q, k, v, cos, sin, state, mean = ctx.saved_tensors
        dq, dk, dv = _nala_bwd_op(do, q, k, v, cos, sin, state, mean, ctx.heads)
        return dq, dk, dv, None, None, None

    _nala_fwd_op.register_autograd(_nala_grad, setup_context=_nala_setup)

    @torch.library.custom_op("nalasr::pola_fwd", mutates_args=())
    def _pola_fwd_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return pola_forward(q, k, v, p)

    @_pola_fwd_op.register_fake
    def _(q, k, v, p):
        b, n, c = q.shape
        heads, d, acc = p.shape[0], p.shape[1], _acc_dtype(q)
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
    try:
        import attention_math as am
        if not AVAILABLE:
            return False, "triton or torch.library.custom_op not available"
        b, (hh, ww), heads, c = 2, (16, 20), 4, 64  # 320 tokens: 2 chunks, the second ragged
        gen = torch.Generator(device="cpu").manual_seed(0)
        q, k, v, go = (torch.randn(b, hh * ww, c, generator=gen, dtype=torch.float64).to(device) for _ in range(4))
        power = torch.randn(heads, c // heads, generator=gen, dtype=torch.float64).to(device)
        if kind == "nala":
            tables = {dt: am.rope_angles(hh, ww, c // heads, device, dt) for dt in (torch.float64, torch.float32)}
            fns = (lambda q, k, v, p: am.nala_fast(q, k, v, heads, *tables[q.dtype]),
                   lambda q, k, v, p: nala_triton(q, k, v, heads, *tables[q.dtype]))
        else:
            fns = (lambda q, k, v, p: am.pola_fast(q, k, v, heads, p),
                   lambda q, k, v, p: pola_triton(q, k, v, heads, p))
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
