"""Training-step benchmark: ms/step, steps/s, tokens/s and peak memory for batch B x P^2 LR patches (bf16).

Variants (all with cuDNN depthwise convs unless named "shift"):
  plain-eager     plain attention formulation, no compilation (the twin as written)
  plain-compiled  plain formulation, regional compilation of the blocks
  fast-cudnn      fast attention formulation, regional compilation
  fast            fast attention + shifted-sum depthwise convs, regional compilation
  fast-graph      fast, with the whole step captured in a CUDA graph
  triton          as fast, with the fused Triton attention kernels (triton_attention.py; train.py --attention-impl)
  triton-graph    as fast-graph, with the fused Triton attention kernels
  triton-dw       as triton, with the Triton depthwise convs too (triton_dwconv.py; train.py --depthwise triton)
  triton-dw-graph as triton-graph, with the Triton depthwise convs too
  fast-dw-graph   as fast-graph, with the Triton depthwise convs (the depthwise gain alone)
  triton-cudnn-graph as triton-graph, with cuDNN's depthwise convs (channels_last views, no copies)
  triton-cudadw-graph as triton-dw-graph, with the CUDA depthwise kernels (cuda_dwconv.py; --depthwise cuda)
  cudaattn-dw-graph as triton-dw-graph, with the CUDA NaLa attention kernels (cuda_attention.py; train.py
                  --attention-impl cuda)
  cuda-graph      as triton-dw-graph, with both CUDA kernel sets (attention and depthwise)
  cuda-branch-graph as cuda-graph, with NaLa's branch between the qkvg and proj GEMMs as one custom op
                  (cuda_branch.py: the LayerNorm / SiLU gate in CUDA, d(qkvg) written in place): what train.py
                  runs by default (--attention-branch cuda)
  cuda-branch-graph-fusedbwd as cuda-branch-graph, with the previous fused depthwise backward kernel
                  (cuda_dwconv.BWD_IMPL "fused") instead of the split one (the forward kernel for dx + wgrad_kernel):
                  the A/B of the depthwise backward in one process
For "fast" and "triton", also the share of the step spent in data, attention (the compiled attention core alone,
forward + backward, x number of blocks), optimiser (clip + AdamW) and the rest; --profile adds the top CUDA
kernels of one step. Times are medians of CUDA-event-timed steps after warm-up; the first step's time
(compilation included) is reported separately. --json writes {variant: ms/step}.

Usage: python3 models/bench_train.py --train .traindata/train [--batch 32 --patch 64 --steps 30]
"""
import argparse
import functools
import itertools
import json
import time

import torch

import attention_math as am
import cuda_dwconv
import triton_attention as tri
from cuda_timing import cuda_time_ms
from data import PairBank
from graphed_step import GraphedStep
from nalasr_model import ModelConfig
from train import build_model, compile_blocks, make_optimizer, train_step, use_attention_branch


def first_call_s(fn):
    """-> (seconds, result) of one call of fn, synchronised."""
    torch.cuda.synchronize()
    t = time.time()
    result = fn()
    torch.cuda.synchronize()
    return time.time() - t, result


