"""A torch emulation of cuda_attention/nala_attention.cu for CPU checks (check_attention_cuda_cpu.py).

Written from the CUDA code with the same structure: the same blocks (ChunkOf / TokenOf), tiles of the reducing
kernels, per-thread matrix entries, the per-token functions with their loops over channels (a channel is a
(tokens,) tensor: the threads of a tile run side by side), reads and writes through NalasrNalaArgs's pointers
and strides (Memory maps a pointer back into the tensor that holds it) and the finish kernel's fixed-order sum.
Every store is counted, so a check can require each output element and partial-sum entry stored exactly once.
Geometry.float_structure runs the float kernels' structure (the reducing kernels' tensor-core sums, split over
the warps) in float64 arithmetic, so the check can require float64 equality of that split with nala_plain.
Geometry.fast_math adds the worst-case error of the float kernels' __logf / __expf (all in one direction) to
QueryParts' log u and f, so a check can bound what the approximations alone cost.
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
    float_structure: bool = False  # float64 arithmetic in the float kernels' structure (tensor-core sums)
    fast_math: bool = False  # QueryParts with the error bounds of __logf / __expf added


def fast_log(x):
    """log x plus __logf's error bound: 2^-21.41 absolute on [0.5, 2], else 3 ulp (ulp(y) <= 2^-23 |y|)."""
    y = torch.log(x)
    return y + torch.where((x >= 0.5) & (x <= 2), torch.full_like(y, 2**-21.41), 3 * 2**-23 * y.abs())


def fast_exp(x):
    """exp x times (1 + __expf's error bound): 2 + floor(1.173 |x|) ulp."""
    return torch.exp(x) * (1 + (2 + torch.floor(1.173 * x.abs())) * 2**-23)


