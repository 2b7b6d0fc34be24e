"""Checks and times the fused NaLa attention branch (cuda_branch.py: gate kernels of cuda_attention/nala_gate.cu,
the CUDA attention and lepe kernels writing d(qkvg) in place) on the GPU. One PASS/FAIL line per check; exit 1
on any FAIL.
  1. cuda_branch.self_check (what train.py --attention-branch cuda runs first)
  2. float64 on the GPU (CUDA stages, C 64 / 4 heads and C 32 / 4 heads, ragged token counts) vs the float64 torch
     stages on the CPU: a, d(qkvg), lepe and norm gradients
  3. the training size (B 32, 64x64, C 64, bf16 qkvg, autocast as in the step): the branch op and the current path
     (NalaAttention "cuda" formulation, inductor gate) each vs a float64 reference; the branch must be no worse
     than 2x the current path's error (or 4e-3); backward bit-identical over two runs; torch.compile(fullgraph)
     and CUDA-graph replay == eager
  4. the bf16-autocast NaLa model with branch "cuda" vs "inductor" (same float32 reference), then regional
     compilation + the CUDA-graph train step (skipped by --quick)
  5. timing at the training size, replayed from CUDA graphs: gate forward, gate backward (+ finish), and one
     compiled NalaAttention forward + backward (qkvg and proj GEMMs included) with branch inductor vs cuda
Usage: python3 models/check_cuda_branch.py [--quick]
"""
import argparse
import time

import torch

import attention_math as am
import cuda_branch as cb
from cuda_timing import graph_us
from device_check import FAILS, bf16_variant_errors, exit_with_status, graphed_steps_check, rel, report


def make_attention(c=64, heads=4, seed=0, device="cuda"):
    import nalasr_model as nm
    torch.manual_seed(seed)
    attn = nm.NalaAttention(nm.ModelConfig(channels=c, heads=heads)).to(device)
    with torch.no_grad():
        for p in (attn.lepe.weight, attn.lepe.bias, attn.norm.weight, attn.norm.bias):
            p.add_(0.1 * torch.randn_like(p))
    if device == "cuda":
        nm.enable_cuda_depthwise()
        attn.lepe.impl = "cuda"
        attn.formulation = "cuda"
    return attn


def params(attn):
    return [attn.lepe.weight, attn.lepe.bias, attn.norm.weight, attn.norm.bias]


def branch_grads(stages, qkvg, ps, rope, heads, da):
    fw = cb.branch_forward(stages, qkvg, *ps, *rope, heads)
    dqkvg, sums, norm_sums = cb.branch_backward(stages, da, qkvg, ps[0], ps[2], ps[3], *rope, *fw[1:], heads)
    import dwconv_ref
    dlw, dlb = dwconv_ref.split_sums(sums, ps[0], ps[1].dtype)
    return [fw[0], dqkvg, dlw, dlb, norm_sums[0], norm_sums[1]]


