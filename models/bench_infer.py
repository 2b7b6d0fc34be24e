"""Inference benchmark of the PyTorch twin, the yardstick for the C++ engine (issue 4).

For each attention kind, variant and size: one first call (reported separately: for compiled variants it is the
compile time), warm-up calls, then the median of --repeats CUDA-event-timed forwards. Scope = the engine's
"network ms": the input (1, H, W, 3) float32 is already on the GPU, the output stays there. Then one more forward
for memory, after empty_cache() and reset_peak_memory_stats():
  peak_delta = max_memory_allocated() - memory_allocated() before the forward (weights, input, RoPE tables);
  peak_abs   = max_memory_allocated() (everything, weights included);
  reserved   = max_memory_reserved() (what the caching allocator took from the device).
Variants: eager-fp32, eager-bf16 (autocast), compile-fp32, compile-bf16 (torch.compile(dynamic=False), --compile-mode,
--compile-scope model = the whole network as one graph, blocks = regional, one graph shared by the 16 blocks).
The attention arithmetic is float32 in every variant (docs/model.md). Attention formulation --formulation ("fast":
all heads batched, the fastest committed one; "plain" loops over heads and RoPE pairs), or per variant with a
suffix, e.g. compile-bf16+triton; such variants run last. Depthwise convs "auto": cuDNN eager, shifted sums under
compile (one fused kernel each). A whole-model compile that fails falls back to per-block compilation.
Kinds whose tensors the model file lacks (Pola for a NaLa file) get those tensors at random, as `nalasr bench` does.

--check LR.png:ENGINE_SR.png runs the twin in fp32 on the CPU (IEEE fp32, no TF32) on LR.png first and reports the
PSNR between its 8-bit output and the engine's (RGB, all pixels, peak 255; the issue asks >= 50 dB), and the PSNR of
the twin's bf16-autocast output on the GPU against the same reference. No global precision flag is changed.

  python3 models/bench_infer.py --json OUT.json [--sizes 265x265,960x540] [--attention nala,pola]
  python3 models/bench_infer.py --device cpu --sizes 32x24 --variants eager-fp32,eager-bf16   (smoke test)
"""
import argparse
import dataclasses
import gc
import json
import math
import platform
import statistics
import time

import torch

from cuda_timing import cuda_event_times_ms
from export import load_model
from nalasr_model import FORMULATIONS, NalaSR

VARIANTS = ("eager-fp32", "eager-bf16", "compile-fp32", "compile-bf16")  # each may end in +FORMULATION
MIB = 2 ** 20


def parse_size(text):
    """'960x540' -> (width, height); '265' -> (265, 265)."""
    w, _, h = text.partition("x")
    return int(w), int(h or w)


# ------------------------------------------------------------------------------------------------- model

def build_model(path, kind, device, formulation, depthwise):
    """-> (model in eval mode on device, names of tensors that are random because the file lacks them).
    kind None: the file's own attention kind."""
    base, _ = load_model(path)
    if kind in (None, base.cfg.attention):
        model, random_tensors = base, []
    else:
        torch.manual_seed(0)
        model = NalaSR(dataclasses.replace(base.cfg, attention=kind))
        own, src = model.state_dict(), base.state_dict()
        shared = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(shared, strict=False)
        random_tensors = sorted(set(own) - set(shared))
    model.set_formulation(formulation)
    model.set_depthwise(depthwise)
    model = model.eval().requires_grad_(False).to(device)
    return model.to(memory_format=torch.channels_last), random_tensors


def make_forward(model, variant, scope, args):
    """-> fn(x) running `variant` (without +FORMULATION) of model; compiled variants (scope "model" or "blocks")
    compile on their first call."""
    net = model
    if variant.startswith("compile"):
        if not hasattr(torch, "compile"):
            raise RuntimeError(f"torch.compile is not available in torch {torch.__version__}")
        if scope == "blocks":
            for block in model.blocks():
                block.compile(dynamic=False, mode=args.compile_mode)
        else:
            net = torch.compile(model, dynamic=False, mode=args.compile_mode)
    bf16 = variant.endswith("bf16")

    def forward(x):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            return net(x)
    return forward