def tensor_sums(acc, geo):
    """The reducing kernels sum on the tensor cores (warp partials): float math."""
    return acc != torch.float64 or geo.float_structure


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
    def __init__(self, mem, a, t, d, acc):
        self.d = d
        self.cs = [mem.load(a.cos, t * (d // 2) + i).to(acc) for i in range(d // 2)]
        self.sn = [mem.load(a.sin, t * (d // 2) + i).to(acc) for i in range(d // 2)]

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


class QueryParts:
    def __init__(self, q, fast_math=False):
        log, exp = (fast_log, fast_exp) if fast_math else (torch.log, torch.exp)
        d = len(q)
        ss = torch.zeros_like(q[0])
        for c in range(d):
            ss = ss + q[c] * q[c]
        self.nrm = torch.sqrt(ss)
        n = self.nrm + EPS
        self.inv_n = 1 / n
        self.th = torch.tanh(n)
        self.p = 3 * (0.5 + self.th)
        self.logu, self.f = [], []
        for c in range(d):
            u = q[c].abs() * self.inv_n
            self.logu.append(log(u.clamp_min(TINY)))
            self.f.append(torch.where(q[c] != 0, exp(self.p * self.logu[c]), torch.zeros_like(u)))

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


# --------------------------------------------------------------------------------------------- kernels

def _acc(a):
    return torch.float64 if a.dtype == 1 else torch.float32


def _u32(x):
    """x as the .cu's unsigned 32-bit arithmetic leaves it (wrapped mod 2^32)."""
    return x & 0xFFFFFFFF


def chunk_of(a, block):
    """ChunkOf of the .cu, in its 32-bit unsigned steps -> b, h, bh, t0, t1."""
    bh = block // _u32(a.chunks)
    b = bh // _u32(a.heads)
    t0 = _u32(_u32(block - _u32(bh * a.chunks)) * _u32(a.chunk))
    return b, _u32(bh - _u32(b * a.heads)), bh, t0, min(t0 + a.chunk, a.N)


def token_of(a, block, threads):
    """TokenOf of the .cu for thread 0 of a block, in its 32-bit unsigned steps -> b, h, bh, first token."""
    blocks = _u32(a.N + threads - 1) // threads
    bh = block // blocks
    b = bh // _u32(a.heads)
    return b, _u32(bh - _u32(b * a.heads)), bh, _u32(_u32(block - _u32(bh * blocks)) * threads)


def geometry_ok(a, threads=ca.TOKEN_THREADS):
    """geometry_ok of the .cu: the sizes its kernels' 32-bit block decode and grids allow."""
    bh, max_grid = a.B * a.heads, 0x7FFFFFFF
    return (a.B > 0 and a.heads > 0 and a.N > 0 and a.chunk > 0 and a.chunks == -(-a.N // a.chunk)
            and bh * a.chunks <= max_grid and bh * -(-a.N // threads) <= max_grid
            and a.N + a.chunk <= max_grid and a.N + threads <= max_grid)


def _reducing_kernel(a, mem, geo, token_fn, head=False):
    """state / qbwd: per block the tiles of its chunk; token_fn(b, h, t, staged head) -> rows a, b, c.
    float64: thread i sums matrix entries i + r * threads (and vector entry i) over the tokens in order; float
    math: the tensor-core sums, warp w taking the tiles' 8-token steps w, w + warps, ..., the warps' sums added
    in warp order and thread i storing entries i + r * threads of the whole row."""
    d, acc = a.d, _acc(a)
    tc = tensor_sums(acc, geo)
    e_width, acc_bytes = 2 * d, 4 if tc else 8  # float_structure: the float kernels' tiles
    tile = tile_tokens(acc_bytes, d, (2 * d * d + 2 * d) * acc_bytes if head else 0, geo.threads)
    per = -(-e_width * d // geo.threads)
    warps = geo.threads // 32 if tc else 1
    assert not tc or geo.threads % 32 == 0, "the tensor-core sums run whole warps"
    for block in range(a.B * a.heads * a.chunks):
        b, h, bh, t0, t1 = chunk_of(a, block)
        staged = stage_head(mem, a.s_in, a.m_in, bh, d, 0, acc) if head else None
        mat = torch.zeros(warps, e_width * d, dtype=acc)
        vec = torch.zeros(warps, e_width, dtype=acc)
        idx = torch.arange(e_width * d)
        for base in range(t0, t1, tile):
            rows = min(t1 - base, tile)
            ra, rb, rc = token_fn(b, h, base + torch.arange(rows), staged)
            pad = (-rows) % PAD  # zero rows up to the last load's / tensor-core step's tokens
            sa, sb, sc = (torch.cat([torch.stack(x, 1), torch.zeros(pad, len(x), dtype=acc)]) for x in (ra, rb, rc))
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
        return Rope(mem, a, t, d, acc).apply(phi), v, phi
    _reducing_kernel(a, mem, geo, token)


def qbwd_kernel(a, mem, geo):
    d, acc = a.d, _acc(a)

    def token(b, h, t, staged):
        s_mat, s_vec = staged
        q = load_head(mem, a.q, a.sqb, a.sqn, b, t, h, d, acc)
        dout = load_head(mem, a.dout, a.sdob, a.sdon, b, t, h, d, acc)
        qp = QueryParts(q, geo.fast_math)
        phi = qp.halves(q)
        rope = Rope(mem, a, t, d, acc)
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
    _reducing_kernel(a, mem, geo, token, head=True)


def _token_blocks(a, geo):
    """-> per block of a token kernel: b, h, bh, its valid tokens."""
    for block in range(a.B * a.heads * -(-a.N // geo.token_threads)):
        b, h, bh, t0 = token_of(a, block, geo.token_threads)
        t = t0 + torch.arange(geo.token_threads)
        yield b, h, bh, t[t < a.N]


def out_kernel(a, mem, geo):
    d, acc = a.d, _acc(a)
    for b, h, bh, t in _token_blocks(a, geo):
        s_mat, s_vec = stage_head(mem, a.s_in, a.m_in, bh, d, 0, acc)
        q = load_head(mem, a.q, a.sqb, a.sqn, b, t, h, d, acc)
        phi = QueryParts(q, geo.fast_math).halves(q)
        num = vec_mat(Rope(mem, a, t, d, acc).apply(phi), s_mat, d)
        inv_den = 1 / (dot2d(phi, s_vec) + EPS)
        store_head(mem, a.out, a.sob, a.son, b, t, h, [x * inv_den for x in num])


def kbwd_kernel(a, mem, geo):
    d, acc = a.d, _acc(a)
    for b, h, bh, t in _token_blocks(a, geo):
        s_mat, s_vec = stage_head(mem, a.s_in, a.m_in, bh, d, a.N, acc)
        k = load_head(mem, a.k, a.skb, a.skn, b, t, h, d, acc)
        v = load_head(mem, a.v, a.svb, a.svn, b, t, h, d, acc)
        rope = Rope(mem, a, t, d, acc)
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
