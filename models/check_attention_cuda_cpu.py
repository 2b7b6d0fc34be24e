"""CPU checks of the CUDA NaLa attention (cuda_attention.py, cuda_attention/nala_attention.cu) without a GPU.

  1. NalaArgs (ctypes) has NalasrNalaArgs's fields in the .cu's order, 8 bytes each
  2. build: nvcc flags carry every compile-time constant of the .cu; the cache path changes with the source,
     the included cuda_ext.cuh, a constant and the GPU architecture
  3. make_args on chunks of one qkvg tensor: pointers at the chunks' offsets, token strides 4C; chunk counts and
     partial-sum shapes; the tiles of the reducing kernels fit the static shared memory for every instantiation
  4. a torch emulation of the kernels (nala_emulation.py: the same blocks, tiles, per-thread entries and
     per-token loops over channels, reading through the args' pointers and strides, state two lanes a token,
     the tiles through the .cu's shared-memory layout) in float64 (also in the float kernels' structure: the
     tensor-core sums split over the warps; and with __logf / __expf's error bounds added) vs
     attention_math.nala_plain: o, dq, dk, dv; every output and partial-sum entry stored once, every staged word
     stored once and read only once stored; state's loads (lines, sector use) against kbwd's, the staging stores
     free of bank conflicts, and each of nala_emulation.MUTATIONS caught (--mutate NAME plants one everywhere)
  5. the kernels' 32-bit block decode (ChunkOf, TokenOf, as emulated) == exact division at the largest sizes
     geometry_ok lets through, and geometry_ok refuses one token more
  6. nalasr_model / train.py without CUDA: formulation "cuda" raises, --attention-impl cuda falls back to fast
  7. with --nvcc: the .cu compiles for sm_80 and sm_90 without warnings; registers / spills per kernel; the
     built library's own geometry_ok (called through ctypes: it runs before any CUDA call) agrees with 5's
Usage: /usr/bin/python3 models/check_attention_cuda_cpu.py [--nvcc] [--mutate NAME]   (exit 1 on a failure)
"""
import argparse
import ctypes
import os
import re
import sys
import tempfile

import torch

import attention_math as am
import cuda_attention as ca
import cuda_ext
import nala_emulation as emu

FAILS = []
MUTATION = ""  # --mutate: a deliberate staging bug planted in every emulation (the checks must FAIL)


def report(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILS.append(name)


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-300)).item()


def check_struct():
    names = cuda_ext.struct_fields(ca.SOURCE, "NalasrNalaArgs")
    want = [name for name, _ in ca.NalaArgs._fields_]
    report("NalaArgs fields = NalasrNalaArgs fields, in order", names == want, f"{len(names)} fields")
    report("NalaArgs is 8 bytes a field", ctypes.sizeof(ca.NalaArgs) == 8 * len(want))
    text = ca.SOURCE.read_text()
    report("every stride prefix names two fields",
           all(f"{p}b" in names and f"{p}n" in names for p in ca.STRIDE_PREFIX.values()))
    codes = dict(re.findall(r"DT_(\w+) = (\d+)", (ca.SOURCE.parent.parent / "cuda_ext.cuh").read_text()))
    want_codes = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16, "F16": torch.float16}
    report("cuda_ext.DTYPES = the DT_ codes of cuda_ext.cuh",
           all(cuda_ext.DTYPES[want_codes[k]] == int(v) for k, v in codes.items()) and len(codes) == 4)
    report("the .cu dispatches the head widths of HEAD_DIMS",
           sorted(int(d) for d in re.findall(r"case (\d+): return launch<", text)) == list(ca.HEAD_DIMS))


