"""CPU checks of the CUDA depthwise conv's host side (cuda_dwconv.py) without a GPU.

  1. DwArgs (ctypes) has NalasrDwArgs's fields in the .cu's order, 8 bytes each
  2. build (cuda_ext): nvcc flags carry every compile-time constant; the .cu includes cuda_ext.cuh; the cache
     path changes with a compile-time constant, the GPU architecture and $NALASR_CUDA_EXT_CACHE
  3. vec_width: the widest vector that divides C, the strides and the addresses
  4. conv_layout for many shapes and the sweep's constants: thread counts, whole warps (backward), channel groups
     a power of 2 that divides 32 or is a multiple of it (the reduction's shuffles), grid covers every patch and
     channel, smem holds the halos and the reduction slots
  4b. wgrad_layout likewise (threads, whole warps, coverage, smem for the double-buffered x halo + dy patch
     and the reduction slots)
  5. an emulation of the kernels' index arithmetic (tile_at, halo origin, thread -> pixels and channels, taps,
     the forward's weight vectors (a run of V*k*k from c*k*k) and their permutation (taps flipped in it by the
     DX instance), residual centre, the block reduction's butterfly and slots, partial rows) in torch on
     small shapes vs dwconv_ref: y; dx from the fused backward kernel and from the forward kernel's DX
     instance; the weight sums from the fused kernel and from wgrad_kernel (one thread a patch column, halo
     row rr paired with dy rows rr - u); every output element stored exactly once, every partial-sum entry
     written once, values equal to the reference (float64); the accumulate flag (dx added to the prior
     contents of out) in both backward kernels
  5b. mutants: the emulation with a deliberate bug (dy row off by one in wgrad's column sums, dx without the
     tap flip, reduction slots of ncg threads instead of a warp) must differ from the reference;
     --mutant NAME runs the whole check with that bug (so the emulation checks FAIL)
  6. nalasr_model / train.py without CUDA: set_depthwise("cuda") raises, --depthwise cuda falls back to shift
  7. with --nvcc: the .cu compiles for sm_80 and sm_90 with no warnings; prints registers / spills per kernel
Usage: /usr/bin/python3 models/check_cuda_dwconv_cpu.py [--nvcc] [--mutant NAME]   (exit 1 on a failure)
"""
import argparse
import os
import re
import sys

import torch

import cuda_dwconv as cd
import cuda_ext
import dwconv_ref as ref

FAILS = []
MUTANTS = ("dy-row", "dx-noflip", "red-span")
MUTANT = None  # one of MUTANTS: the emulation's deliberate bug (--mutant, check_mutants)


