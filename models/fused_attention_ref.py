"""NaLa and Pola attention as autograd Functions with a hand-derived backward: the spec of the Triton kernels.

Same function as attention_math.nala_plain / pola_plain (docs/model.md). The forward saves only q, k, v (and
the small per-head state S and mean key m); the backward recomputes the feature maps. Everything is written the
way models/triton_attention.py computes it, so each kernel is a translation of one function here:

  forward  pass 1  nala_state       S = (1/N) sum_t rot(phi_k) v^T, m = (1/N) sum_t phi_k        per (image, head)
           pass 2  nala_output      o = rot(phi_q) S / (phi_q . m + eps)                          per token
  backward pass 1  nala_query_bwd   dq, and dS = sum_t rot(phi_q) dnum^T, dm = sum_t phi_q dden   per token + sum
           pass 2  nala_key_bwd     dk, dv from dS, dm                                            per token

Feature maps are kept as a positive and a negative half (each d wide) instead of one 2d-wide map. RoPE works
per channel: channel c of a half is paired with channel c^1 and uses angle table entry c//2 of the (N, 2, d/4)
tables (row angles for c < d/2, column angles above), so rot(x)_c = x_c cos + x_{c^1} sn_c with sn_c = -sin for
even c and +sin for odd c, and its transpose is rot^T(g)_c = g_c cos - g_{c^1} sn_c.

Derivatives (per token and head; g = the gradient reaching the active half of a feature map, i.e. the positive
half where the input is > 0, the negative half where it is < 0, nothing at 0):
  NaLa key    phi = relu(+-k^3)                        dk_c = 3 k_c^2 (g+_c if k_c > 0, -g-_c if k_c < 0)
  NaLa query  f_c = (|q_c|/n)^p, n = |q| + eps, p = 3 (1/2 + tanh n)
              dq_c = p g_c f_c / q_c - p q_c / (|q| n) F1 + 3 (1 - tanh^2 n) q_c / |q| F2,
              F1 = sum_c g_c f_c, F2 = sum_c g_c f_c log(|q_c|/n)
  Pola        f_c = |x_c|^p_c                          dx_c = p_c g_c f_c / x_c, dp_c += g_c f_c log|x_c|
  output      o = num / den: dnum = do / den, dden = -(do . o) / den (NaLa; Pola per column, see pola_*).
"""
import torch

EPS = 1e-6
TINY = 1e-30


def _zeros(x):
    return torch.zeros_like(x)


def pair_swap(x):
    """x[..., c ^ 1]: every channel's RoPE partner."""
    idx = torch.arange(x.shape[-1], device=x.device) ^ 1
    return x[..., idx]