def check_build_keys():
    cmd = cuda_ext.nvcc_command((9, 0), "s.cu", "o.so", ca.compile_defines())
    defines = {d[2:].split("=")[0] for d in cmd if d.startswith("-D")}
    macros = set(re.findall(r"#ifndef (\w+)", ca.SOURCE.read_text()))
    report("every #ifndef constant of the .cu is passed by the wrapper", macros == defines,
           f"missing {macros - defines or '{}'}, extra {defines - macros or '{}'}")
    report("sm_90 gencode", "arch=compute_90,code=sm_90" in cmd)
    headers = cuda_ext.local_headers(ca.SOURCE)
    report("local_headers finds cuda_ext.cuh", [h.name for h in headers] == ["cuda_ext.cuh"], str(headers))
    base = cuda_ext.library_path(ca.SOURCE, (9, 0), ca.compile_defines())
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "nala_attention.cu")
        hdr = os.path.join(tmp, "cuda_ext.cuh")
        text = ca.SOURCE.read_text().replace('"../cuda_ext.cuh"', '"cuda_ext.cuh"')
        open(src, "w").write(text)
        open(hdr, "w").write(headers[0].read_text())
        p1 = cuda_ext.library_path(src, (9, 0), ca.compile_defines())
        open(hdr, "a").write("// changed\n")
        p2 = cuda_ext.library_path(src, (9, 0), ca.compile_defines())
    other_define = cuda_ext.library_path(ca.SOURCE, (9, 0), dict(ca.compile_defines(), REDUCE_MIN_BLOCKS=2))
    report("cache key: changes with the header, a constant and the arch",
           p1 != p2 and other_define != base and cuda_ext.library_path(ca.SOURCE, (8, 0), ca.compile_defines()) != base)
    old = os.environ.get("NALASR_CUDA_EXT_CACHE")
    os.environ["NALASR_CUDA_EXT_CACHE"] = "/tmp/elsewhere"
    moved = str(cuda_ext.library_path(ca.SOURCE, (9, 0), ca.compile_defines())).startswith("/tmp/elsewhere/")
    if old is None:
        del os.environ["NALASR_CUDA_EXT_CACHE"]
    else:
        os.environ["NALASR_CUDA_EXT_CACHE"] = old
    report("cache dir follows $NALASR_CUDA_EXT_CACHE", moved)


