"""A torch emulation of cuda_attention/nala_attention.cu for CPU checks (check_attention_cuda_cpu.py).

Written from the CUDA code with the same structure: the same blocks (ChunkOf / TokenOf), tiles of the reducing
kernels, per-thread matrix entries, the per-token functions with their loops over channels (a channel is a
(tokens,) tensor: the threads of a tile run side by side), reads and writes through NalasrNalaArgs's pointers
and strides (Memory maps a pointer back into the tensor that holds it) and the finish kernel's fixed-order sum.
Every store is counted, so a check can require each output element and partial-sum entry stored exactly once.
Float math (TOKEN_MMA) runs out, qbwd and kbwd in the .cu's quad layout: lanes (g, tq) of a warp's 16 tokens as
(tiles, 8, 4) tensors, their slots, quad sums, and the m16n8k8 MMAs built from the lanes' fragments by the PTX
ISA's fragment tables (mma) with the 3xTF32 split (tf32). Geometry.float_structure runs that float structure in
float64 arithmetic, so the check can require float64 equality of the layout with nala_plain.
"""
import dataclasses

import torch

import cuda_attention as ca

EPS, TINY = 1e-6, 1e-30
SMEM_BYTES = 49152
PAD = 8  # a tile's rows are staged (zero past the tokens) up to a multiple of PAD


@dataclasses.dataclass
class Geometry:
    chunk: int = ca.CHUNK
    threads: int = ca.REDUCE_THREADS
    token_threads: int = ca.TOKEN_THREADS
    token_mma: bool = bool(ca.TOKEN_MMA)
    token_tiles: int = ca.TOKEN_TILES
    float_structure: bool = False  # float64 arithmetic in the float kernels' structure (tensor-core sums, quad layout)


def tensor_sums(acc, geo):
    """The reducing kernels sum on the tensor cores (warp partials): float math."""
    return acc != torch.float64 or geo.float_structure


def quad(acc, geo):
    """out / qbwd / kbwd in the quad layout: float math with TOKEN_MMA."""
    return tensor_sums(acc, geo) and geo.token_mma


def tile_tokens(acc_bytes, d, extra, threads=ca.REDUCE_THREADS):
    """tile_tokens<A, D>(extra) of the .cu."""
    t = threads
    while t > PAD and 5 * d * (t + 4) * acc_bytes + extra > SMEM_BYTES:
        t //= 2
    return t


class Memory:
    """Pointer -> flat view into the registered tensor holding it; counts the stores to every element."""

    def __init__(self, *tensors):
        self.tensors = list(tensors)
        self.counts = {}

    def _find(self, ptr):
        for t in self.tensors:
            st = t.storage()
            if st.data_ptr() <= ptr < st.data_ptr() + st.size() * t.element_size():
                off = (ptr - st.data_ptr()) // t.element_size()
                flat = t.new_empty(0).set_(st, off, (st.size() - off,), (1,))
                key = (st.data_ptr(), off)
                return flat, key
        raise KeyError(f"pointer {ptr:#x} in no registered tensor")

    def load(self, ptr, idx):
        return self._find(ptr)[0][idx]

    def store(self, ptr, idx, values):
        flat, key = self._find(ptr)
        flat[idx] = values.to(flat.dtype)
        counts = self.counts.setdefault(key, torch.zeros(flat.numel(), dtype=torch.int64))
        counts.index_add_(0, idx.reshape(-1), torch.ones(idx.numel(), dtype=torch.int64))

    def stored_once(self, t):
        """Every element of contiguous t stored exactly once."""
        counts = self.counts.get((t.storage().data_ptr(), t.storage_offset()))
        return counts is not None and bool((counts[:t.numel()] == 1).all())


# ------------------------------------------------------------------------------------------ per-token math

def load_head(mem, ptr, sb, sn, b, t, h, d, acc):
    return [mem.load(ptr, b * sb + t * sn + h * d + c).to(acc) for c in range(d)]


def store_head(mem, ptr, sb, sn, b, t, h, x):
    d = len(x)
    for c in range(d):
        mem.store(ptr, b * sb + t * sn + h * d + c, x[c])