def float64_case(b, h, w, c, heads, seed):
    gen = torch.Generator().manual_seed(seed)
    qkvg = torch.randn(b, h, w, 4 * c, generator=gen, dtype=torch.float64)
    da = torch.randn(b, h, w, c, generator=gen, dtype=torch.float64)
    attn = make_attention(c, heads, seed, "cpu").double()
    ps = [p.detach() for p in params(attn)]
    ref = branch_grads(cb.REFERENCE_STAGES, qkvg, ps, am.rope_angles(h, w, c // heads, "cpu", torch.float64),
                       heads, da)
    got = branch_grads(cb.CUDA_STAGES, qkvg.cuda(), [p.cuda() for p in ps],
                       am.rope_angles(h, w, c // heads, "cuda", torch.float64), heads, da.cuda())
    errs = [rel(x.cpu(), y) for x, y in zip(got, ref)]
    report(f"float64 CUDA branch vs float64 torch stages (B {b}, {h}x{w}, C {c}, {heads} heads)", max(errs) < 1e-12,
           "a / dqkvg / dlepe w / dlepe b / dnorm w / dnorm b " + " / ".join(f"{e:.1e}" for e in errs))


def op_call(attn, qkvg, rope):
    return cb._fwd_op(qkvg, *params(attn), *rope, attn.heads)[0]


def inductor_branch(attn, qkvg, rope):
    """NalaAttention.forward's current path between the GEMMs (cuda formulation, the gate in PyTorch ops)."""
    import nalasr_model as nm
    b, h, w, c4 = qkvg.shape
    c = c4 // 4
    q, k, v, g = qkvg.chunk(4, dim=-1)
    lepe = attn.lepe(v)
    with nm.float32_region(qkvg):
        o = nm.cuda_attention.nala_cuda(*(t.reshape(b, h * w, c) for t in (q, k, v)), attn.heads, *rope)
    return attn.norm(o.reshape(b, h, w, c) + lepe) * torch.nn.functional.silu(g)


def training_case():
    b, h, w, c, heads = 32, 64, 64, 64, 4
    attn = make_attention(c, heads, 1)
    gen = torch.Generator(device="cuda").manual_seed(1)
    qkvg64 = torch.randn(b, h, w, 4 * c, generator=gen, device="cuda", dtype=torch.float64) * 0.7
    da64 = torch.randn(b, h, w, c, generator=gen, device="cuda", dtype=torch.float64) * 0.1
    rope32 = am.rope_angles(h, w, c // heads, "cuda", torch.float32)
    rope64 = am.rope_angles(h, w, c // heads, "cuda", torch.float64)
    ps64 = [p.detach().double() for p in params(attn)]
    qkvg = qkvg64.bfloat16()
    ref = branch_grads(cb.CUDA_STAGES, qkvg.double(), ps64, rope64, heads, da64.bfloat16().double())
    results = {}
    for name, fn in (("inductor", inductor_branch), ("cuda", op_call)):  # "inductor": the same ops, eager here
        leaf = qkvg.clone().requires_grad_()
        attn.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
            a = fn(attn, leaf, rope32)
        a.backward(da64.bfloat16().to(a.dtype))
        results[name] = [a.detach(), leaf.grad] + [p.grad for p in params(attn)]
    # A live output keeps its graph's AccumulateGrad nodes of attn's parameters, made on the default stream; a later
    # capture would accumulate on that stream and be invalidated (session 9's capture failure; session 10 confirmed it:
    # the capture fails after any eager forward whose output is kept, and passes once it is dropped).
    del a
    names = "a dqkvg dlepe_w dlepe_b dnorm_w dnorm_b".split()
    errs = {k: [rel(x, y) for x, y in zip(v, ref)] for k, v in results.items()}
    ok = all(e_c <= max(2 * e_i, 4e-3) for e_c, e_i in zip(errs["cuda"], errs["inductor"]))
    report("training size, bf16: branch op vs float64 no worse than 2x the inductor path", ok,
           "; ".join(f"{n} {ec:.1e} (inductor {ei:.1e})" for n, ec, ei in zip(names, errs["cuda"], errs["inductor"])))
    # bit-reproducible backward
    outs = []
    for _ in range(2):
        leaf = qkvg.clone().requires_grad_()
        attn.zero_grad(set_to_none=True)
        op_call(attn, leaf, rope32).backward(da64.bfloat16())
        outs.append([leaf.grad.clone()] + [p.grad.clone() for p in params(attn)])
    report("branch backward bit-identical over two runs", all(torch.equal(x, y) for x, y in zip(*outs)),
           "d(qkvg), lepe and norm gradients")
    # compiled and graphed == eager
    xs = qkvg.clone().requires_grad_()

    def step():
        xs.grad = None
        attn.zero_grad(set_to_none=True)
        out = op_call(attn, xs, rope32)
        out.backward(da64.bfloat16())
        return out

    eager = [step().detach().clone(), xs.grad.clone()]
    try:
        graph_us(step, repeats=3)  # warm-up, capture, replays: xs.grad is then the graph's own output
        report("CUDA-graph replay == eager", torch.equal(xs.grad, eager[1]), "d(qkvg) bit-identical")
    except Exception as exc:  # noqa: BLE001
        report("CUDA-graph replay == eager", False, f"{type(exc).__name__}: {str(exc)[:300]}")
    compiled_fn = torch.compile(lambda x: op_call(attn, x, rope32), fullgraph=True, dynamic=False)
    xc = qkvg.clone().requires_grad_()
    oc = compiled_fn(xc)
    oc.backward(da64.bfloat16())
    report("torch.compile(fullgraph) == eager", torch.equal(oc.detach(), eager[0]) and torch.equal(xc.grad, eager[1]),
           "a and d(qkvg) bit-identical")
    return attn, qkvg, da64.bfloat16(), rope32


def model_checks():
    import nalasr_model as nm
    from train import build_model
    torch.manual_seed(0)
    model = build_model(nm.ModelConfig(), "cuda", "cuda")
    model.set_formulation("cuda")
    img = torch.rand(2, 48, 48, 3, device="cuda")
    hr = torch.rand(2, 192, 192, 3, device="cuda")

    def use(m, setting):
        m.set_attention_branch(setting)
    errs = bf16_variant_errors(model, img, hr, [("float32 inductor", "inductor", False), ("bf16 inductor", "inductor", True),
                                                ("bf16 cuda", "cuda", True)], use)
    ok = all(c <= max(1.5 * i, 1e-3) for c, i in zip(errs["bf16 cuda"], errs["bf16 inductor"]))
    report("bf16 model, branch cuda vs inductor (each vs float32): output, parameter gradients", ok,
           f"cuda {errs['bf16 cuda'][0]:.2e} / {errs['bf16 cuda'][1]:.2e}, inductor {errs['bf16 inductor'][0]:.2e} / "
           f"{errs['bf16 inductor'][1]:.2e}")

    def make():
        m = build_model(nm.ModelConfig(), "cuda", "cuda")
        m.set_formulation("cuda")
        m.set_attention_branch("cuda")
        return m
    graphed_steps_check("regional compile + graphed train step with branch cuda", make, img, hr)


def timing(attn, qkvg, da, rope):
    b, h, w, c4 = qkvg.shape
    c = c4 // 4
    q, k, v, g = qkvg.chunk(4, dim=-1)
    o = torch.randn(b, h, w, c, device="cuda")
    lepe = torch.randn(b, h, w, c, device="cuda", dtype=torch.bfloat16)
    a, mean, rstd = cb.cuda_gate_fwd(o, lepe, g, attn.norm.weight, attn.norm.bias)
    dq = torch.empty_like(qkvg)
    dg = dq[..., 3 * c:]
    t_fwd = graph_us(lambda: cb.cuda_gate_fwd(o, lepe, g, attn.norm.weight, attn.norm.bias))
    t_bwd = graph_us(lambda: cb.cuda_gate_bwd_into(da, o, lepe, g, attn.norm.weight, attn.norm.bias, mean, rstd, dg))
    print(f"  gate kernels at B {b}, {h}x{w}, C {c}: forward {t_fwd:.1f} us, backward + finish {t_bwd:.1f} us "
          f"(inductor, session 8 profile: forward 40, backward 40 + 85 with the d(qkvg) concatenation)")
    x = torch.randn(b, h, w, c, device="cuda", requires_grad=True)
    gy = torch.randn(b, h, w, c, device="cuda", dtype=torch.bfloat16)
    times = {}
    for branch in ("inductor", "cuda"):
        attn.branch = branch
        torch._dynamo.reset()
        f = torch.compile(attn, dynamic=False)

        def fb():
            with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
                y = f(x, rope)
            torch.autograd.grad(y, [x] + list(attn.parameters()), gy)
        times[branch] = graph_us(fb)
    attn.branch = "inductor"
    print(f"  compiled NalaAttention forward + backward (qkvg, proj GEMMs included), us a block: inductor "
          f"{times['inductor']:.1f}, cuda {times['cuda']:.1f}; x16 = {16 * (times['inductor'] - times['cuda']) / 1000:.2f} "
          f"ms a step saved")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the model checks")
    args = ap.parse_args()
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, cuda_branch available {cb.AVAILABLE}", flush=True)
    if not cb.AVAILABLE:
        report("cuda_branch available", False, "no CUDA / torch.library.custom_op")
        exit_with_status()
    torch.backends.cuda.matmul.allow_tf32 = False
    t = time.time()
    cb.gate_library(torch.device("cuda"))
    print(f"gate library ready in {time.time() - t:.1f} s", flush=True)
    ok, msg = cb.self_check("cuda")
    report("cuda_branch.self_check (what train.py --attention-branch cuda runs first)", ok, msg)
    for case in ((2, 12, 20, 64, 4, 0), (1, 9, 31, 32, 4, 1), (3, 5, 7, 64, 4, 2)):
        try:
            float64_case(*case)
        except Exception as exc:  # noqa: BLE001
            report(f"float64 case {case}", False, f"{type(exc).__name__}: {str(exc)[:400]}")
    try:
        attn, qkvg, da, rope = training_case()
        if not args.quick:
            model_checks()
        timing(attn, qkvg, da, rope)
    except Exception as exc:  # noqa: BLE001
        report("training size / model / timing", False, f"{type(exc).__name__}: {str(exc)[:600]}")
    print(f"{len(FAILS)} failed: {', '.join(FAILS) or 'none'}")
    exit_with_status()


if __name__ == "__main__":
    main()