def bench_variant(name, formulation, compiled, depthwise, graph, bank, args, branch="inductor"):
    torch.manual_seed(0)
    model = build_model(ModelConfig(attention=args.kind), "cuda", depthwise)
    model.set_formulation(formulation)
    if branch != "inductor" and use_attention_branch(model, branch, "cuda") != branch:
        raise RuntimeError(f"attention branch {branch}: self-check failed")
    if compiled:
        compile_blocks(model, args.compile_mode)
    opt_args = argparse.Namespace(lr=1e-3, weight_decay=1e-4, device="cuda", cuda_graph="on" if graph else "off")
    opt = make_optimizer(model, opt_args)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    batches = [bank.batch(args.batch, gen) for _ in range(4)]  # rotate inputs, keep data out of this timing
    torch.cuda.reset_peak_memory_stats()
    step = functools.partial(train_step, model, opt)
    if graph:
        warm_s, graphed = first_call_s(lambda: GraphedStep(train_step, model, opt, *batches[0], 1.0))
        step = lambda lr, hr, clip: graphed(lr, hr)  # noqa: E731
    else:
        warm_s, _ = first_call_s(lambda: step(*batches[0], 1.0))
    for i in range(3):
        step(*batches[i % 4], 1.0)
    counter = itertools.count()
    repeats = args.steps if formulation in ("fast", "triton", "cuda") else max(5, args.steps // 4)
    ms = cuda_time_ms(lambda: step(*batches[next(counter) % 4], 1.0), repeats)
    peak = torch.cuda.max_memory_allocated() / 2 ** 30
    tokens = args.batch * args.patch ** 2
    print(f"{name:<26s} {ms:8.2f} ms/step  {1000 / ms:7.2f} steps/s  {tokens * 1000 / ms / 1e6:7.2f} M LR tok/s  "
          f"peak {peak:6.2f} GiB  first step {warm_s:6.1f} s", flush=True)
    if args.profile and formulation in ("fast", "triton", "cuda"):
        profile_step(lambda: step(*batches[0], 1.0), args.profile_top)
    return model, opt, batches, ms


def profile_step(step, top=14):
    """Prints the `top` CUDA kernels that take the most time over 3 steps (per step)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            step()
        torch.cuda.synchronize()
    events = sorted(prof.key_averages(), key=lambda e: e.self_device_time_total, reverse=True)
    total = sum(e.self_device_time_total for e in events) / 3 / 1000
    print(f"  profile: {total:.2f} ms of kernels per step; top kernels (ms/step, calls/step):")
    for e in events[:top]:
        print(f"    {e.self_device_time_total / 3 / 1000:7.2f}  {e.count // 3:5d}  {e.key[:110]}")


def breakdown(model, opt, batches, bank, step_ms, args, formulation="fast"):
    """Shares of the fast-path (or triton-path) step: data / attention core / optimiser / rest (NaLa only)."""
    if model.cfg.attention != "nala":
        return
    gen = torch.Generator(device="cuda")
    gen.manual_seed(1)
    data_ms = cuda_time_ms(lambda: bank.batch(args.batch, gen), 50)
    train_step(model, opt, *batches[0], 1.0)  # leaves gradients in place for the optimiser timing

    def optimiser():
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    opt_ms = cuda_time_ms(optimiser, 50)

    cfg = model.cfg
    n = args.patch ** 2
    q, k, v = (torch.randn(args.batch, n, cfg.channels, device="cuda", dtype=torch.bfloat16, requires_grad=True)
               for _ in range(3))
    cos, sin = model.rope_tables(args.patch, args.patch, "cuda", torch.float32)
    if formulation == "triton":  # bf16 in, as the model passes it
        core = torch.compile(lambda q, k, v: tri.nala_triton(q, k, v, cfg.heads, cos, sin), dynamic=False)
    else:
        core = torch.compile(lambda q, k, v: am.nala_fast(q.float(), k.float(), v.float(), cfg.heads, cos, sin),
                             dynamic=False)
    grad = torch.randn(args.batch, n, cfg.channels, device="cuda")

    def attention():
        torch.autograd.backward(core(q, k, v), grad)
    attention()
    attn_ms = cuda_time_ms(attention, 30) * len(model.blocks())
    rest_ms = step_ms - attn_ms - opt_ms
    total_ms = step_ms + data_ms
    print(f"{formulation} path shares of {total_ms:.2f} ms (step + data): "
          f"data {data_ms:.2f} ms ({100 * data_ms / total_ms:.1f} %), "
          f"attention core {attn_ms:.2f} ms ({100 * attn_ms / total_ms:.1f} %), "
          f"optimiser {opt_ms:.2f} ms ({100 * opt_ms / total_ms:.1f} %), "
          f"rest (convs, linears, norms) {rest_ms:.2f} ms ({100 * rest_ms / total_ms:.1f} %)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=".traindata/train")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--variants", default="plain-eager,plain-compiled,triton-dw-graph,cuda-graph,cuda-branch-graph")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-top", type=int, default=14, help="kernels listed by --profile")
    ap.add_argument("--json", default="")
    ap.add_argument("--kind", default="nala", choices=("nala", "pola"))
    ap.add_argument("--compile-mode", default="default",
                    help="torch.compile mode of the blocks, e.g. max-autotune-no-cudagraphs (GEMM templates with "
                         "fused epilogues; the step's own CUDA graph excludes inductor's)")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    bank = PairBank(args.train, 4, args.patch, "cuda")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; batch {args.batch} x {args.patch}^2 LR, "
          f"x4, bf16 autocast, {bank.count} images; {args.kind}, compile mode {args.compile_mode}", flush=True)
    variants = {"plain-eager": ("plain", False, "cudnn", False), "plain-compiled": ("plain", True, "cudnn", False),
                "fast-cudnn": ("fast", True, "cudnn", False), "fast": ("fast", True, "shift", False),
                "fast-graph": ("fast", True, "shift", True),
                "triton": ("triton", True, "shift", False), "triton-graph": ("triton", True, "shift", True),
                "triton-dw": ("triton", True, "triton", False), "triton-dw-graph": ("triton", True, "triton", True),
                "fast-dw-graph": ("fast", True, "triton", True),
                "triton-cudnn-graph": ("triton", True, "cudnn", True),
                "triton-cudadw-graph": ("triton", True, "cuda", True),
                "cudaattn-dw-graph": ("cuda", True, "triton", True),
                "cuda-graph": ("cuda", True, "cuda", True),
                "cuda-branch-graph": ("cuda", True, "cuda", True, "cuda"),
                "cuda-branch-graph-fusedbwd": ("cuda", True, "cuda", True, "cuda")}
    dw_backward = {"cuda-branch-graph-fusedbwd": "fused"}  # cuda_dwconv.BWD_IMPL; others: its default
    timings = {}
    for variant in args.variants.split(","):
        if variant not in variants:
            raise SystemExit(f"unknown variant {variant}; known: {', '.join(variants)}")
        try:
            with cuda_dwconv.launch_constants({"BWD_IMPL": dw_backward[variant]} if variant in dw_backward else {}):
                model, opt, batches, ms = bench_variant(variant, *variants[variant][:4], bank, args,
                                                        *variants[variant][4:])
        except Exception as exc:  # noqa: BLE001 -- a kernel failure must not cost the other variants
            if "triton" not in variant and "-dw" not in variant and "branch" not in variant:
                raise
            print(f"{variant:<26s} FAILED: {type(exc).__name__}: {str(exc)[:400]}", flush=True)
            torch.compiler.reset()
            continue
        if variant in ("fast", "triton", "triton-dw"):
            breakdown(model, opt, batches, bank, ms, args, variants[variant][0])
        timings[variant] = ms
        torch.compiler.reset()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(timings, f)


if __name__ == "__main__":
    main()