def check_args():
    b, n, c, heads = 2, 300, 64, 4
    qkvg = torch.randn(b, n, 4 * c, dtype=torch.bfloat16)
    q, k, v, _ = qkvg.chunk(4, dim=-1)
    a = ca.make_args(q, heads, 7, q=q, k=k, v=v, out=torch.empty(b, n, c))
    esize = qkvg.element_size()
    ok = (a.q == qkvg.data_ptr() and a.k == qkvg.data_ptr() + c * esize and a.v == qkvg.data_ptr() + 2 * c * esize
          and (a.sqb, a.sqn, a.skn, a.svn) == (n * 4 * c, 4 * c, 4 * c, 4 * c) and (a.sob, a.son) == (n * c, c)
          and (a.B, a.N, a.heads, a.d, a.dtype, a.stream) == (b, n, heads, c // heads, 2, 7)
          and a.chunks == -(-n // ca.CHUNK) and a.chunk == ca.CHUNK and a.dk is None)
    report("make_args: chunks of one qkvg tensor (pointers, token strides 4C, sizes)", ok)
    try:
        ca.make_args(q, heads, 0, q=qkvg.transpose(1, 2))
        report("make_args refuses a channel stride != 1", False)
    except AssertionError:
        report("make_args refuses a channel stride != 1", True)
    report("partial_shape", ca.partial_shape(2, 4, 4096, 16) == (8, 16, 544) and ca.CHUNK == 256)
    for acc_bytes in (4, 8):
        for d in ca.HEAD_DIMS:
            for extra in (0, (2 * d * d + 2 * d) * acc_bytes):
                tile = emu.tile_tokens(acc_bytes, d, extra)
                smem = emu.stage_elems(d, tile) * acc_bytes + extra
                report(f"tile: {acc_bytes}-byte math, d {d}, +{extra} B head: {tile} tokens, {smem} B <= 48 kB",
                       smem <= 49152 and tile >= 32)


def check_emulation():
    # (b, (h, w), heads, d, dtype, chunk, threads, token_threads, other Geometry fields): ragged chunks, tiles and
    # blocks; the reducing kernels need threads >= 2d (a thread a vector entry), whole warps for float math;
    # float_structure: the float kernels' structure (tensor-core sums split over the warps) in float64 arithmetic
    fs64 = dict(float_structure=True)
    cases = [
        (2, (5, 7), 2, 8, torch.float64, ca.CHUNK, ca.REDUCE_THREADS, ca.TOKEN_THREADS, {}),
        (1, (9, 31), 4, 16, torch.float64, ca.CHUNK, ca.REDUCE_THREADS, ca.TOKEN_THREADS, {}),
        (2, (9, 17), 2, 16, torch.float64, 70, 32, 16, {}),  # several chunks, tiles a chunk, ragged everything
        # the tensor-core sums: chunks ending inside an 8-token step, 1-warp reducing blocks, the last tile ragged
        (2, (9, 17), 2, 16, torch.float64, 70, 32, 32, fs64),
        (2, (5, 7), 2, 8, torch.float64, ca.CHUNK, ca.REDUCE_THREADS, ca.TOKEN_THREADS, fs64),  # warps past N
        (1, (9, 31), 4, 16, torch.float64, 40, 64, 64, fs64),
        (1, (9, 31), 4, 16, torch.float64, ca.CHUNK, ca.REDUCE_THREADS, ca.TOKEN_THREADS, fs64),
        (1, (7, 9), 1, 8, torch.float32, 40, 32, 8, {}),  # float math: the tensor-core sums run whole warps
        (1, (7, 9), 2, 16, torch.float32, 40, 32, 8, {}),  # state's half rows of two 16-byte vectors
        (1, (7, 9), 2, 8, torch.float16, 40, 32, 8, {}),  # state one thread a token (16-byte rows)
        (1, (8, 12), 4, 16, torch.bfloat16, ca.CHUNK, ca.REDUCE_THREADS, ca.TOKEN_THREADS, {}),
        # float64 arithmetic plus the worst-case error of the float kernels' __logf / __expf: must stay 10x
        # below check_cuda_attention's float32 bounds (out 1e-4, gradients 1e-3)
        (2, (9, 31), 4, 16, torch.float64, ca.CHUNK, ca.REDUCE_THREADS, ca.TOKEN_THREADS, dict(fast_math=True)),
    ]
    for b, hw, heads, d, dtype, chunk, threads, token_threads, extra in cases:
        geo = emu.Geometry(chunk=chunk, threads=threads, token_threads=token_threads, mutation=MUTATION, **extra)
        ok, detail = emulation_case(b, hw, heads, d, dtype, geo)
        structure = " (float structure)" if geo.float_structure else " (fast-math error bounds)" * geo.fast_math
        report(f"emulation {dtype} B {b}, {hw[0]}x{hw[1]}, {heads} heads, d {d}, chunk {chunk}, threads "
               f"{threads}/{token_threads}{structure} vs plain float64", ok, detail)


def emulation_case(b, hw, heads, d, dtype, geo, inspect=None):
    """The emulated kernels on random q, k, v (chunks of one qkvg tensor, as the model passes them) vs plain
    float64 -> (relative errors within the dtype's bound and every store right, detail)."""
    c = heads * d
    n = hw[0] * hw[1]
    g = torch.Generator().manual_seed(b * 100 + n)
    qkvg = torch.randn(b, n, 4 * c, generator=g, dtype=torch.float64)
    qkvg[0, 3, 2] = 0.0  # zero channels of q (0^p) and k
    qkvg[0, 5, c + 1] = 0.0
    qkvg = qkvg.to(dtype)
    q, k, v, _ = qkvg.chunk(4, dim=-1)  # strided, as the model passes them
    go = torch.randn(b, n, c, generator=g, dtype=torch.float64)
    cos, sin = am.rope_angles(*hw, d, "cpu", torch.float64)
    o, (dq, dk, dv), counts_ok = emu.forward_backward(q, k, v, go, cos, sin, heads, geo, inspect)
    x64 = [t.detach().double().requires_grad_() for t in (q, k, v)]
    o0 = am.nala_plain(*x64, heads, *hw)
    g0 = torch.autograd.grad(o0, x64, go)
    errs = [rel(o, o0)] + [rel(x, y) for x, y in zip((dq, dk, dv), g0)]
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 1e-3, torch.bfloat16: 4e-3}[dtype]  # dq, dk, dv stored
    tol = 1e-5 if geo.fast_math else tol
    return (all(e < tol for e in errs) and counts_ok,
            "out {:.1e} dq {:.1e} dk {:.1e} dv {:.1e}".format(*errs) + ("" if counts_ok else "; stores wrong"))


def staging_stats(d, heads, mutation):
    """bf16 at the model's layout, float math: -> (sector_use of the load trace, worst bank conflict of the reducing
    kernels' staging stores {kernel: n-way})."""
    found = {}

    def inspect(mem):
        found["use"] = emu.sector_use(mem.trace)
        found["banks"] = {kernel: emu.bank_conflicts(stage) for kernel, stage in mem.stages}
    emulation_case(1, (8, 24), heads, d, torch.bfloat16, emu.Geometry(mutation=mutation), inspect)
    return found["use"], found["banks"]


def check_staging():
    """state's two lanes a token: its k, v, cos, sin loads against kbwd's (one lane a token, same rows) in 128-byte
    lines (~ L1 wavefronts) and sector use; the staging stores free of bank conflicts; each MUTATION caught."""
    for d, heads in ((16, 4), (8, 8)):
        use, banks = staging_stats(d, heads, MUTATION)
        lines = {tag: n * ln for tag, (n, ln, _) in use.items()}
        # d 16: half the lines and whole sectors; d 8: one thread a token (16-byte rows), as kbwd
        gain = 2 if d == 16 else 1
        ok = all(lines[f"state {x}"] * gain <= lines[f"kbwd {x}"] for x in ("k", "v", "cos", "sin"))
        ok = ok and (d != 16 or all(use[f"state {x}"][2] == 1 for x in ("k", "v", "cos", "sin")))
        report(f"state loads, bf16 d {d}: lines and sector use vs kbwd's one lane a token", ok, ", ".join(
            f"{x} {lines[f'state {x}']:.0f} / {lines[f'kbwd {x}']:.0f} lines, sectors "
            f"{use[f'state {x}'][2]:.0%} / {use[f'kbwd {x}'][2]:.0%}" for x in ("k", "v", "cos", "sin")))
        report(f"staging stores free of bank conflicts (float math, d {d})", all(w == 1 for w in banks.values()),
               ", ".join(f"{kernel} {w}-way" for kernel, w in banks.items()))
    ok, detail = emulation_case(2, (9, 17), 2, 16, torch.float64, emu.Geometry(chunk=70, mutation="part-stride"))
    report("mutation 'part-stride' (mis-indexed staging) fails the float64 comparison", not ok, detail)
    _, banks = staging_stats(16, 4, "unpadded-groups")
    report("mutation 'unpadded-groups' fails the bank-conflict check", banks["state"] > 1,
           ", ".join(f"{kernel} {w}-way" for kernel, w in banks.items()))


# (B, heads, N, chunk): the largest sizes geometry_ok lets through along each bound (N + chunk, N + token threads,
# the reducing grid, the token grid), and those sizes one step further (refused)
EDGE_SIZES = [(1, 1, 2**31 - 1 - ca.CHUNK, ca.CHUNK), (1, 1, 2**31 - 1 - ca.TOKEN_THREADS, 1),
              ((2**31 - 1) // 24, 4, 3 * ca.TOKEN_THREADS, ca.TOKEN_THREADS // 2),
              ((2**31 - 1) // 12, 4, 3 * ca.TOKEN_THREADS - 7, 400)]
REFUSED_SIZES = [(1, 1, 2**31 - ca.CHUNK, ca.CHUNK), (1, 1, 2**31 - ca.TOKEN_THREADS, 1),
                 ((2**31 - 1) // 24 + 1, 4, 3 * ca.TOKEN_THREADS, ca.TOKEN_THREADS // 2),
                 ((2**31 - 1) // 12 + 1, 4, 3 * ca.TOKEN_THREADS - 7, 400)]


def edge_args(b, heads, n, chunk):
    return ca.NalaArgs(B=b, N=n, heads=heads, d=16, dtype=cuda_ext.DTYPES[torch.float32], chunk=chunk,
                       chunks=-(-n // chunk))


def check_block_decode():
    threads = ca.TOKEN_THREADS
    for sizes in EDGE_SIZES:
        a = edge_args(*sizes)
        token_blocks = -(-a.N // threads)
        bad = []
        for block in {0, 1, a.chunks - 1, a.chunks, a.B * a.heads * a.chunks - 1} - {a.B * a.heads * a.chunks}:
            bh, chunk = divmod(block, a.chunks)
            t0 = chunk * a.chunk
            if emu.chunk_of(a, block) != (*divmod(bh, a.heads), bh, t0, min(t0 + a.chunk, a.N)):
                bad.append(("chunk", block))
        for block in {0, token_blocks - 1, token_blocks, a.B * a.heads * token_blocks - 1}:
            bh, blk = divmod(block, token_blocks)
            if emu.token_of(a, block, threads) != (*divmod(bh, a.heads), bh, blk * threads):
                bad.append(("token", block))
        report(f"32-bit block decode == exact at B {a.B}, {a.heads} heads, N {a.N}, chunk {a.chunk}",
               emu.geometry_ok(a) and not bad, str(bad))
    report("geometry_ok refuses each of those sizes one step further",
           not any(emu.geometry_ok(edge_args(*sizes)) for sizes in REFUSED_SIZES))


def check_library_guard(lib_path):
    """The built library's geometry_ok: ERR_GEOMETRY (-3) for REFUSED_SIZES from every entry point; past it for
    EDGE_SIZES (here a CUDA error, as there is no GPU)."""
    lib = ctypes.CDLL(lib_path)
    fns = [getattr(lib, name) for name in ca._FUNCTIONS]
    for f in fns:
        f.argtypes, f.restype = [ctypes.POINTER(ca.NalaArgs)], ctypes.c_int
    edge, refused = ([[f(ctypes.byref(edge_args(*sizes))) for f in fns] for sizes in table]
                     for table in (EDGE_SIZES, REFUSED_SIZES))
    report("the built library's geometry_ok: edge sizes pass, one step further refused",
           all(c != -3 for row in edge for c in row) and all(c == -3 for row in refused for c in row),
           f"codes: edge {edge}, refused {refused}")


def check_model_without_cuda():
    from nalasr_model import ModelConfig
    from train import build_model, use_attention_impl
    model = build_model(ModelConfig(blocks=1, groups=1), "cpu", "shift")
    try:
        model.set_formulation("cuda")
        report("set_formulation('cuda') raises without CUDA", False)
    except RuntimeError:
        report("set_formulation('cuda') raises without CUDA", True)
    report("use_attention_impl(cuda) falls back to fast without CUDA",
           use_attention_impl(model, "cuda", "cpu") == "fast")


def check_nvcc():
    def name_of(line):
        m = re.search(r"Compiling entry function '_Z\d+(\w+?)I(\w+?)EEv", line)
        return f"{m.group(1)} {m.group(2)}" if m else None

    for arch in ((8, 0), (9, 0)):
        code, log, warnings = cuda_ext.ptxas_build(arch, ca.SOURCE, ca.compile_defines(),
                                                   inspect=check_library_guard if arch == (9, 0) else None)
        report(f"nvcc sm_{arch[0]}{arch[1]} compiles without warnings", code == 0 and not warnings,
               "; ".join(warnings[:3]) or log[-500:] if code else f"{len(warnings)} warnings")
        for row in cuda_ext.ptxas_usage(log, name_of):
            print(f"      sm_{arch[0]}{arch[1]} {row}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nvcc", action="store_true", help="also compile the .cu for sm_80 and sm_90 (about 3 min)")
    ap.add_argument("--mutate", choices=sorted(emu.MUTATIONS), default="",
                    help="plant a deliberate staging bug in the emulation: the checks must FAIL")
    args = ap.parse_args()
    global MUTATION
    MUTATION = args.mutate
    check_struct()
    check_build_keys()
    check_args()
    check_emulation()
    check_staging()
    check_block_decode()
    check_model_without_cuda()
    if args.nvcc:
        check_nvcc()
    print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'}")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