def split_variant(name, args):
    """'compile-bf16+triton' -> ('compile-bf16', 'triton'); without '+': the --formulation."""
    base, _, formulation = name.partition("+")
    if base not in VARIANTS or (formulation and formulation not in FORMULATIONS):
        raise SystemExit(f"unknown variant {name}; known: {', '.join(VARIANTS)}, each optionally +FORMULATION "
                         f"({', '.join(FORMULATIONS)})")
    return base, formulation or args.formulation


def depthwise_for(variant, args):
    if args.depthwise != "auto":
        return args.depthwise
    return "shift" if variant.startswith("compile") else "cudnn"


# ------------------------------------------------------------------------------------------------ timing

def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_ms(fn, repeats, device):
    """Each of `repeats` calls of fn() in ms: CUDA events on a GPU, perf_counter on the CPU."""
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            times += cuda_event_times_ms(fn, 1)
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
    return times


def is_oom(error):
    return isinstance(error, getattr(torch.cuda, "OutOfMemoryError", ())) or "out of memory" in str(error).lower()


def free_memory(device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measure_point(forward, model, size, args, device):
    """Times and measures one (variant, size); returns the result fields."""
    w, h = size
    x = torch.rand(1, h, w, 3, device=device, generator=torch.Generator(device).manual_seed(0))
    model.rope_tables(h, w, x.device, torch.float32)  # cached outside the timed region (and the compiled graph)
    sync(device)
    t = time.perf_counter()
    out = forward(x)
    sync(device)
    first_s = time.perf_counter() - t
    for _ in range(args.warmup):
        out = forward(x)
    holder = [out]

    def step():
        holder[0] = forward(x)
    times = time_ms(step, args.repeats, device)
    result = {"ms": statistics.median(times), "ms_min": min(times), "ms_all": [round(v, 4) for v in times],
              "first_call_s": round(first_s, 3), "output_dtype": str(out.dtype).replace("torch.", "")}
    out = holder[0] = None
    if device.type == "cuda":
        free_memory(device)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        out = forward(x)
        sync(device)
        peak = torch.cuda.max_memory_allocated()
        result.update(base_bytes=base, peak_delta_bytes=peak - base, peak_abs_bytes=peak,
                      peak_reserved_bytes=torch.cuda.max_memory_reserved(),
                      output_bytes=out.numel() * out.element_size())
    return result


# ---------------------------------------------------------------------------------------- correctness check

def read_rgb(path):
    """(H, W, 3) uint8 tensor of an 8-bit image (OpenCV where installed, else Pillow)."""
    try:
        import cv2
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise IOError(f"cannot decode {path}")
        return torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).copy())
    except ImportError:
        import numpy as np
        from PIL import Image
        return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy())


def to_uint8(out):
    """(H, W, 3) float -> uint8 as the engine writes it: lround(clamp(v, 0, 1) * 255)."""
    return torch.floor(out.float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)


def psnr_uint8(a, b):
    mse = ((a.double() - b.double()) ** 2).mean().item()
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def check_image(reference, model, lr_path, engine_path, device):
    """PSNR of the engine's 8-bit output against the twin's: `reference` (fp32 on the CPU: IEEE fp32, no TF32 and
    no global precision flags touched) and `model` on `device` under bf16 autocast (for scale)."""
    lr = read_rgb(lr_path)
    engine = read_rgb(engine_path)
    x = (lr.float() / 255.0)[None]
    twin = to_uint8(reference(x)[0])
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            twin_bf16 = to_uint8(model(x.to(device))[0]).cpu()
    except RuntimeError:  # old PyTorch on the CPU: LayerNorm under bf16 autocast is not covered
        twin_bf16 = None
    result = {"image": lr_path, "engine_output": engine_path, "lr_size": [lr.shape[1], lr.shape[0]],
              "sr_size": [engine.shape[1], engine.shape[0]], "reference": "twin fp32 on the CPU"}
    if engine.shape != twin.shape:
        result.update(status="error", message=f"engine output {tuple(engine.shape)} vs twin {tuple(twin.shape)}")
        return result
    diff = (engine.int() - twin.int()).abs()
    result.update(status="ok", psnr_db=psnr_uint8(engine, twin), max_abs_diff=int(diff.max()),
                  differing_values_pct=100.0 * (diff > 0).double().mean().item(),
                  twin_bf16_vs_fp32_psnr_db=None if twin_bf16 is None else psnr_uint8(twin_bf16, twin))
    return result