class Rope:
    """d // 2 cos / sin entries from element `offset` of the tables (t d/2, + the lane's first pair in the quad
    layout, where d is the lane's channels); pairs of each d-wide half."""

    def __init__(self, mem, a, offset, d, acc):
        self.d = d
        self.cs = [mem.load(a.cos, offset + i).to(acc) for i in range(d // 2)]
        self.sn = [mem.load(a.sin, offset + i).to(acc) for i in range(d // 2)]

    def apply(self, x):
        y = [None] * len(x)
        for e in range(0, 2 * self.d, 2):
            i = (e % self.d) // 2
            y[e] = x[e] * self.cs[i] - x[e + 1] * self.sn[i]
            y[e + 1] = x[e] * self.sn[i] + x[e + 1] * self.cs[i]
        return y

    def apply_t(self, x):
        y = [None] * len(x)
        for e in range(0, 2 * self.d, 2):
            i = (e % self.d) // 2
            y[e] = x[e] * self.cs[i] + x[e + 1] * self.sn[i]
            y[e + 1] = x[e + 1] * self.cs[i] - x[e] * self.sn[i]
        return y


def key_map(k):
    k3 = [kc * kc * kc for kc in k]
    zero = torch.zeros_like(k[0])
    return ([torch.where(x > 0, x, zero) for x in k3] + [torch.where(x < 0, -x, zero) for x in k3])


def key_map_bwd(k, g):
    d = len(k)
    zero = torch.zeros_like(k[0])
    return [3 * k[c] * k[c] * torch.where(k[c] > 0, g[c], torch.where(k[c] < 0, -g[d + c], zero)) for c in range(d)]


def quad_sum(x):
    """The butterfly over the four lanes (last axis) of a quad: shfl_xor 1, then 2."""
    y = x + x[..., [1, 0, 3, 2]]
    return y + y[..., [2, 3, 0, 1]]


class QueryParts:
    def __init__(self, q, quad=False):
        d = len(q)
        self.sum = quad_sum if quad else (lambda x: x)
        ss = torch.zeros_like(q[0])
        for c in range(d):
            ss = ss + q[c] * q[c]
        self.nrm = torch.sqrt(self.sum(ss))
        n = self.nrm + EPS
        self.inv_n = 1 / n
        self.th = torch.tanh(n)
        self.p = 3 * (0.5 + self.th)
        self.logu, self.f = [], []
        for c in range(d):
            u = q[c].abs() * self.inv_n
            self.logu.append(torch.log(u.clamp_min(TINY)))
            self.f.append(torch.where(q[c] != 0, torch.exp(self.p * self.logu[c]), torch.zeros_like(u)))

    def halves(self, q):
        zero = torch.zeros_like(q[0])
        return ([torch.where(qc > 0, fc, zero) for qc, fc in zip(q, self.f)]
                + [torch.where(qc < 0, fc, zero) for qc, fc in zip(q, self.f)])

    def backward(self, q, g):
        d = len(q)
        zero = torch.zeros_like(q[0])
        gs, f1, f2 = [], zero, zero
        for c in range(d):
            gs.append(torch.where(q[c] > 0, g[c], torch.where(q[c] < 0, g[d + c], zero)))
            gf = gs[c] * self.f[c]
            f1 = f1 + gf
            f2 = f2 + gf * self.logu[c]
        f1, f2 = self.sum(f1), self.sum(f2)
        per_token = (3 * (1 - self.th * self.th) * f2 - self.p * self.inv_n * f1) / self.nrm.clamp_min(TINY)
        return [self.p * gs[c] * (self.f[c] / torch.where(q[c] != 0, q[c], torch.ones_like(q[c])))
                + q[c] * per_token for c in range(d)]


def vec_mat(x, m, d):
    """y = x M, M (2d x d) a flat (2d*d,) tensor."""
    y = [torch.zeros_like(x[0]) for _ in range(d)]
    for e in range(2 * d):
        for j in range(d):
            y[j] = y[j] + x[e] * m[e * d + j]
    return y


def mat_vec(m, x, d):
    out = []
    for e in range(2 * d):
        s = torch.zeros_like(x[0])
        for j in range(d):
            s = s + m[e * d + j] * x[j]
        out.append(s)
    return out


def dot2d(x, m):
    s = torch.zeros_like(x[0])
    for e, xe in enumerate(x):
        s = s + xe * m[e]
    return s


def stage_head(mem, mat_ptr, vec_ptr, bh, d, divisor, acc):
    mat = mem.load(mat_ptr, bh * 2 * d * d + torch.arange(2 * d * d)).to(acc)
    vec = mem.load(vec_ptr, bh * 2 * d + torch.arange(2 * d)).to(acc)
    return (mat / divisor, vec / divisor) if divisor > 0 else (mat, vec)


# ------------------------------------------------------------------- the quad layout on the tensor cores

def tf32(x):
    """cvt.rna.tf32.f32: float32 rounded to 10 mantissa bits, ties away from zero (finite values)."""
    return ((x.view(torch.int32) + 0x1000) & ~0x1FFF).view(torch.float32)


def split(x):
    """split_tf32: x = hi + lo (float64 arithmetic: hi = x, lo = 0)."""
    if x.dtype == torch.float64:
        return x, torch.zeros_like(x)
    hi = tf32(x)
    return hi, tf32(x - hi)


def mma(c, a, b):
    """mma.sync.m16n8k8 (row.col) from the lanes' fragments, PTX ISA tables for .tf32:
    a_r = A[g + 8 (r & 1)][tq + 4 (r >> 1)], b_r = B[tq + 4 r][g], c_r = C[g + 8 (r >> 1)][2 tq + (r & 1)];
    a, c: lists of (tiles, 8 (g), 4 (tq)) tensors, b: a list of (8, 4) lane values (the same for every tile)."""
    tiles, dtype = a[0].shape[0], a[0].dtype
    am = torch.full((tiles, 16, 8), float("nan"), dtype=dtype)
    for r in range(4):
        am[:, 8 * (r & 1):8 * (r & 1) + 8, 4 * (r >> 1):4 * (r >> 1) + 4] = a[r]
    bm = torch.full((8, 8), float("nan"), dtype=dtype)
    for r in range(2):
        bm[4 * r:4 * r + 4, :] = b[r].T
    cm = torch.full((tiles, 16, 8), float("nan"), dtype=dtype)
    for r in range(4):
        cm[:, 8 * (r >> 1):8 * (r >> 1) + 8, (r & 1)::2] = c[r]
    dm = cm + am @ bm  # a NaN left in a matrix = an entry no lane holds
    return [dm[:, 8 * (r >> 1):8 * (r >> 1) + 8, (r & 1)::2] for r in range(4)]


def mma3(c, a, b_hi, b_lo, exact=False):
    """3xTF32: lo hi + hi lo + hi hi, the small terms first; exact: a is TF32 already (no split, no lo hi)."""
    pairs = [split(x) for x in a]
    a_hi, a_lo = [p[0] for p in pairs], [p[1] for p in pairs]
    if exact:
        assert all(bool((lo == 0).all()) for lo in a_lo), "an operand said exact in TF32 is not"
        a_hi = a
    else:
        c = mma(c, a_lo, b_hi)
    c = mma(c, a_hi, b_lo)
    return mma(c, a_hi, b_hi)


class QuadLanes:
    """Lane (g, tq) of the warps' 16-token tiles starting at `first` (tiles,): tokens t[h] = first + g + 8 h,
    valid below `end`; channel slots C tq + c, feature slots f = half C + c <-> entry half d + C tq + c."""

    def __init__(self, first, end, d):
        self.d, self.c, self.p = d, d // 4, d // 8
        self.g = torch.arange(8).view(1, 8, 1)
        self.tq = torch.arange(4).view(1, 1, 4)
        first = torch.as_tensor(first).view(-1, 1, 1)
        self.t = [(first + self.g + 8 * h).expand(-1, 8, 4) for h in range(2)]
        self.valid = [t < end for t in self.t]
        self.t_table = [torch.where(v, t, first.expand(-1, 8, 4)) for t, v in zip(self.t, self.valid)]

    def feature(self, f):
        return (f // self.c) * self.d + self.c * self.tq + f % self.c

    def vec_slots(self, vec):
        return [vec[self.feature(f)].expand(1, 8, 4) for f in range(2 * self.c)]

    def load(self, mem, ptr, sb, sn, b, head, h, acc):
        out = []
        for c in range(self.c):
            idx = b * sb + self.t_table[h] * sn + head * self.d + self.c * self.tq + c  # a valid address
            out.append(torch.where(self.valid[h], mem.load(ptr, idx).to(acc), torch.zeros((), dtype=acc)))
        return out

    def store(self, mem, ptr, sb, sn, b, head, h, x):
        v = self.valid[h]
        for c in range(self.c):
            idx = b * sb + self.t[h] * sn + head * self.d + self.c * self.tq + c
            mem.store(ptr, idx[v], x[c][v])

    def rope(self, mem, a, h, acc):
        return Rope(mem, a, self.t_table[h] * (self.d // 2) + self.p * self.tq, self.c, acc)


class XTimesS:
    """x S (2d -> d): k step s = feature slots (s / P) C + 2 (s % P) + {0, 1}, n tile nt = channels
    C (n / 2) + 2 nt + n % 2; b fragments of S [/ divisor] split once."""

    def __init__(self, s_mat, divisor, d, acc):
        c, p = d // 4, d // 8
        g, tq = torch.arange(8).view(8, 1), torch.arange(4).view(1, 4)
        self.d, self.frags = d, {}
        for k in range(d // 4):
            for nt in range(d // 8):
                for r in range(2):
                    e = (k // p) * d + c * tq + 2 * (k % p) + r
                    j = c * (g // 2) + 2 * nt + g % 2
                    x = s_mat[e * d + j]
                    self.frags[k, nt, r] = split(x / divisor if divisor > 0 else x)

    def mul(self, x):
        """x: [h][feature slot] (tiles, 8, 4) -> y[h][channel slot]."""
        d, c, p = self.d, self.d // 4, self.d // 8
        zero = torch.zeros_like(x[0][0])
        acc = [[zero] * 4 for _ in range(d // 8)]
        for k in range(d // 4):
            a = [x[r & 1][(k // p) * c + 2 * (k % p) + (r >> 1)] for r in range(4)]
            for nt in range(d // 8):
                fr = [self.frags[k, nt, r] for r in range(2)]
                acc[nt] = mma3(acc[nt], a, [f[0] for f in fr], [f[1] for f in fr])
        y = [[None] * c for _ in range(2)]
        for nt in range(d // 8):
            for r in range(4):
                y[r >> 1][2 * nt + (r & 1)] = acc[nt][r]
        return y


class STimesY:
    """S y (d -> 2d): k step s = channel slots 2 s + {0, 1}, n tile nt = features (nt / P) d + C (n / 2) +
    2 (nt % P) + n % 2."""

    def __init__(self, s_mat, divisor, d, acc):
        c, p = d // 4, d // 8
        g, tq = torch.arange(8).view(8, 1), torch.arange(4).view(1, 4)
        self.d, self.frags = d, {}
        for k in range(d // 8):
            for nt in range(d // 4):
                for r in range(2):
                    e = (nt // p) * d + c * (g // 2) + 2 * (nt % p) + g % 2
                    j = c * tq + 2 * k + r
                    x = s_mat[e * d + j]
                    self.frags[k, nt, r] = split(x / divisor if divisor > 0 else x)

    def mul(self, y, exact=False):
        d, c, p = self.d, self.d // 4, self.d // 8
        zero = torch.zeros_like(y[0][0])
        acc = [[zero] * 4 for _ in range(d // 4)]
        for k in range(d // 8):
            a = [y[r & 1][2 * k + (r >> 1)] for r in range(4)]
            for nt in range(d // 4):
                fr = [self.frags[k, nt, r] for r in range(2)]
                acc[nt] = mma3(acc[nt], a, [f[0] for f in fr], [f[1] for f in fr], exact)
        x = [[None] * (2 * c) for _ in range(2)]
        for nt in range(d // 4):
            for r in range(4):
                x[r >> 1][(nt // p) * c + 2 * (nt % p) + (r & 1)] = acc[nt][r]
        return x


def slot_dot(x, y):
    s = torch.zeros_like(x[0])
    for a, b in zip(x, y):
        s = s + a * b
    return s


def _quad_tiles(a, geo, t0):
    """The block's tiles run: warp w, tile i -> first token t0 + 16 (i warps + w), while < N."""
    warps = geo.token_threads // 32
    assert geo.token_threads % 32 == 0, "whole warps"
    return [t0 + 16 * (i * warps + w) for w in range(warps) for i in range(geo.token_tiles)
            if t0 + 16 * (i * warps + w) < a.N]


def _quad_blocks(a, geo):
    per = geo.token_threads // 32 * 16 * geo.token_tiles
    blocks = -(-a.N // per)
    for block in range(a.B * a.heads * blocks):
        bh, blk = divmod(block, blocks)
        b, h = divmod(bh, a.heads)
        yield b, h, bh, _quad_tiles(a, geo, blk * per)


def out_quad(a, mem, geo, acc):
    d = a.d
    for b, head, bh, firsts in _quad_blocks(a, geo):
        s_mat, s_vec = stage_head(mem, a.s_in, a.m_in, bh, d, 0, acc)
        xs = XTimesS(s_mat, 0, d, acc)
        ln = QuadLanes(firsts, a.N, d)
        m = ln.vec_slots(s_vec)
        rphi, inv_den = [], []
        for h in range(2):
            q = ln.load(mem, a.q, a.sqb, a.sqn, b, head, h, acc)
            phi = QueryParts(q, quad=True).halves(q)
            rphi.append(ln.rope(mem, a, h, acc).apply(phi))
            inv_den.append(1 / (quad_sum(slot_dot(phi, m)) + EPS))
        num = xs.mul(rphi)
        for h in range(2):
            ln.store(mem, a.out, a.sob, a.son, b, head, h, [x * inv_den[h] for x in num[h]])


def kbwd_quad(a, mem, geo, acc):
    d = a.d
    for b, head, bh, firsts in _quad_blocks(a, geo):
        s_mat, s_vec = stage_head(mem, a.s_in, a.m_in, bh, d, 0, acc)
        xs, sy = XTimesS(s_mat, a.N, d, acc), STimesY(s_mat, a.N, d, acc)
        ln = QuadLanes(firsts, a.N, d)
        m = ln.vec_slots(s_vec / a.N)
        k, v, rphi, rope = [], [], [], []
        for h in range(2):
            k.append(ln.load(mem, a.k, a.skb, a.skn, b, head, h, acc))
            v.append(ln.load(mem, a.v, a.svb, a.svn, b, head, h, acc))
            rope.append(ln.rope(mem, a, h, acc))
            rphi.append(rope[h].apply(key_map(k[h])))
        dv, gs = xs.mul(rphi), sy.mul(v, exact=mem.load(a.v, 0).element_size() == 2)  # bf16 / fp16 v: TF32
        for h in range(2):
            g = [ge + m[f] for f, ge in enumerate(rope[h].apply_t(gs[h]))]
            ln.store(mem, a.dk, a.sdkb, a.sdkn, b, head, h, key_map_bwd(k[h], g))
            ln.store(mem, a.dv, a.sdvb, a.sdvn, b, head, h, dv[h])


def qbwd_quad_token(a, mem, b, head, ln, xs, sy, m, acc):
    """The qbwd math of one group of 16-token tiles (dq stored) -> staged rows (rphi, dnum, phi dden) as
    [h][slot] lane tensors."""
    q, dout, qp, phi, rope, rphi, inv_den = [], [], [], [], [], [], []
    for h in range(2):
        q.append(ln.load(mem, a.q, a.sqb, a.sqn, b, head, h, acc))
        dout.append(ln.load(mem, a.dout, a.sdob, a.sdon, b, head, h, acc))
        qp.append(QueryParts(q[h], quad=True))
        phi.append(qp[h].halves(q[h]))
        rope.append(ln.rope(mem, a, h, acc))
        rphi.append(rope[h].apply(phi[h]))
        inv_den.append(1 / (quad_sum(slot_dot(phi[h], m)) + EPS))
    num = xs.mul(rphi)
    dnum, dden = [], []
    for h in range(2):
        do_num = quad_sum(slot_dot(dout[h], num[h]))
        dnum.append([x * inv_den[h] for x in dout[h]])
        dden.append(-do_num * inv_den[h] * inv_den[h])
    gs = sy.mul(dnum)
    for h in range(2):
        g = rope[h].apply_t(gs[h])
        g = [ge + m[f] * dden[h] for f, ge in enumerate(g)]
        phi[h] = [x * dden[h] for x in phi[h]]
        ln.store(mem, a.dq, a.sdqb, a.sdqn, b, head, h, qp[h].backward(q[h], g))
    return rphi, dnum, phi


# --------------------------------------------------------------------------------------------- kernels

def _acc(a):
    return torch.float64 if a.dtype == 1 else torch.float32


def _chunk_of(a, block):
    bh, chunk = divmod(block, a.chunks)
    b, h = divmod(bh, a.heads)
    t0 = chunk * a.chunk
    return b, h, bh, t0, min(t0 + a.chunk, a.N)


def _stage_quad(ln, rows_read, rows, d, acc):
    """The quad lanes' slots (rows [h][slot] of the groups' 16-token tiles) -> the tile's staged (tokens, width)
    columns, NaN where no lane wrote; every row < rows_read must be written."""
    groups, c = ln.t[0].shape[0], d // 4
    staged = [torch.full((16 * groups, w), float("nan"), dtype=acc) for w in (2 * d, d, 2 * d)]
    for h in range(2):
        row = (16 * torch.arange(groups).view(-1, 1, 1) + ln.g + 8 * h).expand(-1, 8, 4)
        for f in range(2 * c):
            col = ln.feature(f).expand_as(row)
            staged[0][row, col] = rows[0][h][f]
            staged[2][row, col] = rows[2][h][f]
        for j in range(c):
            staged[1][row, (c * ln.tq + j).expand_as(row)] = rows[1][h][j]
    staged = [x[:rows_read] for x in staged]
    assert not any(bool(x.isnan().any()) for x in staged), "a staged row or column no lane wrote"
    return staged


def _reducing_kernel(a, mem, geo, token_fn, head=False, quad_fn=None):
    """state / qbwd: per block the tiles of its chunk; token_fn(b, h, t, staged head) -> rows a, b, c, or in the
    quad layout quad_fn(b, h, lanes of the tile's 16-token groups, staged head) -> [h][slot] rows.
    float64: thread i sums matrix entries i + r * threads (and vector entry i) over the tokens in order; float
    math: the tensor-core sums, warp w taking the tiles' 8-token steps w, w + warps, ..., the warps' sums added
    in warp order and thread i storing entries i + r * threads of the whole row."""
    d, acc = a.d, _acc(a)
    tc = tensor_sums(acc, geo)
    use_quad = quad_fn is not None and quad(acc, geo)
    e_width, acc_bytes = 2 * d, 4 if tc else 8  # float_structure: the float kernels' tiles
    tile = tile_tokens(acc_bytes, d, (2 * d * d + 2 * d) * acc_bytes if head and not use_quad else 0, geo.threads)
    per = -(-e_width * d // geo.threads)
    warps = geo.threads // 32 if tc else 1
    assert not tc or geo.threads % 32 == 0, "the tensor-core sums run whole warps"
    assert not use_quad or tile % 16 == 0, "whole 16-token groups"
    for block in range(a.B * a.heads * a.chunks):
        b, h, bh, t0, t1 = _chunk_of(a, block)
        staged = stage_head(mem, a.s_in, a.m_in, bh, d, 0, acc) if head else None
        mat = torch.zeros(warps, e_width * d, dtype=acc)
        vec = torch.zeros(warps, e_width, dtype=acc)
        idx = torch.arange(e_width * d)
        for base in range(t0, t1, tile):
            rows = min(t1 - base, tile)
            pad = (-rows) % PAD  # zero rows up to the last load's / tensor-core step's tokens
            if use_quad:  # warp w runs the groups w, w + warps, ... (order free: each writes its own rows)
                ln = QuadLanes([base + 16 * grp for grp in range(-(-rows // 16))], t1, d)
                sa, sb, sc = _stage_quad(ln, rows + pad, quad_fn(b, h, ln, staged), d, acc)
            else:
                ra, rb, rc = token_fn(b, h, base + torch.arange(rows), staged)
                sa, sb, sc = (torch.cat([torch.stack(x, 1), torch.zeros(pad, len(x), dtype=acc)])
                              for x in (ra, rb, rc))
            for t in range(rows + pad):
                w = (t // PAD) % warps
                mat[w] = mat[w] + sa[t, idx // d] * sb[t, idx % d]
                vec[w] = vec[w] + sc[t]
        row = block * (e_width * d + e_width)
        if not tc:
            for i in range(geo.threads):  # thread i stores entries i + r * threads and, for i < 2d, vec[i]
                for r in range(per):
                    j = i + r * geo.threads
                    if j < e_width * d:
                        mem.store(a.part, torch.tensor([row + j]), mat[0, j:j + 1])
                if i < e_width:
                    mem.store(a.part, torch.tensor([row + e_width * d + i]), vec[0, i:i + 1])
        else:
            total = torch.cat([mat[0], vec[0]])
            for w in range(1, warps):
                total = total + torch.cat([mat[w], vec[w]])
            for i in range(geo.threads):
                j = torch.arange(i, total.numel(), geo.threads)
                mem.store(a.part, row + j, total[j])


def state_kernel(a, mem, geo):
    d, acc = a.d, _acc(a)

    def token(b, h, t, _):
        k = load_head(mem, a.k, a.skb, a.skn, b, t, h, d, acc)
        v = load_head(mem, a.v, a.svb, a.svn, b, t, h, d, acc)
        phi = key_map(k)
        return Rope(mem, a, t * (d // 2), d, acc).apply(phi), v, phi
    _reducing_kernel(a, mem, geo, token)


def qbwd_kernel(a, mem, geo):
    d, acc = a.d, _acc(a)

    def token(b, h, t, staged):
        s_mat, s_vec = staged
        q = load_head(mem, a.q, a.sqb, a.sqn, b, t, h, d, acc)
        dout = load_head(mem, a.dout, a.sdob, a.sdon, b, t, h, d, acc)
        qp = QueryParts(q)
        phi = qp.halves(q)
        rope = Rope(mem, a, t * (d // 2), d, acc)
        rphi = rope.apply(phi)
        num = vec_mat(rphi, s_mat, d)
        inv_den = 1 / (dot2d(phi, s_vec) + EPS)
        do_num = torch.zeros_like(q[0])
        for j in range(d):
            do_num = do_num + dout[j] * num[j]
            num[j] = dout[j] * inv_den
        dden = -do_num * inv_den * inv_den
        g = rope.apply_t(mat_vec(s_mat, num, d))
        for e in range(2 * d):
            g[e] = g[e] + s_vec[e] * dden
            phi[e] = phi[e] * dden
        store_head(mem, a.dq, a.sdqb, a.sdqn, b, t, h, qp.backward(q, g))
        return rphi, num, phi

    def quad_token(b, h, ln, staged):
        s_mat, s_vec = staged  # the .cu reads S and m from s_in / m_in: the same values
        return qbwd_quad_token(a, mem, b, h, ln, XTimesS(s_mat, 0, d, acc), STimesY(s_mat, 0, d, acc),
                               ln.vec_slots(s_vec), acc)
    _reducing_kernel(a, mem, geo, token, head=True, quad_fn=quad_token)


def _token_blocks(a, geo):
    """-> per block of a token kernel: b, h, bh, its valid tokens."""
    blocks = -(-a.N // geo.token_threads)
    for block in range(a.B * a.heads * blocks):
        bh, blk = divmod(block, blocks)
        b, h = divmod(bh, a.heads)
        t = blk * geo.token_threads + torch.arange(geo.token_threads)
        yield b, h, bh, t[t < a.N]


def out_kernel(a, mem, geo):
    d, acc = a.d, _acc(a)
    if quad(acc, geo):
        return out_quad(a, mem, geo, acc)
    for b, h, bh, t in _token_blocks(a, geo):
        s_mat, s_vec = stage_head(mem, a.s_in, a.m_in, bh, d, 0, acc)
        q = load_head(mem, a.q, a.sqb, a.sqn, b, t, h, d, acc)
        phi = QueryParts(q).halves(q)
        num = vec_mat(Rope(mem, a, t * (d // 2), d, acc).apply(phi), s_mat, d)
        inv_den = 1 / (dot2d(phi, s_vec) + EPS)
        store_head(mem, a.out, a.sob, a.son, b, t, h, [x * inv_den for x in num])


def kbwd_kernel(a, mem, geo):
    d, acc = a.d, _acc(a)
    if quad(acc, geo):
        return kbwd_quad(a, mem, geo, acc)
    for b, h, bh, t in _token_blocks(a, geo):
        s_mat, s_vec = stage_head(mem, a.s_in, a.m_in, bh, d, a.N, acc)
        k = load_head(mem, a.k, a.skb, a.skn, b, t, h, d, acc)
        v = load_head(mem, a.v, a.svb, a.svn, b, t, h, d, acc)
        rope = Rope(mem, a, t * (d // 2), d, acc)
        dv = vec_mat(rope.apply(key_map(k)), s_mat, d)
        g = rope.apply_t(mat_vec(s_mat, v, d))
        g = [ge + s_vec[e] for e, ge in enumerate(g)]
        store_head(mem, a.dk, a.sdkb, a.sdkn, b, t, h, key_map_bwd(k, g))
        store_head(mem, a.dv, a.sdvb, a.sdvn, b, t, h, dv)


def finish_kernel(a, mem, divisor):
    d, acc = a.d, _acc(a)
    wm, wv = 2 * d * d, 2 * d
    rows, w = a.B * a.heads, wm + wv
    idx = torch.arange(rows * w)
    row, col = idx // w, idx % w
    total = torch.zeros(rows * w, dtype=acc)
    for c in range(a.chunks):
        total = total + mem.load(a.part, (row * a.chunks + c) * w + col)
    if divisor > 0:
        total = total / divisor
    is_mat = col < wm
    mem.store(a.s_out, row[is_mat] * wm + col[is_mat], total[is_mat])
    mem.store(a.m_out, row[~is_mat] * wv + col[~is_mat] - wm, total[~is_mat])


# ------------------------------------------------------------------------------------------ the launchers

def forward_backward(q, k, v, go, cos, sin, heads, geo):
    """o, (dq, dk, dv) through the emulated kernels, buffers allocated as cuda_attention's launchers do;
    -> (o, grads, every output and partial entry stored exactly once)."""
    b, n, c = q.shape
    d = c // heads
    acc = torch.float64 if q.dtype == torch.float64 else torch.float32
    cos, sin = cos.reshape(n, d // 2).to(acc).contiguous(), sin.reshape(n, d // 2).to(acc).contiguous()
    go = go.to(acc).contiguous()
    part_shape = (b * heads, -(-n // geo.chunk), 2 * d * d + 2 * d)
    part_f, part_b = (torch.full(part_shape, float("nan"), dtype=acc) for _ in range(2))
    state, dstate = (torch.full((b * heads, 2, d, d), float("nan"), dtype=acc) for _ in range(2))
    mean, dmean = (torch.full((b * heads, 2, d), float("nan"), dtype=acc) for _ in range(2))
    o = torch.full((b, n, c), float("nan"), dtype=acc)
    dq, dk, dv = (torch.full((b, n, c), float("nan"), dtype=q.dtype) for _ in range(3))
    mem = Memory(q, k, v, go, cos, sin, part_f, part_b, state, dstate, mean, dmean, o, dq, dk, dv)

    def args(**tensors):
        a = ca.make_args(q, heads, 0, cos=cos, sin=sin, **tensors)
        a.chunk, a.chunks = geo.chunk, part_shape[1]
        return a
    a = args(k=k, v=v, part=part_f, s_out=state, m_out=mean)
    state_kernel(a, mem, geo)
    finish_kernel(a, mem, n)
    out_kernel(args(q=q, s_in=state, m_in=mean, out=o), mem, geo)
    a = args(q=q, dout=go, s_in=state, m_in=mean, dq=dq, part=part_b, s_out=dstate, m_out=dmean)
    qbwd_kernel(a, mem, geo)
    finish_kernel(a, mem, 0)
    kbwd_kernel(args(k=k, v=v, s_in=dstate, m_in=dmean, dk=dk, dv=dv), mem, geo)
    once = all(mem.stored_once(t) for t in (part_f, part_b, state, dstate, mean, dmean, o, dq, dk, dv))
    return o, (dq, dk, dv), once