def report(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILS.append(name)


def check_struct():
    names = cuda_ext.struct_fields(cd.SOURCE, "NalasrDwArgs")
    want = [name for name, _ in cd.DwArgs._fields_]
    report("DwArgs fields = NalasrDwArgs fields, in order", names == want, f"{len(names)} fields")
    report("DwArgs is 8 bytes a field", cd.ctypes.sizeof(cd.DwArgs) == 8 * len(want))


def library_path(capability):
    """cuda_ext's cache path of the .cu under the current launch constants."""
    return cuda_ext.library_path(cd.SOURCE, capability, cd.compile_defines())


def check_build_keys():
    cmd = cuda_ext.nvcc_command((9, 0), "s.cu", "o.so", cd.compile_defines())
    defines = {d[2:].split("=")[0] for d in cmd if d.startswith("-D")}
    macros = set(re.findall(r"#ifndef (\w+)", cd.SOURCE.read_text()))
    report("every #ifndef constant of the .cu is passed by the wrapper", macros == defines,
           f"missing {macros - defines or '{}'}, extra {defines - macros or '{}'}")
    report("sm_90 gencode", "arch=compute_90,code=sm_90" in cmd)
    headers = [h.name for h in cuda_ext.local_headers(cd.SOURCE)]
    report("the .cu includes cuda_ext.cuh (part of the cache key)", headers == ["cuda_ext.cuh"], str(headers))
    base = library_path((9, 0))
    with cd.launch_constants(dict(BWD_TILES_PER_BLOCK=8)):
        same = library_path((9, 0)) == base  # a runtime constant: same library
    with cd.launch_constants(dict(FWD_VEC={3: 8, 5: 2, 7: 2})):
        other = library_path((9, 0)) != base
    report("cache key: runtime constants keep it, compile-time constants and the arch change it",
           same and other and library_path((8, 0)) != base)
    old = os.environ.get("NALASR_CUDA_EXT_CACHE")
    os.environ["NALASR_CUDA_EXT_CACHE"] = "/tmp/nalasr_test_cache"
    ok = str(library_path((9, 0))).startswith("/tmp/nalasr_test_cache/")
    if old is None:
        del os.environ["NALASR_CUDA_EXT_CACHE"]
    else:
        os.environ["NALASR_CUDA_EXT_CACHE"] = old
    report("$NALASR_CUDA_EXT_CACHE sets the cache directory", ok)


def check_vec_width():
    cases = [  # (C, esize, cap, strides, addresses) -> vec
        ((64, 2, 8, (262144, 4096, 64), (0, 256)), 8), ((64, 2, 4, (262144, 4096, 64), (0,)), 4),
        ((12, 2, 8, (12, 12, 12), (0,)), 4), ((5, 2, 8, (5, 5, 5), (0,)), 1), ((80, 2, 8, (80, 80, 80), (0,)), 8),
        ((64, 2, 8, (1024, 256, 128), (2,)), 1),  # a channel slice starting at channel 1: scalar
        ((64, 2, 8, (1024, 256, 128), (8,)), 4),  # starting at channel 4
        ((64, 4, 8, (64, 64, 64), (0,)), 4), ((64, 8, 8, (64, 64, 64), (0,)), 2), ((24, 2, 8, (24,), (0,)), 8),
        ((48, 2, 8, (96, 96, 96), (96,)), 8), ((6, 8, 4, (6,), (0,)), 2),
    ]
    bad = [(a, want, cd.vec_width(*a)) for a, want in cases if cd.vec_width(*a) != want]
    report("vec_width", not bad, f"{len(cases)} cases" + (f", wrong: {bad}" if bad else ""))


SWEEP_LAYOUTS = [{}, dict(FWD_TILE_H=16, FWD_TILE_W=16), dict(FWD_TILE_H=8, FWD_TILE_W=32, FWD_ROWS=2),
                 dict(BWD_TILES_PER_BLOCK=1),
                 dict(FWD_MAX_THREADS=512, BWD_MAX_THREADS=512), dict(FWD_ROWS=8, BWD_ROWS=2),
                 dict(BWD_TILE_W=8, BWD_MAX_THREADS=128), dict(WG_TILES_PER_BLOCK=1), dict(WG_TILES_PER_BLOCK=16),
                 dict(WG_NCG=8), dict(WG_TILE_W=32, WG_NCG=8), dict(WG_NCG=32, WG_TILE_W=8)]
SHAPES = [(1, 1, 6, 16), (2, 6, 1, 80), (2, 3, 2, 8), (1, 5, 7, 5), (1, 9, 31, 48), (2, 33, 17, 128),
          (32, 64, 64, 64), (32, 64, 64, 128), (4, 64, 64, 12), (1, 2160, 3840, 64)]


def layout_cases():
    """(sweep constants, shape, k, element size, accumulator size) for every layout the checks below cover; the
    sweep's launch constants are set while a case is in use."""
    for cfg in SWEEP_LAYOUTS:
        with cd.launch_constants(cfg):
            for shape in SHAPES:
                for k in cd.KERNEL_SIZES:
                    for esize, acc_size in ((2, 4), (4, 4), (8, 8)):
                        yield cfg, shape, k, esize, acc_size


def check_layouts():
    n, bad = 0, []
    for cfg, (b, h, w, c), k, esize, acc_size in layout_cases():
        for backward in (False, True):
            cap = (cd.BWD_VEC if backward else cd.FWD_VEC)[k]
            vec = cd.vec_width(c, esize, cap, (c,))
            lay = cd.conv_layout(b, h, w, c, k, esize, vec, backward, acc_size)
            n += 1
            err = layout_errors(lay, b, h, w, c, k, esize, vec, backward, acc_size)
            if err:
                bad.append((cfg, (b, h, w, c, k, esize, backward), err))
    report("conv_layout invariants (shapes x k x dtypes x fwd/bwd x sweep constants)", not bad,
           f"{n} layouts" + (f"; first failures: {bad[:3]}" if bad else ""))


def check_wgrad_layouts():
    n, bad = 0, []
    for cfg, (b, h, w, c), k, esize, acc_size in layout_cases():
        vec = cd.vec_width(c, esize, cd.WG_VEC[k], (c,))
        lay = cd.wgrad_layout(b, h, w, c, k, esize, vec, acc_size)
        n += 1
        err = wgrad_layout_errors(lay, b, h, w, c, k, esize, vec, acc_size)
        if err:
            bad.append((cfg, (b, h, w, c, k, esize), err))
    report("wgrad_layout invariants (shapes x k x dtypes x sweep constants)", not bad,
           f"{n} layouts" + (f"; first failures: {bad[:3]}" if bad else ""))


def wgrad_layout_errors(lay, b, h, w, c, k, esize, vec, acc_size):
    th, tw, ncg, cb = lay["tile_h"], lay["tile_w"], lay["ncg"], lay["cb"]
    n_tiles = b * -(-h // th) * -(-w // tw)
    buffer = ((th + k - 1) * (tw + k - 1) + th * tw) * cb * esize
    slots = lay["threads"] // max(32, ncg)
    checks = {
        "compiled geometry": (th, tw, ncg) == (cd.WG_TILE_H, cd.WG_TILE_W, cd.WG_NCG) and lay["threads"] == tw * ncg,
        "whole warps": lay["threads"] % 32 == 0,
        "shuffle groups": 32 % ncg == 0 or ncg % 32 == 0,
        "ncg pow2": ncg & (ncg - 1) == 0 and cb == ncg * vec,
        "channels covered": lay["grid_y"] * cb >= c > (lay["grid_y"] - 1) * cb,
        "patches covered": lay["grid_x"] * lay["tiles_per_block"] >= n_tiles
        and (lay["grid_x"] - 1) * lay["tiles_per_block"] < n_tiles,
        "smem": 2 * buffer <= lay["smem"] <= cd.SMEM_LIMIT,
        "reduction slots fit": slots * (k * k + 1) * cb * acc_size <= lay["smem"],
    }
    return [name for name, ok in checks.items() if not ok]


def layout_errors(lay, b, h, w, c, k, esize, vec, backward, acc_size):
    th, tw, ncg = lay["tile_h"], lay["tile_w"], lay["ncg"]
    rows = cd.BWD_ROWS if backward else cd.FWD_ROWS
    max_threads = cd.BWD_MAX_THREADS if backward else cd.FWD_MAX_THREADS
    n_tiles = b * -(-h // th) * -(-w // tw)
    halo = (th + k - 1) * (tw + k - 1) * lay["cb"] * esize
    checks = {
        "threads": lay["threads"] == ncg * tw * (th // rows) <= max_threads and th % rows == 0,
        "ncg pow2": ncg & (ncg - 1) == 0 and lay["cb"] == ncg * vec,
        "channels covered": lay["grid_y"] * lay["cb"] >= c > (lay["grid_y"] - 1) * lay["cb"],
        "patches covered": lay["grid_x"] * lay["tiles_per_block"] >= n_tiles
        and (lay["grid_x"] - 1) * lay["tiles_per_block"] < n_tiles,
        "smem": lay["smem"] >= (4 if backward else 1) * halo and lay["smem"] <= cd.SMEM_LIMIT,
    }
    if backward:
        slots = lay["threads"] // max(32, ncg)
        checks["whole warps"] = lay["threads"] % 32 == 0
        checks["shuffle groups"] = 32 % ncg == 0 or ncg % 32 == 0
        checks["reduction slots fit"] = slots * (k * k + 1) * lay["cb"] * acc_size <= lay["smem"]
    else:
        checks["one patch a block"] = lay["grid_x"] == n_tiles
    return [name for name, ok in checks.items() if not ok]


# ------------------------------------------------------------------- emulation of the kernels' index arithmetic

def tile_at(t, h, w, th, tw):
    tiles_x = -(-w // tw)
    per_image = tiles_x * -(-h // th)
    b, r = divmod(t, per_image)
    return b, (r // tiles_x) * th, (r % tiles_x) * tw


def load_halo(src, b, ybase, xbase, c0, ncg, vec, threads, rows, cols):
    """tile[row, col, channel] as load_halo stores it (zero outside the image and past C), walking each
    thread's elements i = tid, tid + threads, ... with the kernel's division-free (row, col) steps; every
    vector of the tile must be written exactly once."""
    _, h, w, c = src.shape
    cb = ncg * vec
    tile = torch.full((rows * cols * ncg, vec), float("nan"), dtype=src.dtype)
    writes = torch.zeros(rows * cols * ncg, dtype=torch.int32)
    step = threads // ncg
    drow, dcol = divmod(step, cols)
    for tid in range(threads):
        cg, p = tid % ncg, tid // ncg
        row, col = divmod(p, cols)
        cc = c0 + cg * vec
        for i in range(tid, rows * cols * ncg, threads):
            yy, xx = ybase + row, xbase + col
            val = torch.zeros(vec, dtype=src.dtype)
            if cc < c and 0 <= yy < h and 0 <= xx < w:
                val[:min(vec, c - cc)] = src[b, yy, xx, cc:cc + vec]  # past C only with vec 1 (C % vec == 0)
            tile[i] = val
            writes[i] += 1
            row, col = row + drow, col + dcol
            if col >= cols:
                col, row = col - cols, row + 1
    assert bool((writes == 1).all()), "halo slots not written exactly once"
    return tile.reshape(rows, cols, cb)


def thread_pixels(tid, ncg, vec, tw, rows):
    cg, pg = tid % ncg, tid // ncg
    return cg, pg % tw, (pg // tw) * rows


def conv_rows(tile, wr, ty0, tx, cg, vec, k, rows):
    """acc[o, e] as conv_rows accumulates it: halo row ty0 + rr feeds output row rr - u with weight u*k + v."""
    acc = torch.zeros(rows, vec, dtype=tile.dtype)
    for rr in range(rows + k - 1):
        for v in range(k):
            val = tile[ty0 + rr, tx + v, cg * vec:(cg + 1) * vec]
            for u in range(k):
                o = rr - u
                if 0 <= o < rows:
                    acc[o] += wr[u * k + v] * val
    return acc


def weights_flipped(w2, c, vec, c_total, k):
    """wr[t, e] as the backward's load_weights_flipped reads (C, k*k) (zero past C)."""
    wr = torch.zeros(k * k, vec, dtype=w2.dtype)
    for t in range(k * k):
        for e in range(vec):
            if c + e < c_total:
                wr[t, e] = w2[c + e, k * k - 1 - t]
    return wr


def fwd_weights(w2, c, vec, c_total, k, dx):
    """wr[t, e] as fwd_kernel reads (C, k*k): k*k vectors run[j] = elements c*k*k + j*vec .. + vec - 1 (zero
    from C on), then wr[t][e] = run[(e*k*k + tap) // vec][(e*k*k + tap) % vec], tap = k*k - 1 - t for the DX
    instance (flipped taps), else t."""
    kk, flat = k * k, w2.reshape(-1)
    run = [flat[c * kk + j * vec:][:vec] if c < c_total else torch.zeros(vec, dtype=w2.dtype) for j in range(kk)]
    flip = dx and MUTANT != "dx-noflip"
    taps = [kk - 1 - t if flip else t for t in range(kk)]
    return torch.stack([torch.stack([run[(e * kk + tap) // vec][(e * kk + tap) % vec] for e in range(vec)])
                        for tap in taps])


def emulate_forward(x, w2, bias, residual, dx, lay, vec, k, count, init=None):
    """y as fwd_kernel writes it; dx: the DX instance (x is dy, taps flipped in the kernel, no bias; init: the
    accumulate flag's prior contents of out)."""
    bsz, h, w, c = x.shape
    th, tw, ncg, cb, rows = lay["tile_h"], lay["tile_w"], lay["ncg"], lay["cb"], cd.FWD_ROWS
    bias = None if dx else bias
    y = torch.zeros_like(x) if init is None else init.clone()
    for bx in range(lay["grid_x"]):
        for by in range(lay["grid_y"]):
            b, y0, x0 = tile_at(bx, h, w, th, tw)
            c0 = by * cb
            tile = load_halo(x, b, y0 - k // 2, x0 - k // 2, c0, ncg, vec, lay["threads"], th + k - 1, tw + k - 1)
            for tid in range(lay["threads"]):
                cg, tx, ty0 = thread_pixels(tid, ncg, vec, tw, rows)
                cc = c0 + cg * vec
                acc = conv_rows(tile, fwd_weights(w2, cc, vec, c, k, dx), ty0, tx, cg, vec, k, rows)
                store_rows(y, count, acc, tile, b, y0, x0, ty0, tx, cg, cc, vec, k, rows, bias, residual,
                           accumulate=init is not None)
    return y


def store_rows(out, count, acc, tile, b, y0, x0, ty0, tx, cg, cc, vec, k, rows, bias, residual, accumulate=False):
    _, h, w, c = out.shape
    xx = x0 + tx
    if xx >= w or cc >= c:
        return
    for o in range(rows):
        yy = y0 + ty0 + o
        if yy >= h:
            break
        val = acc[o].clone()
        if bias is not None:
            val += bias[cc:cc + vec]
        if residual:
            val += tile[ty0 + o + k // 2, tx + k // 2, cg * vec:(cg + 1) * vec]
        if accumulate:  # read-modify-write: each element is stored once, so this reads out's initial value
            val += out[b, yy, xx, cc:cc + vec]
        out[b, yy, xx, cc:cc + vec] = val
        count[b, yy, xx, cc:cc + vec] += 1


def emulate_backward(x, dy, w2, residual, lay, vec, k, count, part_count, init=None):
    bsz, h, w, c = x.shape
    th, tw, ncg, rows = lay["tile_h"], lay["tile_w"], lay["ncg"], cd.BWD_ROWS
    kk = k * k
    dx = torch.zeros_like(x) if init is None else init.clone()  # init: the accumulate flag's prior contents
    part = torch.zeros(lay["grid_x"], kk + 1, c, dtype=x.dtype)
    for bx, c0, patches in block_patches(lay, h, w):
        wacc = torch.zeros(lay["threads"], kk + 1, vec, dtype=x.dtype)
        for b, y0, x0 in patches:
            xs, ds = (load_halo(src, b, y0 - k // 2, x0 - k // 2, c0, ncg, vec, lay["threads"], th + k - 1,
                                tw + k - 1) for src in (x, dy))
            for tid in range(lay["threads"]):
                cg, tx, ty0 = thread_pixels(tid, ncg, vec, tw, rows)
                cc = c0 + cg * vec
                acc = conv_rows(ds, weights_flipped(w2, cc, vec, c, k), ty0, tx, cg, vec, k, rows)
                store_rows(dx, count, acc, ds, b, y0, x0, ty0, tx, cg, cc, vec, k, rows, None, residual,
                           accumulate=init is not None)
                g = ds[ty0 + k // 2:ty0 + k // 2 + rows, tx + k // 2, cg * vec:(cg + 1) * vec]
                wacc[tid, kk] += g.sum(0)
                for rr in range(rows + k - 1):
                    for v in range(k):
                        xv = xs[ty0 + rr, tx + v, cg * vec:(cg + 1) * vec]
                        for u in range(k):
                            if 0 <= rr - u < rows:
                                wacc[tid, u * k + v] += g[rr - u] * xv
        block_sums_to_part(wacc, ncg, vec, c0, part[bx], part_count[bx])
    return dx, part.sum(0)


def block_patches(lay, h, w):
    """(bx, first channel, the patches (b, y0, x0) in walking order) for each block of a kernel that walks
    tiles_per_block consecutive patches (the fused backward and wgrad_kernel)."""
    for bx in range(lay["grid_x"]):
        first = bx * lay["tiles_per_block"]
        tiles = range(first, min(first + lay["tiles_per_block"], lay["n_tiles"]))
        for by in range(lay["grid_y"]):
            yield bx, by * lay["cb"], [tile_at(t, h, w, lay["tile_h"], lay["tile_w"]) for t in tiles]


def block_sums_to_part(acc, ncg, vec, c0, part, part_count):
    """part[:, c0 ..] as block_sums_to_part writes it from the threads' acc (threads, N, vec): the butterfly
    over lanes t ^ m (m = ncg, 2 ncg, .. < 32) within each warp, then slot s = t // max(32, ncg) from the
    threads with t % span < ncg, then the slots summed in order."""
    threads, n, _ = acc.shape
    c, cb = part.shape[1], ncg * vec
    m = ncg
    while m < 32:
        acc = acc + acc[torch.arange(threads) ^ m]  # both lanes of a pair add the other's value before the step
        m *= 2
    span = ncg if MUTANT == "red-span" else max(32, ncg)
    red = torch.zeros(threads // span, n, cb, dtype=acc.dtype)
    for t in range(threads):
        if t % span < ncg:
            cg = t % ncg
            red[t // span, :, cg * vec:(cg + 1) * vec] = acc[t]
    total = red.sum(0)
    for cc in range(cb):
        if c0 + cc < c:
            part[:, c0 + cc] = total[:, cc]
            part_count[:, c0 + cc] += 1


def emulate_wgrad(x, dy, lay, vec, k, part_count):
    """The sums (k*k + 1, C) as wgrad_kernel makes them: per block and patch the x halo and the dy patch staged
    by load_halo, thread t sums column t // ncg for channel group t % ncg (column_sums), block_sums_to_part."""
    bsz, h, w, c = x.shape
    th, tw, ncg, kk, p = lay["tile_h"], lay["tile_w"], lay["ncg"], k * k, k // 2
    part = torch.zeros(lay["grid_x"], kk + 1, c, dtype=x.dtype)
    for bx, c0, patches in block_patches(lay, h, w):
        wacc = torch.zeros(lay["threads"], kk + 1, vec, dtype=x.dtype)
        for b, y0, x0 in patches:
            xs = load_halo(x, b, y0 - p, x0 - p, c0, ncg, vec, lay["threads"], th + k - 1, tw + k - 1)
            ds = load_halo(dy, b, y0, x0, c0, ncg, vec, lay["threads"], th, tw)
            for tid in range(lay["threads"]):
                cg, tx = tid % ncg, tid // ncg
                column_sums(xs[:, tx:tx + k, cg * vec:(cg + 1) * vec], ds[:, tx, cg * vec:(cg + 1) * vec], k,
                            wacc[tid])
        block_sums_to_part(wacc, ncg, vec, c0, part[bx], part_count[bx])
    return part.sum(0)


def column_sums(xcol, dcol, k, wacc):
    """wacc (k*k + 1, vec) += one thread's column_sums: halo row rr (xcol[rr, v]) pairs with dy row rr - u."""
    th = dcol.shape[0]
    shift = 1 if MUTANT == "dy-row" else 0
    for rr in range(th + k - 1):
        if rr < th:
            wacc[k * k] += dcol[rr]
        for v in range(k):
            for u in range(k):
                r = rr - u + shift
                if 0 <= r < th:
                    wacc[u * k + v] += dcol[r] * xcol[rr, v]


EMU_CASES = [  # (B, H, W, C, k, residual, strided, constants)
    (1, 5, 7, 16, 3, True, False, {}), (2, 3, 2, 8, 5, False, True, {}), (1, 1, 6, 12, 3, True, False, {}),
    (2, 6, 1, 5, 5, True, False, {}),
    (1, 9, 19, 24, 3, False, True, dict(FWD_TILE_H=4, FWD_TILE_W=8, BWD_TILE_H=4, BWD_TILE_W=8)),
    (1, 9, 19, 24, 3, False, True, dict(WG_TILE_H=4, WG_TILE_W=8, WG_NCG=4, WG_TILES_PER_BLOCK=3)),
    (3, 10, 9, 8, 7, True, False, dict(BWD_TILES_PER_BLOCK=3, FWD_ROWS=2)),
    (2, 11, 13, 16, 5, True, False, dict(BWD_TILE_W=8, BWD_MAX_THREADS=128, BWD_TILES_PER_BLOCK=3)),
    (2, 7, 5, 40, 3, True, False, dict(WG_NCG=32, WG_TILE_W=4, WG_TILE_H=4, WG_TILES_PER_BLOCK=2)),  # ncg >= 32
]


def check_emulation():
    for (b, h, w, c, k, residual, strided, cfg) in EMU_CASES:
        (x, weight, bias), dy = ref.random_case(b, h, w, 2 * c if strided else c, k, seed=b + h + k)
        x, weight, bias = (t.detach() for t in (x, weight, bias))
        x = x[..., :c] if strided else x
        weight, bias, dy = weight[:c], bias[:c], dy[..., :c]
        y_ref = ref.forward(x, weight, bias, residual)
        dx_ref, sums_ref = ref.backward(dy, x, weight, residual)
        w2 = weight.reshape(c, k * k)
        strides = (x.stride(0), x.stride(1), x.stride(2))
        with cd.launch_constants(cfg):
            vf, vb, vw = (cd.vec_width(c, 2, caps[k], strides) for caps in (cd.FWD_VEC, cd.BWD_VEC, cd.WG_VEC))
            lf = cd.conv_layout(b, h, w, c, k, 2, vf, backward=False)
            lb = cd.conv_layout(b, h, w, c, k, 2, vb, backward=True)
            lw = cd.wgrad_layout(b, h, w, c, k, 2, vw)
            counts = [torch.zeros(x.shape, dtype=torch.int32) for _ in range(3)]  # y, fused dx, split dx
            part_counts = [torch.zeros(lay["grid_x"], k * k + 1, c, dtype=torch.int32) for lay in (lb, lw)]
            y = emulate_forward(x, w2, bias, residual, False, lf, vf, k, counts[0])
            dx, sums = emulate_backward(x, dy, w2, residual, lb, vb, k, counts[1], part_counts[0])
            # the split backward: the forward kernel's DX instance on dy, wgrad_kernel
            fx = emulate_forward(dy, w2, bias, residual, True, lf, vf, k, counts[2])
            wsums = emulate_wgrad(x, dy, lw, vw, k, part_counts[1])
        errs = [ref.rel(y, y_ref), ref.rel(dx, dx_ref), ref.rel(sums, sums_ref), ref.rel(fx, dx_ref),
                ref.rel(wsums, sums_ref)]
        once = all(bool((n == 1).all()) for n in counts + part_counts)
        report(f"emulated kernels vs dwconv_ref (B {b}, {h}x{w}, C {c}, k {k}, residual {int(residual)}"
               f"{', strided' if strided else ''}{', ' + str(cfg) if cfg else ''}; vec {vf}/{vb}/{vw})",
               max(errs) < 1e-12 and once,
               "y / fused dx / fused sums / split dx / split sums " + " / ".join(f"{e:.1e}" for e in errs)
               + f"; each element stored once: {once}")


def check_accumulate():
    """The accumulate flag of both backward kernels (dx added to what out holds: cuda_branch.py adds dlepe's dv
    to dv there)."""
    b, h, w, c, k = 2, 9, 11, 16, 5
    (x, weight, bias), dy = ref.random_case(b, h, w, c, k, seed=5)
    x, weight = x.detach(), weight.detach()
    w2 = weight.reshape(c, k * k)
    init = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(1))
    dx_ref, sums_ref = ref.backward(dy, x, weight, False)
    vb, vf = (cd.vec_width(c, 2, caps[k], (x.stride(0), x.stride(1), x.stride(2))) for caps in (cd.BWD_VEC, cd.FWD_VEC))
    lb = cd.conv_layout(b, h, w, c, k, 2, vb, backward=True)
    count = torch.zeros(x.shape, dtype=torch.int32)
    count_part = torch.zeros(lb["grid_x"], k * k + 1, c, dtype=torch.int32)
    dx, sums = emulate_backward(x, dy, w2, False, lb, vb, k, count, count_part, init=init)
    errs = [ref.rel(dx, init + dx_ref), ref.rel(sums, sums_ref)]
    report("emulated fused backward with accumulate: out = prior contents + dx",
           max(errs) < 1e-12 and bool((count == 1).all()), "dx / sums " + " / ".join(f"{e:.1e}" for e in errs))
    count = torch.zeros(x.shape, dtype=torch.int32)
    lf = cd.conv_layout(b, h, w, c, k, 2, vf, backward=False)
    fx = emulate_forward(dy, w2, None, False, True, lf, vf, k, count, init=init)
    err = ref.rel(fx, init + dx_ref)
    report("emulated DX instance with accumulate: out = prior contents + dx", err < 1e-12 and bool((count == 1).all()),
           f"dx {err:.1e}")


def check_mutants():
    """Each deliberate bug of MUTANTS must make the split backward's emulation differ from dwconv_ref."""
    global MUTANT
    b, h, w, c, k = 1, 9, 19, 24, 3
    (x, weight, _), dy = ref.random_case(b, h, w, c, k, seed=7)
    x, weight = x.detach(), weight.detach()
    w2 = weight.reshape(c, k * k)
    dx_ref, sums_ref = ref.backward(dy, x, weight, True)
    for mutant in MUTANTS:
        MUTANT = mutant
        try:
            with cd.launch_constants(dict(FWD_TILE_H=4, FWD_TILE_W=8, WG_TILE_H=4, WG_TILE_W=8, WG_NCG=4)):
                vf, vw = (cd.vec_width(c, 2, caps[k], (c,)) for caps in (cd.FWD_VEC, cd.WG_VEC))
                lf = cd.conv_layout(b, h, w, c, k, 2, vf, backward=False)
                lw = cd.wgrad_layout(b, h, w, c, k, 2, vw)
                fx = emulate_forward(dy, w2, None, True, True, lf, vf, k, torch.zeros(x.shape, dtype=torch.int32))
                wsums = emulate_wgrad(x, dy, lw, vw, k, torch.zeros(lw["grid_x"], k * k + 1, c, dtype=torch.int32))
        finally:
            MUTANT = None
        errs = [ref.rel(fx, dx_ref), ref.rel(wsums, sums_ref)]
        report(f"mutant {mutant}: the split backward's emulation no longer matches dwconv_ref", max(errs) > 1e-3,
               "dx / sums " + " / ".join(f"{e:.1e}" for e in errs))


def check_model_without_cuda():
    import nalasr_model as nm
    import train
    model = nm.NalaSR(nm.ModelConfig(channels=16, heads=2, groups=1, blocks=1, scale=2))
    try:
        model.set_depthwise("cuda")
        report("set_depthwise('cuda') without CUDA raises", False, "it did not")
    except RuntimeError as exc:
        report("set_depthwise('cuda') without CUDA raises", True, str(exc)[:100])
    report("train.use_depthwise(model, 'cuda') without CUDA keeps shift",
           train.use_depthwise(model, "cuda", "cpu") == "shift")
    out = model(torch.rand(1, 8, 8, 3))
    report("the model still runs (shift)", out.shape == (1, 16, 16, 3))


def check_nvcc():
    def name_of(line):
        m = re.search(r"Compiling entry function '_Z\d+(\w+?)I\d*(\w+?)Li(\d)ELi(\d)E(Lb1E)?", line)
        if not m:
            return None
        kernel, dtype, k, vec, dx = m.groups()
        return f"{kernel}{' DX' if dx else ''} {dtype} k{k} vec{vec}"

    for arch in ((8, 0), (9, 0)):
        code, log, warnings = cuda_ext.ptxas_build(arch, cd.SOURCE, cd.compile_defines())
        report(f"nvcc sm_{arch[0]}{arch[1]} compiles without warnings", code == 0 and not warnings,
               "; ".join(warnings[:3]) or log[-300:] if code else f"{len(warnings)} warnings")
        print("      " + "\n      ".join(cuda_ext.ptxas_usage(log, name_of)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nvcc", action="store_true", help="also compile the .cu for sm_80 and sm_90 (about 2 min)")
    ap.add_argument("--mutant", choices=MUTANTS, help="run the emulation checks with this deliberate bug")
    args = ap.parse_args()
    check_struct()
    check_build_keys()
    check_vec_width()
    check_layouts()
    check_wgrad_layouts()
    if args.mutant:
        global MUTANT
        MUTANT = args.mutant
        print(f"emulation mutant {MUTANT}: the emulation checks below should FAIL")
    check_emulation()
    check_accumulate()
    if not args.mutant:
        check_mutants()
    check_model_without_cuda()
    if args.nvcc:
        check_nvcc()
    print(f"{len(FAILS)} failed" + (": " + ", ".join(FAILS) if FAILS else ""))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