# ------------------------------------------------------------------------------------------------- driver

def tf32_state():
    """PyTorch's TF32 settings, read only (this script leaves them at their defaults: writing them, with the legacy
    or the new API, can make torch.compile fail on the 'mixed API' check of recent versions)."""
    try:
        return (f"matmul {torch.backends.cuda.matmul.fp32_precision}, "
                f"cuDNN conv {torch.backends.cudnn.conv.fp32_precision}")
    except Exception:  # noqa: BLE001 (before PyTorch 2.9: the legacy flags)
        pass
    try:
        return f"allow_tf32 matmul {torch.backends.cuda.matmul.allow_tf32}, cuDNN {torch.backends.cudnn.allow_tf32}"
    except Exception as e:  # noqa: BLE001 (a report field must not stop the run)
        return f"unknown ({e})"


def environment(device, args):
    env = {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "formulation": args.formulation, "depthwise": args.depthwise,
           "depthwise_auto": "cudnn for eager, shift for compile",
           "compile_mode": args.compile_mode, "compile_scope": args.compile_scope,
           "warmup": args.warmup, "repeats": args.repeats, "inference_mode": True,
           "tf32": tf32_state(), "cudnn_benchmark": torch.backends.cudnn.benchmark}
    if device.type == "cuda":
        env.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return env


def plan(args):
    """[(kind, variant name)] in run order: eager before compiled (the slow part), and variants with their own
    formulation (+triton: kernels under development) last, so that a fault there cannot cost the other rows."""
    kinds, names = args.attention.split(","), args.variants.split(",")
    compile_kinds = args.compile_attention.split(",") if args.compile_attention else kinds
    for name in names:
        split_variant(name, args)
    runs = [(k, n) for k in kinds for n in names if n.startswith("eager") or k in compile_kinds]
    return sorted(runs, key=lambda r: ("+" in r[1], r[1].startswith("compile")))  # stable: keeps the given order