def channel_tables(cos, sin, d):
    """(N, 2, d/4) angle tables -> per-channel cos and signed sin, (N, 1, d) (broadcast over heads)."""
    n = cos.shape[0]
    cs = cos.reshape(n, d // 2).repeat_interleave(2, dim=-1)
    sign = torch.tensor([-1.0, 1.0], dtype=sin.dtype, device=sin.device).repeat(d // 2)
    sn = sin.reshape(n, d // 2).repeat_interleave(2, dim=-1) * sign
    return cs[:, None, :], sn[:, None, :]


def rot(x, cs, sn):
    return x * cs + pair_swap(x) * sn


def rot_t(g, cs, sn):
    return g * cs - pair_swap(g) * sn


def split_heads(t, heads):
    b, n, c = t.shape
    return t.reshape(b, n, heads, c // heads)


# ------------------------------------------------------------------------------------------ feature maps

def nala_key_map(k):
    k3 = k * k * k
    return torch.relu(k3), torch.relu(-k3)


def nala_key_map_bwd(k, g_pos, g_neg):
    return 3 * k * k * torch.where(k > 0, g_pos, torch.where(k < 0, -g_neg, _zeros(k)))


def _nala_query_parts(q):
    nrm = torch.sqrt((q * q).sum(-1, keepdim=True))
    n = nrm + EPS
    th = torch.tanh(n)
    p = 3.0 * (0.5 + th)
    logu = torch.log(torch.clamp(q.abs() / n, min=TINY))
    f = torch.where(q != 0, torch.exp(p * logu), _zeros(q))
    return nrm, n, th, p, logu, f


def nala_query_map(q):
    f = _nala_query_parts(q)[-1]
    return torch.where(q > 0, f, _zeros(f)), torch.where(q < 0, f, _zeros(f))


def nala_query_map_bwd(q, g_pos, g_neg):
    nrm, n, th, p, logu, f = _nala_query_parts(q)
    g = torch.where(q > 0, g_pos, torch.where(q < 0, g_neg, _zeros(q)))
    gf = g * f
    f1 = gf.sum(-1, keepdim=True)
    f2 = (gf * logu).sum(-1, keepdim=True)
    f_over_q = f / torch.where(q != 0, q, torch.ones_like(q))
    q_unit = q / torch.clamp(nrm, min=TINY)
    return p * g * f_over_q - p * q_unit / n * f1 + 3.0 * (1 - th * th) * q_unit * f2


def pola_map(x, p):
    logx = torch.log(torch.clamp(x.abs(), min=TINY))
    f = torch.where(x != 0, torch.exp(p * logx), _zeros(x))
    return torch.where(x > 0, f, _zeros(f)), torch.where(x < 0, f, _zeros(f)), logx


def pola_map_bwd(x, p, g_pos, g_neg):
    """-> (dx, the per-element contribution to dp)."""
    fp, fn, logx = pola_map(x, p)
    f = fp + fn
    g = torch.where(x > 0, g_pos, torch.where(x < 0, g_neg, _zeros(x)))
    f_over_x = f / torch.where(x != 0, x, torch.ones_like(x))
    return p * g * f_over_x, g * f * logx


# ------------------------------------------------------------------------------------------------ NaLa
# Per-head tensors: q, k, v (B, N, h, d); state (B, h, 2, d, d) = [S+, S-] (rows of S from phi+ / phi-);
# mean (B, h, 2, d) = [m+, m-].

def nala_state(k, v, cs, sn):
    kp, km = nala_key_map(k)
    n = k.shape[1]
    state = torch.stack([torch.einsum("bthe,bthd->bhed", rot(x, cs, sn), v) for x in (kp, km)], dim=2) / n
    mean = torch.stack([kp.sum(1), km.sum(1)], dim=2) / n
    return state, mean


def nala_output(q, state, mean, cs, sn):
    qp, qm = nala_query_map(q)
    num = (torch.einsum("bthe,bhed->bthd", rot(qp, cs, sn), state[:, :, 0])
           + torch.einsum("bthe,bhed->bthd", rot(qm, cs, sn), state[:, :, 1]))
    den = (qp * mean[:, None, :, 0]).sum(-1, keepdim=True) + (qm * mean[:, None, :, 1]).sum(-1, keepdim=True) + EPS
    return num / den, den


def nala_query_bwd(q, do, state, mean, cs, sn):
    """-> dq, dstate (the sum over tokens, not yet / N), dmean (same)."""
    qp, qm = nala_query_map(q)
    o, den = nala_output(q, state, mean, cs, sn)
    dnum = do / den
    dden = -(do * o).sum(-1, keepdim=True) / den
    dstate = torch.stack([torch.einsum("bthe,bthd->bhed", rot(x, cs, sn), dnum) for x in (qp, qm)], dim=2)
    dmean = torch.stack([(qp * dden).sum(1), (qm * dden).sum(1)], dim=2)
    g = [rot_t(torch.einsum("bthd,bhed->bthe", dnum, state[:, :, i]), cs, sn) + mean[:, None, :, i] * dden
         for i in range(2)]
    return nala_query_map_bwd(q, *g), dstate, dmean


def nala_key_bwd(k, v, dstate, dmean, cs, sn):
    """dstate, dmean as returned by nala_query_bwd (the 1/N of S and m is applied here)."""
    n = k.shape[1]
    kp, km = nala_key_map(k)
    g = [rot_t(torch.einsum("bthd,bhed->bthe", v, dstate[:, :, i]), cs, sn) / n + dmean[:, None, :, i] / n
         for i in range(2)]
    dv = (torch.einsum("bthe,bhed->bthd", rot(kp, cs, sn), dstate[:, :, 0])
          + torch.einsum("bthe,bhed->bthd", rot(km, cs, sn), dstate[:, :, 1])) / n
    return nala_key_map_bwd(k, *g), dv


class NalaAttentionRef(torch.autograd.Function):
    """o = NaLa(q, k, v) for (B, N, C) inputs; cos, sin: the (N, 2, d/4) tables of attention_math.rope_angles."""

    @staticmethod
    def forward(ctx, q, k, v, cos, sin, heads):
        b, n, c = q.shape
        cs, sn = channel_tables(cos, sin, c // heads)
        qh, kh, vh = (split_heads(t, heads) for t in (q, k, v))
        state, mean = nala_state(kh, vh, cs, sn)
        o, _ = nala_output(qh, state, mean, cs, sn)
        ctx.save_for_backward(q, k, v, cos, sin, state, mean)
        ctx.heads = heads
        return o.reshape(b, n, c)

    @staticmethod
    def backward(ctx, do):
        q, k, v, cos, sin, state, mean = ctx.saved_tensors
        b, n, c = q.shape
        cs, sn = channel_tables(cos, sin, c // ctx.heads)
        qh, kh, vh, doh = (split_heads(t, ctx.heads) for t in (q, k, v, do))
        dq, dstate, dmean = nala_query_bwd(qh, doh, state, mean, cs, sn)
        dk, dv = nala_key_bwd(kh, vh, dstate, dmean, cs, sn)
        return dq.reshape(b, n, c), dk.reshape(b, n, c), dv.reshape(b, n, c), None, None, None


# ------------------------------------------------------------------------------------------------ Pola
# phi_sim(q) = [q+, q-], phi_opp(q) = [q-, q+]; output column j < d/2 uses phi_sim with S1 (state columns < d/2),
# column j >= d/2 uses phi_opp with S2. Written with the positive/negative halves of q:
#   num_j = q+ . A_j + q- . B_j,  A = [S+ | S-] by column half, B = [S- | S+]
#   den_j = q+ . m+ + q- . m- + eps (j < d/2),  q+ . m- + q- . m+ + eps (j >= d/2)

def _pola_ab(state):
    """state (B, h, 2, d, d) -> A, B (B, h, d, d) as above."""
    half = state.shape[-1] // 2
    sp, sm = state[:, :, 0], state[:, :, 1]
    return torch.cat([sp[..., :half], sm[..., half:]], -1), torch.cat([sm[..., :half], sp[..., half:]], -1)


def _pola_den(qp, qm, mean, d):
    """-> den (B, N, h, d)."""
    mp, mm = mean[:, None, :, 0], mean[:, None, :, 1]
    sim = (qp * mp).sum(-1, keepdim=True) + (qm * mm).sum(-1, keepdim=True) + EPS
    opp = (qp * mm).sum(-1, keepdim=True) + (qm * mp).sum(-1, keepdim=True) + EPS
    first = torch.arange(d, device=qp.device) < d // 2
    return torch.where(first, sim, opp)


def pola_state(k, v, p):
    kp, km, _ = pola_map(k, p)
    n = k.shape[1]
    state = torch.stack([torch.einsum("bthe,bthd->bhed", x, v) for x in (kp, km)], dim=2) / n
    mean = torch.stack([kp.sum(1), km.sum(1)], dim=2) / n
    return state, mean


def pola_output(q, state, mean, p):
    qp, qm, _ = pola_map(q, p)
    a, b = _pola_ab(state)
    num = torch.einsum("bthe,bhed->bthd", qp, a) + torch.einsum("bthe,bhed->bthd", qm, b)
    den = _pola_den(qp, qm, mean, q.shape[-1])
    return num / den, den


def pola_query_bwd(q, do, state, mean, p):
    """-> dq, dp contribution (h, d), dstate (sum over tokens), dmean (sum over tokens)."""
    half = q.shape[-1] // 2
    qp, qm, _ = pola_map(q, p)
    o, den = pola_output(q, state, mean, p)
    dnum = do / den
    dden = -do * o / den
    dsim, dopp = dden[..., :half].sum(-1, keepdim=True), dden[..., half:].sum(-1, keepdim=True)
    a, b = _pola_ab(state)
    mp, mm = mean[:, None, :, 0], mean[:, None, :, 1]
    g_pos = torch.einsum("bthd,bhed->bthe", dnum, a) + dsim * mp + dopp * mm
    g_neg = torch.einsum("bthd,bhed->bthe", dnum, b) + dsim * mm + dopp * mp
    da = torch.einsum("bthe,bthd->bhed", qp, dnum)
    db = torch.einsum("bthe,bthd->bhed", qm, dnum)
    dstate = torch.stack([torch.cat([da[..., :half], db[..., half:]], -1),
                          torch.cat([db[..., :half], da[..., half:]], -1)], dim=2)
    dmean = torch.stack([(qp * dsim + qm * dopp).sum(1), (qm * dsim + qp * dopp).sum(1)], dim=2)
    dq, dp = pola_map_bwd(q, p, g_pos, g_neg)
    return dq, dp.sum((0, 1)), dstate, dmean


def pola_key_bwd(k, v, dstate, dmean, p):
    n = k.shape[1]
    kp, km, _ = pola_map(k, p)
    g = [(torch.einsum("bthd,bhed->bthe", v, dstate[:, :, i]) + dmean[:, None, :, i]) / n for i in range(2)]
    dv = (torch.einsum("bthe,bhed->bthd", kp, dstate[:, :, 0])
          + torch.einsum("bthe,bhed->bthd", km, dstate[:, :, 1])) / n
    dk, dp = pola_map_bwd(k, p, *g)
    return dk, dv, dp.sum((0, 1))


class PolaAttentionRef(torch.autograd.Function):
    """o = Pola(q, k, v) for (B, N, C) inputs (q, k already scaled); p: the (h, d) exponent 1 + 4 sigmoid(power)."""

    @staticmethod
    def forward(ctx, q, k, v, p):
        b, n, c = q.shape
        heads = p.shape[0]
        qh, kh, vh = (split_heads(t, heads) for t in (q, k, v))
        state, mean = pola_state(kh, vh, p)
        o, _ = pola_output(qh, state, mean, p)
        ctx.save_for_backward(q, k, v, p, state, mean)
        return o.reshape(b, n, c)

    @staticmethod
    def backward(ctx, do):
        q, k, v, p, state, mean = ctx.saved_tensors
        b, n, c = q.shape
        heads = p.shape[0]
        qh, kh, vh, doh = (split_heads(t, heads) for t in (q, k, v, do))
        dq, dp_q, dstate, dmean = pola_query_bwd(qh, doh, state, mean, p)
        dk, dv, dp_k = pola_key_bwd(kh, vh, dstate, dmean, p)
        return dq.reshape(b, n, c), dk.reshape(b, n, c), dv.reshape(b, n, c), dp_q + dp_k


def nala_ref(q, k, v, heads, cos, sin):
    return NalaAttentionRef.apply(q, k, v, cos, sin, heads)


def pola_ref(q, k, v, heads, power):
    """Same arguments as attention_math.pola_fast (power = the raw parameter)."""
    return PolaAttentionRef.apply(q, k, v, 1.0 + 4.0 * torch.sigmoid(power))
