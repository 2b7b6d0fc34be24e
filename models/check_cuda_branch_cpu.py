"""CPU checks of the fused NaLa attention branch (cuda_branch.py, cuda_attention/nala_gate.cu) without a GPU.

  1. GateArgs (ctypes) has NalasrGateArgs's fields in the .cu's order, 8 bytes each; every #ifndef constant of
     the .cu is passed by the wrapper; the .cu includes cuda_ext.cuh; eps travels as the double's bits
  2. the hand-derived gate backward (gate_backward_reference: what nala_gate.cu computes) vs autograd of
     F.layer_norm(o + lepe) * F.silu(g) in float64 (values, do = dlepe, dg, d weight, d bias)
  3. an emulation of the gate kernels' index arithmetic in torch (grid-stride token slots, C / 8 lanes a token
     with 8 channels each, the xor-shuffle token sums, ragged last iteration, strided g / dg as chunks of a
     4C-wide tensor, per-block partial rows in a fixed order, the segmented finish) vs the reference in float64:
     every output element stored exactly once, every partial entry written once
  4. the branch composition (branch_forward / branch_backward: d(qkvg) written in slices, the lepe backward
     accumulating into dv) on float64 torch stages, with the gate stages from the emulation, vs autograd of
     the model's own code path (NalaAttention.forward before proj: chunk, lepe conv, nala_plain, norm, SiLU)
  5. the model wired to the branch (NalaAttention.branch = "cuda", the custom op replaced by an autograd
     Function over the same composition): output and every parameter gradient of a small NalaSR equal the
     inductor path's in float64
  6. without CUDA: set_attention_branch("cuda") raises, train.use_attention_branch keeps inductor
  7. with --nvcc: nala_gate.cu and dwconv_train.cu compile for sm_80 and sm_90 with no warnings; registers /
     spills per gate kernel
Usage: /usr/bin/python3 models/check_cuda_branch_cpu.py [--nvcc]   (exit 1 on a failure)
"""
import argparse
import re
import struct
import sys

import torch
import torch.nn.functional as F

import attention_math as am
import cuda_branch as cb
import cuda_ext
import dwconv_ref

FAILS = []


def report(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILS.append(name)


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-300)).item()


# ------------------------------------------------------------------------------------------------ 1

