"""The attention arithmetic of NalaSR (docs/model.md), as pure functions on token-major tensors.

Every kind exists in up to three formulations that compute the same function:
  * plain     -- straight from the formulas, one head at a time, explicit pairs for RoPE (the reference);
  * fast      -- all heads at once, batched matmuls, log/exp powers with a zero mask (used for training);
  * quadratic -- the O(N^2) form (the N x N attention matrix), only to check that the linear forms are right.
Inputs q, k, v are (B, N, C) with N = H*W tokens in row-major pixel order; the result is (B, N, C) float32
(float64 when the inputs are float64). Callers run these outside autocast: the docs pin float32 arithmetic.
"""
import math

import torch
import torch.nn.functional as F

NALA_EPS = 1e-6  # norm guard and normaliser guard
ROPE_BASE = 10000.0


def _heads(t, heads):
    b, n, c = t.shape
    return t.reshape(b, n, heads, c // heads)


def _merge(t):
    b, n, h, d = t.shape
    return t.reshape(b, n, h * d)


def rope_angles(height, width, head_dim, device, dtype):
    """cos/sin tables (N, 2, d/4): [:, 0, j] uses the row y, [:, 1, j] the column x, angle pos * w_j."""
    quarter = head_dim // 4
    # w_j = 10000^(-j/(d/4-1)); with d = 4 there is a single pair and w_0 = 1 (the exponent is 0/0 otherwise).
    denom = max(quarter - 1, 1)
    omega = ROPE_BASE ** (-torch.arange(quarter, dtype=torch.float64) / denom)
    ys = torch.arange(height, dtype=torch.float64).repeat_interleave(width)
    xs = torch.arange(width, dtype=torch.float64).repeat(height)
    angles = torch.stack([ys[:, None] * omega, xs[:, None] * omega], dim=1)
    return angles.cos().to(device, dtype), angles.sin().to(device, dtype)


def rope_apply(phi, cos, sin):
    """Rotates every d-wide half of phi (B, N, h, 2d): quarter 0 by row, quarter 1 by column, adjacent pairs."""
    b, n, h, two_d = phi.shape
    quarter = two_d // 8
    p = phi.reshape(b, n, h, 2, 2, quarter, 2)
    a, bb = p[..., 0], p[..., 1]
    c = cos.reshape(1, n, 1, 1, 2, quarter)
    s = sin.reshape(1, n, 1, 1, 2, quarter)
    return torch.stack([a * c - bb * s, a * s + bb * c], dim=-1).reshape(b, n, h, two_d)


def positive_power(x, p):
    """x**p for x >= 0 with 0**p = 0 and a zero (never NaN) gradient there, in one fusable expression."""
    safe = x.clamp_min(1e-30)  # keeps log finite where the mask discards the value
    return torch.where(x > 0, torch.exp(p * torch.log(safe)), torch.zeros_like(x))


# ----------------------------------------------------------------------------------------------- NaLa

def nala_feature_maps(q, k):
    """phi_q, phi_k (B, N, h, 2d), un-rotated, for per-head q, k (B, N, h, d)."""
    k3 = k * k * k
    phi_k = torch.cat([torch.relu(k3), torch.relu(-k3)], dim=-1)
    n = torch.linalg.vector_norm(q, dim=-1, keepdim=True) + NALA_EPS
    p = 3.0 * (0.5 + torch.tanh(n))
    qn = q / n
    phi_q = torch.cat([positive_power(torch.relu(qn), p), positive_power(torch.relu(-qn), p)], dim=-1)
    return phi_q, phi_k


def nala_fast(q, k, v, heads, cos, sin):
    q, k, v = _heads(q, heads), _heads(k, heads), _heads(v, heads)
    n_tokens = q.shape[1]
    phi_q, phi_k = nala_feature_maps(q, k)
    rot_q, rot_k = rope_apply(phi_q, cos, sin), rope_apply(phi_k, cos, sin)
    state = torch.einsum("bnhe,bnhd->bhed", rot_k, v) / n_tokens  # S, (B, h, 2d, d)
    mean_k = phi_k.mean(dim=1)  # m, (B, h, 2d)
    numer = torch.einsum("bnhe,bhed->bnhd", rot_q, state)
    denom = torch.einsum("bnhe,bhe->bnh", phi_q, mean_k).unsqueeze(-1) + NALA_EPS
    return _merge(numer / denom)


def _rope_plain(phi, height, width, head_dim):
    """Reference RoPE on one head's map (B, N, 2d): explicit loops over halves, quarters and pairs."""
    out = phi.clone()
    quarter = head_dim // 4
    denom = max(quarter - 1, 1)
    ys = torch.arange(height, dtype=phi.dtype, device=phi.device).repeat_interleave(width)
    xs = torch.arange(width, dtype=phi.dtype, device=phi.device).repeat(height)
    for half in range(2):
        for axis, pos in enumerate((ys, xs)):
            for j in range(quarter):
                theta = pos * ROPE_BASE ** (-j / denom)
                ia = half * head_dim + axis * (head_dim // 2) + 2 * j
                a, b = phi[..., ia], phi[..., ia + 1]
                out[..., ia] = a * torch.cos(theta) - b * torch.sin(theta)
                out[..., ia + 1] = a * torch.sin(theta) + b * torch.cos(theta)
    return out


def _nala_plain_head(q, k, height, width):
    """One head: q, k (B, N, d) -> (phi_q, rotated phi_q, phi_k, rotated phi_k), each (B, N, 2d)."""
    d = q.shape[-1]
    k = k ** 3
    phi_k = torch.cat([torch.relu(k), torch.relu(-k)], dim=-1)
    n = torch.sqrt((q * q).sum(dim=-1, keepdim=True)) + NALA_EPS
    p = 3.0 * (0.5 + torch.tanh(n))
    phi_q = torch.cat([(torch.relu(q) / n) ** p, (torch.relu(-q) / n) ** p], dim=-1)
    return phi_q, _rope_plain(phi_q, height, width, d), phi_k, _rope_plain(phi_k, height, width, d)


def nala_plain(q, k, v, heads, height, width):
    outs = []
    d = q.shape[2] // heads
    n_tokens = q.shape[1]
    for i in range(heads):
        cs = slice(i * d, (i + 1) * d)
        phi_q, rot_q, phi_k, rot_k = _nala_plain_head(q[..., cs], k[..., cs], height, width)
        state = rot_k.transpose(1, 2) @ v[..., cs] / n_tokens  # (B, 2d, d)
        mean_k = phi_k.sum(dim=1, keepdim=True) / n_tokens  # (B, 1, 2d)
        denom = (phi_q * mean_k).sum(dim=-1, keepdim=True) + NALA_EPS
        outs.append((rot_q @ state) / denom)
    return torch.cat(outs, dim=-1)


def nala_quadratic(q, k, v, heads, height, width):
    outs = []
    d = q.shape[2] // heads
    n_tokens = q.shape[1]
    for i in range(heads):
        cs = slice(i * d, (i + 1) * d)
        phi_q, rot_q, phi_k, rot_k = _nala_plain_head(q[..., cs], k[..., cs], height, width)
        scores = rot_q @ rot_k.transpose(1, 2) / n_tokens  # (B, N, N)
        denom = (phi_q @ phi_k.transpose(1, 2)).sum(dim=-1, keepdim=True) / n_tokens + NALA_EPS
        outs.append(scores @ v[..., cs] / denom)
    return torch.cat(outs, dim=-1)


# ----------------------------------------------------------------------------------------------- Pola

def pola_exponent(power):
    """p = 1 + 4 sigmoid(power), (h, d)."""
    return 1.0 + 4.0 * torch.sigmoid(power)


def pola_fast(q, k, v, heads, power):
    """q, k already divided by softplus(scale) and k position-enhanced; power is the raw (h, d) parameter."""
    q, k, v = _heads(q, heads), _heads(k, heads), _heads(v, heads)
    n_tokens, d = q.shape[1], q.shape[3]
    p = pola_exponent(power)
    q_pos, q_neg = positive_power(torch.relu(q), p), positive_power(torch.relu(-q), p)
    k_pos, k_neg = positive_power(torch.relu(k), p), positive_power(torch.relu(-k), p)
    phi_sim = torch.cat([q_pos, q_neg], dim=-1)
    phi_opp = torch.cat([q_neg, q_pos], dim=-1)
    phi_k = torch.cat([k_pos, k_neg], dim=-1)
    mean_k = phi_k.mean(dim=1)
    state = torch.einsum("bnhe,bnhd->bhed", phi_k, v) / n_tokens  # [S1 | S2], (B, h, 2d, d)
    half = d // 2
    x_sim = torch.einsum("bnhe,bhed->bnhd", phi_sim, state[..., :half])
    x_sim = x_sim / (torch.einsum("bnhe,bhe->bnh", phi_sim, mean_k).unsqueeze(-1) + NALA_EPS)
    x_opp = torch.einsum("bnhe,bhed->bnhd", phi_opp, state[..., half:])
    x_opp = x_opp / (torch.einsum("bnhe,bhe->bnh", phi_opp, mean_k).unsqueeze(-1) + NALA_EPS)
    return _merge(torch.cat([x_sim, x_opp], dim=-1))


def _pola_plain_head(q, k, p):
    """One head: q, k (B, N, d), p (d) -> phi_sim(q), phi_opp(q), phi(k), each (B, N, 2d)."""
    q_pos, q_neg = torch.relu(q) ** p, torch.relu(-q) ** p
    k_pos, k_neg = torch.relu(k) ** p, torch.relu(-k) ** p
    return torch.cat([q_pos, q_neg], -1), torch.cat([q_neg, q_pos], -1), torch.cat([k_pos, k_neg], -1)


def pola_plain(q, k, v, heads, power):
    outs = []
    d = q.shape[2] // heads
    n_tokens, half = q.shape[1], d // 2
    p_all = pola_exponent(power)
    for i in range(heads):
        cs = slice(i * d, (i + 1) * d)
        phi_sim, phi_opp, phi_k = _pola_plain_head(q[..., cs], k[..., cs], p_all[i])
        vh = v[..., cs]
        mean_k = phi_k.sum(dim=1, keepdim=True) / n_tokens
        s1 = phi_k.transpose(1, 2) @ vh[..., :half] / n_tokens
        s2 = phi_k.transpose(1, 2) @ vh[..., half:] / n_tokens
        x_sim = phi_sim @ s1 / ((phi_sim * mean_k).sum(dim=-1, keepdim=True) + NALA_EPS)
        x_opp = phi_opp @ s2 / ((phi_opp * mean_k).sum(dim=-1, keepdim=True) + NALA_EPS)
        outs.append(torch.cat([x_sim, x_opp], dim=-1))
    return torch.cat(outs, dim=-1)


def pola_quadratic(q, k, v, heads, power):
    outs = []
    d = q.shape[2] // heads
    n_tokens, half = q.shape[1], d // 2
    p_all = pola_exponent(power)
    for i in range(heads):
        cs = slice(i * d, (i + 1) * d)
        phi_sim, phi_opp, phi_k = _pola_plain_head(q[..., cs], k[..., cs], p_all[i])
        vh = v[..., cs]
        a_sim = phi_sim @ phi_k.transpose(1, 2) / n_tokens
        a_opp = phi_opp @ phi_k.transpose(1, 2) / n_tokens
        x_sim = a_sim @ vh[..., :half] / (a_sim.sum(dim=-1, keepdim=True) + NALA_EPS)
        x_opp = a_opp @ vh[..., half:] / (a_opp.sum(dim=-1, keepdim=True) + NALA_EPS)
        outs.append(torch.cat([x_sim, x_opp], dim=-1))
    return torch.cat(outs, dim=-1)


# -------------------------------------------------------------------------------------------- Softmax

def softmax_fast(q, k, v, heads):
    q, k, v = (_heads(t, heads).transpose(1, 2) for t in (q, k, v))
    return _merge(F.scaled_dot_product_attention(q, k, v).transpose(1, 2))


def softmax_plain(q, k, v, heads):
    """The memory baseline: the N x N score matrix materialised one head at a time."""
    outs = []
    d = q.shape[2] // heads
    for i in range(heads):
        cs = slice(i * d, (i + 1) * d)
        scores = q[..., cs] @ k[..., cs].transpose(1, 2) / math.sqrt(d)
        outs.append(torch.softmax(scores, dim=-1) @ v[..., cs])
    return torch.cat(outs, dim=-1)