def run_variant(kind, name, sizes, args, device, start):
    """Yields the result of each size for one (kind, variant). A whole-model compile that fails (other than by
    OOM) falls back to per-block compilation, and the result says so."""
    variant, formulation = split_variant(name, args)
    dw = depthwise_for(variant, args)
    scope = args.compile_scope if variant.startswith("compile") else "eager"
    try:
        model, random_tensors = build_model(args.model, kind, device, formulation, dw)
        setup_error = None
    except Exception as e:  # e.g. a formulation this machine lacks
        model, random_tensors, setup_error = None, [], str(e)
    forward = None
    for size in sizes:
        r = {"attention": kind, "variant": name, "width": size[0], "height": size[1], "tokens": size[0] * size[1],
             "depthwise": dw, "formulation": formulation, "random_tensors": len(random_tensors)}
        if setup_error:
            r.update(status="error", message=setup_error, scope=scope)
            yield r
            continue
        if args.budget_s and time.time() - start > args.budget_s:
            r.update(status="skipped", message=f"time budget of {args.budget_s:.0f} s spent", scope=scope)
            yield r
            continue
        while True:
            try:
                forward = forward or make_forward(model, variant, scope, args)
                r.update(status="ok", message=None, **measure_point(forward, model, size, args, device))
                break
            except Exception as e:  # report OOM (or any failure) for this point and go on
                message = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
                r.update(status="OOM" if is_oom(e) else "error", message=message)
                if scope != "model" or is_oom(e) or not hasattr(torch, "compile"):
                    break
                print(f"whole-model compile failed ({message}); falling back to per-block compilation", flush=True)
                r["model_scope_error"], scope, forward = message, "blocks", None
                torch.compiler.reset()
                model, _ = build_model(args.model, kind, device, formulation, dw)
            finally:
                free_memory(device)
        r["scope"] = scope
        yield r
    del forward, model
    if scope != "eager" and hasattr(torch, "compiler"):
        torch.compiler.reset()
    free_memory(device)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resources/models/nalasr_nala_x4.safetensors")
    ap.add_argument("--sizes", default="265x265,960x540", help="WxH list (W = width), e.g. 265x265,960x540")
    ap.add_argument("--attention", default="nala", help="kinds, e.g. nala,pola")
    ap.add_argument("--variants", default="eager-fp32,eager-bf16,compile-bf16",
                    help="comma-separated; +FORMULATION overrides --formulation, e.g. compile-bf16+triton")
    ap.add_argument("--compile-attention", default="", help="kinds to compile (default: all of --attention)")
    ap.add_argument("--compile-mode", default="default", help="default, max-autotune-no-cudagraphs, ...")
    ap.add_argument("--compile-scope", default="model", choices=("model", "blocks"))
    ap.add_argument("--formulation", default="fast", choices=FORMULATIONS,
                    help="attention formulation of variants without +FORMULATION")
    ap.add_argument("--depthwise", default="auto", choices=("auto", "cudnn", "shift"))
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--budget-s", type=float, default=0, help="skip points that would start after this (0: none)")
    ap.add_argument("--check", action="append", default=[], metavar="LR.png:ENGINE_SR.png")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", default="", help="results file, rewritten after every point")
    args = ap.parse_args()

    start = time.time()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    # Largest first: should the time budget run out, it is the small size that goes.
    sizes = sorted((parse_size(s) for s in args.sizes.split(",")), key=lambda s: -s[0] * s[1])
    report = {"env": environment(device, args), "model": args.model, "checks": [], "results": []}
    print(f"PyTorch twin: torch {torch.__version__}, {report['env'].get('gpu', args.device)}; model {args.model}; "
          f"attention formulation {args.formulation}; depthwise {args.depthwise}"
          f"{' (cudnn eager, shift compiled)' if args.depthwise == 'auto' else ''}; compile mode {args.compile_mode}, "
          f"scope {args.compile_scope}; median of {args.repeats} after {args.warmup} warm-up", flush=True)

    def save():
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)

    with torch.inference_mode():
        if args.check:
            reference, _ = build_model(args.model, None, torch.device("cpu"), args.formulation, "cudnn")
            model, _ = build_model(args.model, None, device, args.formulation, "cudnn")
            for pair in args.check:
                lr_path, _, engine_path = pair.partition(":")
                try:
                    r = check_image(reference, model, lr_path, engine_path, device)
                except Exception as e:  # a missing engine output must not cost the timings
                    r = {"image": lr_path, "engine_output": engine_path, "status": "error", "message": str(e)}
                report["checks"].append(r)
                print_check(r)
            del reference, model
            save()

        for kind, variant in plan(args):
            for r in run_variant(kind, variant, sizes, args, device, start):
                report["results"].append(r)
                save()
                print_point(r)
    print(f"total {time.time() - start:.0f} s" + (f"; wrote {args.json}" if args.json else ""), flush=True)


def print_check(r):
    if r["status"] != "ok":
        print(f"check {r['image']}: {r['status']}: {r['message']}", flush=True)
        return
    bf16 = r["twin_bf16_vs_fp32_psnr_db"]
    print(f"check {r['image']}: engine vs twin fp32 PSNR {r['psnr_db']:.2f} dB (8-bit RGB), max |diff| "
          f"{r['max_abs_diff']}, {r['differing_values_pct']:.3f} % of values differ; twin bf16 vs twin fp32 "
          + ("n/a" if bf16 is None else f"{bf16:.2f} dB"), flush=True)


def print_point(r):
    head = f"{r['attention']:<5s} {r['variant']:<19s} {r['width']}x{r['height']:<5d} dw={r['depthwise']:<6s}"
    head += f" attn={r['formulation']:<6s}"
    if r["status"] != "ok":
        print(f"{head} {r['status']}: {r.get('message', '')}", flush=True)
        return
    mem = ""
    if "peak_delta_bytes" in r:
        mem = (f"  peak {r['peak_delta_bytes'] / MIB:8.1f} MiB over weights+input (abs {r['peak_abs_bytes'] / MIB:.1f},"
               f" reserved {r['peak_reserved_bytes'] / MIB:.1f})")
    print(f"{head} {r['ms']:9.2f} ms (min {r['ms_min']:.2f}){mem}  first call {r['first_call_s']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