def check_struct_and_build():
    names = cuda_ext.struct_fields(cb.GATE_SOURCE, "NalasrGateArgs")
    want = [name for name, _ in cb.GateArgs._fields_]
    report("GateArgs fields = NalasrGateArgs fields, in order", names == want, f"{len(names)} fields")
    report("GateArgs is 8 bytes a field", cb.ctypes.sizeof(cb.GateArgs) == 8 * len(want))
    text = cb.GATE_SOURCE.read_text()
    macros = set(re.findall(r"#ifndef (\w+)", text))
    report("every #ifndef constant of nala_gate.cu is passed by the wrapper", macros == set(cb.compile_defines()),
           f"{sorted(macros)}")
    report("nala_gate.cu includes cuda_ext.cuh", any(h.name == "cuda_ext.cuh" for h in cuda_ext.local_headers(cb.GATE_SOURCE)))
    report("eps travels as the double's bits", struct.unpack("<d", struct.pack("<q", cb.eps_bits(1e-5)))[0] == 1e-5)
    c_ok = all(c % 8 == 0 and (c // 8) & (c // 8 - 1) == 0 and c // 8 <= 32 for c in cb.GATE_CHANNELS)
    report("gate channel counts: C / 8 lanes a token, a power of 2 <= 32 (full-warp xor shuffles)", c_ok)


# ------------------------------------------------------------------------------------------------ 2

def random_gate(t, c, seed, g_stride=None):
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64)  # noqa: E731
    o, lepe = r(t, c), r(t, c) * 0.5
    g_full = r(t, g_stride or c)
    g = g_full[:, :c]
    nw, nb, da = 1 + 0.3 * r(c), 0.2 * r(c), r(t, c)
    return o, lepe, g, nw, nb, da


def check_gate_math():
    for (t, c) in ((50, 64), (7, 8), (33, 32)):
        o, lepe, g, nw, nb, da = random_gate(t, c, seed=t)
        leaves = [x.clone().requires_grad_() for x in (o, lepe, g, nw, nb)]
        lo, ll, lg, lw, lb = leaves
        ref = F.layer_norm(lo + ll, (c,), lw, lb, eps=cb.EPS) * F.silu(lg)
        grads = torch.autograd.grad(ref, leaves, da)
        a, mean, rstd = cb.gate_reference(o, lepe, g, nw, nb)
        dz, dg, dnw, dnb = cb.gate_backward_reference(da, o, lepe, g, nw, nb, mean, rstd)
        errs = [rel(a, ref), rel(dz, grads[0]), rel(dz, grads[1]), rel(dg, grads[2]), rel(dnw, grads[3]),
                rel(dnb, grads[4])]
        report(f"gate reference vs autograd of layer_norm * silu (T {t}, C {c})", max(errs) < 1e-13,
               "a / do / dlepe / dg / dw / db " + " / ".join(f"{e:.1e}" for e in errs))


# ------------------------------------------------------------------------------------------------ 3

def lane_token_sum(vals):
    """The xor butterfly over G lanes (each lane holding one partial): every lane ends with the same sum."""
    vals = list(vals)
    m = 1
    while m < len(vals):
        vals = [vals[i] + vals[i ^ m] for i in range(len(vals))]
        m <<= 1
    assert all(v == vals[0] for v in vals)
    return vals[0]


def token_slots(bx, grid, per_block, t_total):
    """Block bx's grid-stride iterations over token slots -> (slot, token read, whether it is stored): the whole block
    runs the same iterations, and slots past the last token compute on token 0 and store nothing."""
    for base in range(bx * per_block, t_total, grid * per_block):
        for slot in range(per_block):
            t = base + slot
            yield slot, (t if t < t_total else 0), t < t_total


def emulate_gate(o, lepe, g, nw, nb, da, sms, count):
    """Both gate kernels as the .cu runs them -> a, mean, rstd, do, dlepe, dg, dw, db; count[name] counts stores."""
    t_total, c = lepe.shape
    lanes = c // 8
    threads = cb.GATE_THREADS
    per_block = threads // lanes
    eps = struct.unpack("<d", struct.pack("<q", cb.eps_bits(cb.EPS)))[0]
    a, do, dlepe, dg = (torch.full((t_total, c), float("nan"), dtype=o.dtype) for _ in range(4))
    mean, rstd = (torch.full((t_total,), float("nan"), dtype=o.dtype) for _ in range(2))
    # forward
    grid = cb.gate_grid(t_total, c, sms, backward=False)
    for bx in range(grid):
        for _, tt, ok in token_slots(bx, grid, per_block, t_total):
            z = [[o[tt, cl * 8 + e] + lepe[tt, cl * 8 + e] for e in range(8)] for cl in range(lanes)]
            mu = lane_token_sum([sum(zl, torch.zeros((), dtype=o.dtype)) for zl in z]) / c
            var = lane_token_sum([sum(((x - mu) ** 2 for x in zl), torch.zeros((), dtype=o.dtype))
                                  for zl in z]) / c
            r = 1.0 / torch.sqrt(var + eps)
            if not ok:
                continue
            for cl in range(lanes):
                for e in range(8):
                    ch = cl * 8 + e
                    gv = g[tt, ch]
                    a[tt, ch] = ((z[cl][e] - mu) * r * nw[ch] + nb[ch]) * (gv * torch.sigmoid(gv))
                    count["a"][tt, ch] += 1
            mean[tt], rstd[tt] = mu, r
            count["stats"][tt] += 1
    # backward
    grid = cb.gate_grid(t_total, c, sms, backward=True)
    part = torch.full((grid, 2, c), float("nan"), dtype=o.dtype)
    for bx in range(grid):
        sw = torch.zeros(per_block, c, dtype=o.dtype)  # [token slot][channel]: the lanes' running sums
        sb = torch.zeros(per_block, c, dtype=o.dtype)
        for slot, tt, ok in token_slots(bx, grid, per_block, t_total):
            zn = (o[tt] + lepe[tt] - mean[tt]) * rstd[tt]
            gv = g[tt]
            d = da[tt] if ok else torch.zeros(c, dtype=o.dtype)
            sg = torch.sigmoid(gv)
            dy = d * gv * sg
            dgv = d * (zn * nw + nb) * (sg * (1 + gv * (1 - sg)))
            sw[slot] += dy * zn
            sb[slot] += dy
            dyw = dy * nw
            m1 = lane_token_sum([dyw[cl * 8:cl * 8 + 8].sum() for cl in range(lanes)]) / c
            m2 = lane_token_sum([(dyw * zn)[cl * 8:cl * 8 + 8].sum() for cl in range(lanes)]) / c
            if not ok:
                continue
            dz = rstd[tt] * (dyw - m1 - zn * m2)
            dg[tt], do[tt], dlepe[tt] = dgv, dz, dz
            count["dg"][tt] += 1
            count["dz"][tt] += 1
        for j, s in enumerate((sw, sb)):  # the block reduction: token slots in order
            total = torch.zeros(c, dtype=o.dtype)
            for q in range(per_block):
                total = total + s[q]
            part[bx, j] = total
            count["part"][bx, j] += 1
    # finish: 32 interleaved row segments a column, then the segments in order
    sums = torch.zeros(2 * c, dtype=o.dtype)
    flat = part.reshape(grid, 2 * c)
    for col in range(2 * c):
        segs = [flat[r::32, col].sum() if r < grid else torch.zeros((), dtype=o.dtype) for r in range(32)]
        total = torch.zeros((), dtype=o.dtype)
        for s in segs:
            total = total + s
        sums[col] = total
    return a, mean, rstd, do, dlepe, dg, sums[:c], sums[c:], part


def check_gate_emulation():
    for (t, c, sms, g_stride) in ((70, 64, 1, 256), (5, 8, 1, None), (300, 32, 2, 128), (97, 256, 1, 1024)):
        o, lepe, g, nw, nb, da = random_gate(t, c, seed=c + t, g_stride=g_stride)
        grid_b = cb.gate_grid(t, c, sms, backward=True)
        count = dict(a=torch.zeros(t, c, dtype=torch.int32), stats=torch.zeros(t, dtype=torch.int32),
                     dg=torch.zeros(t, dtype=torch.int32), dz=torch.zeros(t, dtype=torch.int32),
                     part=torch.zeros(grid_b, 2, dtype=torch.int32))
        a, mean, rstd, do, dlepe, dg, dw, db, _ = emulate_gate(o, lepe, g, nw, nb, da, sms, count)
        a_ref, mean_ref, rstd_ref = cb.gate_reference(o, lepe, g, nw, nb)
        dz_ref, dg_ref, dw_ref, db_ref = cb.gate_backward_reference(da, o, lepe, g, nw, nb, mean_ref, rstd_ref)
        errs = [rel(a, a_ref), rel(mean, mean_ref), rel(rstd, rstd_ref), rel(do, dz_ref), rel(dlepe, dz_ref),
                rel(dg, dg_ref), rel(dw, dw_ref), rel(db, db_ref)]
        once = all(bool((v == 1).all()) for v in count.values())
        per_block = cb.GATE_THREADS // (c // 8)
        iters = -(-t // (grid_b * per_block))
        report(f"emulated gate kernels vs reference (T {t}, C {c}, g stride {g_stride or c}, backward grid "
               f"{grid_b} x {iters} iterations)", max(errs) < 1e-12 and once,
               "a / mean / rstd / do / dlepe / dg / dw / db " + " / ".join(f"{e:.0e}" for e in errs)
               + f"; each element stored once: {once}")


# ------------------------------------------------------------------------------------------------ 4, 5

def emulated_gate_stages():
    """REFERENCE_STAGES with the gate stages replaced by the kernel emulation (float64)."""
    def fwd(o, lepe, g, nw, nb):
        b, h, w, c = lepe.shape
        t = b * h * w
        count = dict(a=torch.zeros(t, c, dtype=torch.int32), stats=torch.zeros(t, dtype=torch.int32),
                     dg=torch.zeros(t, dtype=torch.int32), dz=torch.zeros(t, dtype=torch.int32),
                     part=torch.zeros(cb.gate_grid(t, c, 1, True), 2, dtype=torch.int32))
        zeros = torch.zeros(t, c, dtype=o.dtype)
        res = emulate_gate(o.reshape(t, c), lepe.reshape(t, c), g.reshape(t, c), nw, nb, zeros, 1, count)
        return res[0].reshape(lepe.shape), res[1], res[2]

    def bwd_into(da, o, lepe, g, nw, nb, mean, rstd, dg):
        b, h, w, c = lepe.shape
        t = b * h * w
        count = dict(a=torch.zeros(t, c, dtype=torch.int32), stats=torch.zeros(t, dtype=torch.int32),
                     dg=torch.zeros(t, dtype=torch.int32), dz=torch.zeros(t, dtype=torch.int32),
                     part=torch.zeros(cb.gate_grid(t, c, 1, True), 2, dtype=torch.int32))
        res = emulate_gate(o.reshape(t, c), lepe.reshape(t, c), g.reshape(t, c), nw, nb, da.reshape(t, c), 1, count)
        dg.copy_(res[5].reshape(dg.shape))
        return res[3].reshape(lepe.shape), res[4].reshape(lepe.shape), torch.stack([res[6], res[7]])
    return cb.REFERENCE_STAGES._replace(gate_fwd=fwd, gate_bwd_into=bwd_into)


def small_attention(c=32, heads=4, seed=0):
    import nalasr_model as nm
    torch.manual_seed(seed)
    attn = nm.NalaAttention(nm.ModelConfig(channels=c, heads=heads)).double()
    with torch.no_grad():
        for p in (attn.lepe.weight, attn.lepe.bias, attn.norm.weight, attn.norm.bias):
            p.add_(0.1 * torch.randn_like(p))
    attn.lepe.impl = "cudnn"
    return attn


def model_path(attn, qkvg, rope):
    """NalaAttention.forward's own code between the qkvg and proj GEMMs (plain NaLa, F.conv2d lepe)."""
    b, h, w, c4 = qkvg.shape
    c = c4 // 4
    q, k, v, g = qkvg.chunk(4, dim=-1)
    lepe = attn.lepe(v)
    o = am.nala_plain(*(t.reshape(b, h * w, c) for t in (q, k, v)), attn.heads, h, w).reshape(b, h, w, c)
    return attn.norm(o + lepe) * F.silu(g)


def check_composition():
    for stages, label in ((cb.REFERENCE_STAGES, "torch stages"), (emulated_gate_stages(), "emulated gate kernels")):
        b, h, w, c, heads = 2, 5, 7, 32, 4
        attn = small_attention(c, heads)
        gen = torch.Generator().manual_seed(3)
        qkvg = torch.randn(b, h, w, 4 * c, generator=gen, dtype=torch.float64)
        da = torch.randn(b, h, w, c, generator=gen, dtype=torch.float64)
        rope = am.rope_angles(h, w, c // heads, "cpu", torch.float64)
        leaf = qkvg.clone().requires_grad_()
        params = [attn.lepe.weight, attn.lepe.bias, attn.norm.weight, attn.norm.bias]
        ref = model_path(attn, leaf, rope)
        grads = torch.autograd.grad(ref, [leaf] + params, da)
        ps = [p.detach() for p in params]
        fw = cb.branch_forward(stages, qkvg, *ps, *rope, heads)
        dqkvg, sums, norm_sums = cb.branch_backward(stages, da, qkvg, ps[0], ps[2], ps[3], *rope, *fw[1:], heads)
        dlw, dlb = dwconv_ref.split_sums(sums, ps[0], ps[1].dtype)
        dnw, dnb = norm_sums
        errs = [rel(fw[0], ref), rel(dqkvg, grads[0])] + [rel(x, y) for x, y in zip((dlw, dlb, dnw, dnb), grads[1:])]
        slices = [rel(dqkvg[..., i * c:(i + 1) * c], grads[0][..., i * c:(i + 1) * c]) for i in range(4)]
        report(f"branch composition ({label}) vs autograd of the model path (B {b}, {h}x{w}, C {c})",
               max(errs) < 1e-11, "a / dqkvg / dlepe w / dlepe b / dnorm w / dnorm b "
               + " / ".join(f"{e:.0e}" for e in errs) + "; dq / dk / dv / dg " + " / ".join(f"{e:.0e}" for e in slices))


class BranchRef(torch.autograd.Function):
    """The custom op's contract (forward outputs, saved tensors, grad) over REFERENCE_STAGES, for torch 1.13."""

    @staticmethod
    def forward(ctx, qkvg, lepe_w, lepe_b, norm_w, norm_b, cos, sin, heads):
        out = cb.branch_forward(cb.REFERENCE_STAGES, qkvg, lepe_w, lepe_b, norm_w, norm_b, cos, sin, heads)
        ctx.save_for_backward(qkvg, lepe_w, norm_w, norm_b, cos, sin, *out[1:])
        ctx.heads, ctx.lepe_b_dtype = heads, lepe_b.dtype
        return out[0]

    @staticmethod
    def backward(ctx, da):
        qkvg, lepe_w, norm_w, norm_b, cos, sin, *saved = ctx.saved_tensors
        dqkvg, sums, (dnw, dnb) = cb.branch_backward(cb.REFERENCE_STAGES, da, qkvg, lepe_w, norm_w, norm_b, cos,
                                                     sin, *saved, ctx.heads)
        dlw, dlb = dwconv_ref.split_sums(sums, lepe_w, ctx.lepe_b_dtype)
        return dqkvg, dlw, dlb, dnw.to(norm_w.dtype), dnb.to(norm_b.dtype), None, None, None


def check_model_wiring():
    import nalasr_model as nm
    cfg = nm.ModelConfig(channels=32, heads=4, groups=1, blocks=2, scale=2)
    torch.manual_seed(0)
    model = nm.NalaSR(cfg).double()
    model.set_depthwise("cudnn")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    img = torch.rand(2, 6, 9, 3, dtype=torch.float64)
    gout = torch.randn(2, 12, 18, 3, dtype=torch.float64)
    results = []
    saved = getattr(cb, "_fwd_op", None)
    cb._fwd_op = lambda *args: (BranchRef.apply(*args),)
    try:
        for branch in ("inductor", "cuda"):
            for m in model.attention_modules():
                m.formulation, m.branch = ("cuda" if branch == "cuda" else "plain"), branch
            model.zero_grad(set_to_none=True)
            out = model(img)
            out.backward(gout)
            results.append([out.detach()] + [p.grad.clone() for p in model.parameters()])
    finally:
        if saved is None:
            del cb._fwd_op
        else:
            cb._fwd_op = saved
        for m in model.attention_modules():
            m.formulation, m.branch = "fast", "inductor"
    errs = [rel(a, b) for a, b in zip(results[1], results[0])]
    names = ["output"] + [n for n, _ in model.named_parameters()]
    worst = max(range(len(errs)), key=lambda i: errs[i])
    report("NalaSR with attention branch 'cuda' (op = the composition) vs the inductor path, float64",
           max(errs) < 1e-10, f"output {errs[0]:.1e}, worst of {len(errs) - 1} parameter gradients {errs[worst]:.1e} "
           f"({names[worst]})")


# ------------------------------------------------------------------------------------------------ 6, 7

def check_without_cuda():
    import nalasr_model as nm
    import train
    model = nm.NalaSR(nm.ModelConfig(channels=32, heads=4, groups=1, blocks=1, scale=2))
    try:
        model.set_attention_branch("cuda")
        report("set_attention_branch('cuda') without CUDA raises", False, "it did not")
    except RuntimeError as exc:
        report("set_attention_branch('cuda') without CUDA raises", True, str(exc)[:100])
    report("train.use_attention_branch(model, 'cuda') without the cuda formulation keeps inductor",
           train.use_attention_branch(model, "cuda", "cpu") == "inductor")
    for m in model.attention_modules():
        m.formulation = "cuda"
    ok, message = cb.self_check("cpu")
    report("cuda_branch.self_check without CUDA fails cleanly", not ok, message)
    for m in model.attention_modules():
        m.formulation = "fast"
    report("train.parse_args knows --attention-branch",
           train.parse_args(["--minutes", "1", "--attention-branch", "cuda"]).attention_branch == "cuda")


def check_nvcc():
    import cuda_dwconv as cd

    def name_of(line):  # the gate kernels at C 64; lepe's backward (dx instance, wgrad, fused): bf16 and float32
        m = (re.search(r"Compiling entry function '_Z\d+(gate_\w+?_kernel)I(\d*\w+?)Li(\d+)E", line)
             or re.search(r"Compiling entry function '_Z\d+(wgrad_kernel|bwd_kernel)I(\d*\w+?)Li(\d)ELi\dEEv", line)
             or re.search(r"Compiling entry function '_Z\d+(fwd_kernel)I(\d*\w+?)Li(\d)ELi\dELb1E", line))
        if not m:
            return None
        kind, dtype, n = m.groups()
        dtype = re.sub(r"^\d+", "", dtype)
        gate = kind.startswith("gate")
        if dtype not in ("BF16", "F32") or (gate and n != "8"):
            return None
        kind = "fwd_kernel (dx)" if kind == "fwd_kernel" else kind
        return f"{kind} {dtype} {'C ' + str(8 * int(n)) if gate else 'k' + n}"

    for source, defines in ((cb.GATE_SOURCE, cb.compile_defines()), (cd.SOURCE, cd.compile_defines())):
        for arch in ((8, 0), (9, 0)):
            code, log, warnings = cuda_ext.ptxas_build(arch, source, defines)
            report(f"nvcc {source.name} sm_{arch[0]}{arch[1]} compiles without warnings", code == 0 and not warnings,
                   "; ".join(warnings[:3]) or log[-300:] if code else f"{len(warnings)} warnings")
            print("      " + "\n      ".join(cuda_ext.ptxas_usage(log, name_of)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nvcc", action="store_true", help="also compile the .cu files for sm_80 and sm_90")
    args = ap.parse_args()
    check_struct_and_build()
    check_gate_math()
    check_gate_emulation()
    check_composition()
    check_model_wiring()
    check_without_cuda()
    if args.nvcc:
        check_nvcc()
    print(f"{len(FAILS)} failed" + (": " + ", ".join(FAILS) if FAILS else ""))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
