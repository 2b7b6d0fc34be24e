"""A torch emulation of cuda_attention/nala_attention.cu for CPU checks (check_attention_cuda_cpu.py).

Written from the CUDA code with the same structure: the same blocks (ChunkOf / TokenOf), tiles of the reducing
kernels, per-thread matrix entries, the per-token functions with their loops over channels (a channel is a
(items,) tensor: the threads of a tile run side by side; state's items are half tokens, two lanes a token), reads
and writes through NalasrNalaArgs's pointers and strides (Memory maps a pointer back into the tensor that holds
it) and the finish kernel's fixed-order sum. Every store is counted, so a check can require each output element
and partial-sum entry stored exactly once. The reducing kernels' tiles go through an emulated shared memory
(TileStage: the .cu's column layout, every word stored at most once a tile, every word read stored); Memory.trace
and TileStage.stores record the addresses of each global vector load and shared store, item by item (a warp =
32 consecutive items), for the coalescing and bank-conflict checks.
Geometry.float_structure runs the float kernels' structure (the reducing kernels' tensor-core sums, split over
the warps) in float64 arithmetic, so the check can require float64 equality of that split with nala_plain.
Geometry.fast_math adds the worst-case error of the float kernels' __logf / __expf (all in one direction) to
QueryParts' log u and f, so a check can bound what the approximations alone cost. Geometry.mutation plants one
of MUTATIONS (deliberate bugs of the staging) to show the checks catch them.
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
    mutation: str = ""  # one of MUTATIONS, or none


MUTATIONS = {
    "part-stride": "a token's second half staged d/2 columns after the first, forgetting the groups' padding",
    "unpadded-groups": "groups of columns without padding (results right, but the lane pairs' stores conflict)",
}


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


def group_stride(x):
    """group_stride of the .cu: x entries padded to 16 past a multiple of 32."""
    return x + (48 - x % 32) % 32


def stage_elems(d, tile):
    """stage_elems<D>(tile) of the .cu: 2d + d + 2d columns = 10 groups of d/2."""
    return 10 * group_stride(d // 2 * (tile + 4))


def tile_tokens(acc_bytes, d, extra, threads=ca.REDUCE_THREADS):
    """tile_tokens<A, D>(extra) of the .cu."""
    t = threads
    while t > PAD and stage_elems(d, t) * acc_bytes + extra > SMEM_BYTES:
        t //= 2
    return t


class Memory:
    """Pointer -> flat view into the registered tensor holding it; counts the stores to every element."""

    def __init__(self, *tensors):
        self.tensors = list(tensors)
        self.counts = {}
        self.faults = []  # shared-memory misuse found by TileStage
        self.trace = None  # a list: load_row appends (kernel tag, byte addresses of the items' vectors, bytes)
        self.kernel = ""  # the running kernel (its tag in the trace)
        self.stages = []  # (kernel, TileStage) of the reducing kernels

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

def load_row(mem, ptr, idx, n, acc, tag):
    """n elements from ptr + idx (items,) as load_row of the .cu: 16-byte vectors, one load instruction each
    (traced)."""
    flat, (_, off) = mem._find(ptr)
    esize, vb = flat.element_size(), 16
    assert n * esize % vb == 0, "rows of whole 16-byte vectors"
    if mem.trace is not None:  # byte addresses in the tensor's storage (on the GPU, allocations are 256-byte aligned)
        for c in range(0, n, vb // esize):
            mem.trace.append((f"{mem.kernel} {tag}", (off + idx + c) * esize, vb))
    return [mem.load(ptr, idx + c).to(acc) for c in range(n)]


def load_head(mem, ptr, sb, sn, b, t, h, d, acc, tag):
    return load_row(mem, ptr, b * sb + t * sn + h * d, d, acc, tag)


def store_head(mem, ptr, sb, sn, b, t, h, x):
    d = len(x)
    for c in range(d):
        mem.store(ptr, b * sb + t * sn + h * d + c, x[c])


class Rope:
    """Rope<D, A, P> of the .cu: the cos / sin entries of part `part` (items,) of `parts` of the channels."""

    def __init__(self, mem, a, t, d, acc, part=0, parts=1):
        self.d = w = d // parts
        self.cs = load_row(mem, a.cos, t * (d // 2) + part * (w // 2), w // 2, acc, "cos")
        self.sn = load_row(mem, a.sin, t * (d // 2) + part * (w // 2), w // 2, acc, "sin")

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


class TileStage:
    """The reducing kernels' shared-memory tile (TileStage of the .cu): columns a (2d), b (d), c (2d), column e of
    a region at col(e), groups of d/2 columns GROUP entries apart. stage() stores an item's part of its token's
    rows where the .cu does; column() reads rows back. Faults (a word stored twice in a tile, a word read that no
    item stored) go to mem.faults; stores keeps (item ids, entry addresses) per store instruction."""

    def __init__(self, mem, d, tile, acc, mutation=""):
        self.mem, self.d, self.gw, self.ld, self.mutation = mem, d, d // 2, tile + 4, mutation
        self.group = self.gw * self.ld if mutation == "unpadded-groups" else group_stride(self.gw * self.ld)
        self.base = dict(a=0, b=4 * self.group, c=6 * self.group)
        self.smem = torch.empty(10 * self.group, dtype=acc)
        self.counts = torch.zeros(self.smem.numel(), dtype=torch.int64)
        self.stores = []

    def col(self, e):
        return e // self.gw * self.group + e % self.gw * self.ld

    def new_tile(self):
        self.smem.fill_(float("nan"))
        self.counts.zero_()

    def stage(self, items, rows, parts, a, b, c):
        """items, rows, parts: (items,); a, c: 2 nb entries, b: nb (nb = d / P: part p has channels
        [p nb, (p + 1) nb) of b and of each d-wide half of a and c)."""
        nb = len(b)
        at = rows + parts * (self.gw * self.ld if self.mutation == "part-stride" else self.group)
        for l in range(2 * nb):
            e = l // nb * self.d + l % nb
            self._store(items, "a", self.col(e) + at, a[l])
            self._store(items, "c", self.col(e) + at, c[l])
        for j in range(nb):
            self._store(items, "b", self.col(j) + at, b[j])

    def _store(self, items, region, idx, x):
        idx = self.base[region] + idx
        self.smem[idx] = x
        self.counts.index_add_(0, idx, torch.ones_like(idx))
        self.stores.append((items, idx))

    def column(self, region, e, rows):
        idx = self.base[region] + self.col(e) + torch.arange(rows)
        if bool((self.counts > 1).any()) or not bool((self.counts[idx] == 1).all()):
            self.mem.faults.append(f"{region} column {e}: a word stored twice or read unstored")
        return self.smem[idx]


def _warps(items):
    return items // 32


def sector_use(trace):
    """{kernel tag: (load instructions a warp, 128-byte lines an instruction, useful bytes / 32-byte sectors
    fetched)} of a load trace (a warp = 32 consecutive items of one vector load)."""
    out = {}
    for tag, addr, vb in trace:
        w = _warps(torch.arange(addr.numel()))
        lines = torch.unique(w * 2**40 + addr // 128).numel()
        sectors = torch.unique(torch.cat([w * 2**40 + addr // 32, w * 2**40 + (addr + vb - 1) // 32])).numel()
        n, ln, sec, used = out.get(tag, (0, 0, 0, 0))
        out[tag] = (n + int(w.max()) + 1, ln + lines, sec + sectors, used + addr.numel() * vb)
    return {tag: (n, ln / n, used / (32 * sec)) for tag, (n, ln, sec, used) in out.items()}


def bank_conflicts(stage):
    """The worst n-way bank conflict of a TileStage's store instructions (4-byte entries: bank = entry % 32; a warp
    = 32 consecutive items)."""
    worst = 1
    for items, idx in stage.stores:
        if not items.numel():
            continue
        words = torch.unique(_warps(items) * 2**32 + idx)
        worst = max(worst, int(torch.bincount((words // 2**32) * 32 + words % 32).max()))
    return worst


def _reducing_kernel(a, mem, geo, token_fn, head=False, parts=1):
    """state / qbwd: per block the tiles of its chunk; token_fn(b, h, t, part, staged head) -> part `part` of
    `parts` of the rows a, b, c of tokens t (items = parts * row + part, a warp's lanes consecutive items).
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
    stage = TileStage(mem, d, tile, acc, geo.mutation)
    mem.stages.append((mem.kernel, stage))
    for block in range(a.B * a.heads * a.chunks):
        b, h, bh, t0, t1 = chunk_of(a, block)
        staged = stage_head(mem, a.s_in, a.m_in, bh, d, 0, acc) if head else None
        mat = torch.zeros(warps, e_width * d, dtype=acc)
        vec = torch.zeros(warps, e_width, dtype=acc)
        idx = torch.arange(e_width * d)
        for base in range(t0, t1, tile):
            rows = min(t1 - base, tile)
            padded = rows + (-rows) % PAD  # zero rows up to the last load's / tensor-core step's tokens
            stage.new_tile()
            items = torch.arange(parts * padded)
            row, part = items // parts, items % parts
            live = row < rows
            stage.stage(items[live], row[live], part[live], *token_fn(b, h, base + row[live], part[live], staged))
            zero = torch.zeros(int((~live).sum()), dtype=acc)
            stage.stage(items[~live], row[~live], part[~live], *([zero] * (2 * d // parts), [zero] * (d // parts),
                                                                  [zero] * (2 * d // parts)))
            sa, sb, sc = (torch.stack([stage.column(r, e, padded) for e in range(n)], 1)
                          for r, n in (("a", e_width), ("b", d), ("c", e_width)))
            for t in range(padded):
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


def state_parts(esize, acc_bytes, d):
    """state_parts<T, A, D> of the .cu: two threads a token where half a row of k, v and of cos, sin is whole
    16-byte vectors."""
    return 2 if d // 2 * esize % 16 == 0 and d // 4 * acc_bytes % 16 == 0 else 1


def state_kernel(a, mem, geo):
    d, acc = a.d, _acc(a)
    mem.kernel = "state"
    parts = state_parts(mem._find(a.k)[0].element_size(), 8 if acc == torch.float64 else 4, d)

    def token(b, h, t, part, _):  # part of head h: head parts h + part of width d / parts
        k = load_head(mem, a.k, a.skb, a.skn, b, t, parts * h + part, d // parts, acc, "k")
        v = load_head(mem, a.v, a.svb, a.svn, b, t, parts * h + part, d // parts, acc, "v")
        phi = key_map(k)
        return Rope(mem, a, t, d, acc, part, parts).apply(phi), v, phi
    _reducing_kernel(a, mem, geo, token, parts=parts)


def qbwd_kernel(a, mem, geo):
    d, acc = a.d, _acc(a)
    mem.kernel = "qbwd"

    def token(b, h, t, _, staged):
        s_mat, s_vec = staged
        q = load_head(mem, a.q, a.sqb, a.sqn, b, t, h, d, acc, "q")
        dout = load_head(mem, a.dout, a.sdob, a.sdon, b, t, h, d, acc, "dout")
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
    mem.kernel = "out"
    for b, h, bh, t in _token_blocks(a, geo):
        s_mat, s_vec = stage_head(mem, a.s_in, a.m_in, bh, d, 0, acc)
        q = load_head(mem, a.q, a.sqb, a.sqn, b, t, h, d, acc, "q")
        phi = QueryParts(q, geo.fast_math).halves(q)
        num = vec_mat(Rope(mem, a, t, d, acc).apply(phi), s_mat, d)
        inv_den = 1 / (dot2d(phi, s_vec) + EPS)
        store_head(mem, a.out, a.sob, a.son, b, t, h, [x * inv_den for x in num])


def kbwd_kernel(a, mem, geo):
    d, acc = a.d, _acc(a)
    mem.kernel = "kbwd"
    for b, h, bh, t in _token_blocks(a, geo):
        s_mat, s_vec = stage_head(mem, a.s_in, a.m_in, bh, d, a.N, acc)
        k = load_head(mem, a.k, a.skb, a.skn, b, t, h, d, acc, "k")
        v = load_head(mem, a.v, a.svb, a.svn, b, t, h, d, acc, "v")
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

def forward_backward(q, k, v, go, cos, sin, heads, geo, inspect=None):
    """o, (dq, dk, dv) through the emulated kernels, buffers allocated as cuda_attention's launchers do;
    -> (o, grads, every output and partial entry stored exactly once and no shared-memory fault); inspect, if
    given, gets the Memory at the end (its load trace recorded)."""
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
    mem.trace = [] if inspect else None

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
    if inspect:
        inspect(mem)
    return o, (dq, dk, dv), once and not mem.faults
