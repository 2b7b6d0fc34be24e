"""Bisects why check_cuda_branch.py's CUDA-graph capture of the eager branch-op step fails in training_case() (session
9, H100, torch 2.11: cudaErrorStreamCaptureInvalidated; a fresh process captures the same step). Each prefix of
training_case's preliminary steps runs in a FRESH subprocess (a failed capture poisons the process), then the eager
step runs twice, is captured (as cuda_timing.graph_us) and replayed once:  OK|FAIL <prefix> <error> [warnings].
The first failing prefix is rerun with capture_error_mode thread_local, relaxed, and global under
torch.cuda.set_sync_debug_mode("warn"). Children never see CUDA_LAUNCH_BLOCKING (it breaks any capture).
Suspect: an output kept alive from an earlier eager forward (training_case's `a`) keeps the parameters'
AccumulateGrad nodes, made on the default stream, so the captured backward accumulates there.
Usage: python3 models/bisect_branch_capture.py [--list] [--jobs N] [--only PREFIX] [--log-dir DIR]
"""
import argparse, os, subprocess, sys, time  # noqa: E401 (no torch here: --list runs anywhere)
from concurrent.futures import ThreadPoolExecutor

HERE, TIMEOUT = os.path.dirname(os.path.abspath(__file__)), 150  # s a child
STEPS = {  # in training_case's order; each runs in run_steps
    "main_pre": "what main() runs first: gate_library, cb.self_check, the three float64 cases",
    "cuda_gen": "inputs drawn from torch.Generator(device='cuda') (without it: a CPU generator, then .cuda())",
    "ref64": "float64 reference branch_grads(cb.CUDA_STAGES, ...) at the training size",
    "inductor_ac": "'inductor' eager path under autocast + backward, its output kept in `a`",
    "cuda_ac": "branch op under autocast + backward, its output kept in `a` (as session 9's training_case left it)",
    "bitid": "the bit-identical loop (two op forwards + backwards, outputs dropped)",
    "keep_graph": "one eager op forward (no autocast, no backward), its output kept in `a`",
    "del_a": "del a (frees the autograd graph the steps above kept alive)"}
FULL = ["main_pre", "cuda_gen", "ref64", "inductor_ac", "cuda_ac", "bitid"]
PREFIXES = ([FULL[:i] for i in range(len(FULL) + 1)] + [FULL + ["del_a"]]
            + [["cuda_ac"], ["cuda_ac", "del_a"], ["keep_graph"], ["inductor_ac"]])
MISMATCH = "AccumulateGrad node's stream does not match"


def label(steps): return "+".join(steps) or "none"  # noqa: E704


def run_steps(steps, mode):
    """Child: the prefix, then warm-up + capture + replay of the eager step -> (ok, detail). mode: a
    capture_error_mode, or sync_warn (global, with torch.cuda.set_sync_debug_mode("warn"))."""
    import warnings
    import torch
    import attention_math as am
    import check_cuda_branch as ccb
    torch.backends.cuda.matmul.allow_tf32 = False
    b, h, w, c, heads = 32, 64, 64, 64, 4
    seen = warnings.catch_warnings(record=True).__enter__()  # records for the whole child (left at its exit)
    warnings.simplefilter("always")
    if "main_pre" in steps:
        ccb.cb.gate_library(torch.device("cuda"))
        print(ccb.cb.self_check("cuda"))
        [ccb.float64_case(*case) for case in ((2, 12, 20, 64, 4, 0), (1, 9, 31, 32, 4, 1), (3, 5, 7, 64, 4, 2))]
    attn = ccb.make_attention(c, heads, 1)
    gen = torch.Generator(device="cuda" if "cuda_gen" in steps else "cpu").manual_seed(1)
    qkvg = (torch.randn(b, h, w, 4 * c, generator=gen, device=gen.device, dtype=torch.float64) * 0.7).cuda().bfloat16()
    da = (torch.randn(b, h, w, c, generator=gen, device=gen.device, dtype=torch.float64) * 0.1).cuda().bfloat16()
    rope32 = am.rope_angles(h, w, c // heads, "cuda", torch.float32)
    kept = {}
    for name in steps:
        if name == "ref64":
            kept["ref"] = ccb.branch_grads(ccb.cb.CUDA_STAGES, qkvg.double(), [p.detach().double() for p in ccb.params(
                attn)], am.rope_angles(h, w, c // heads, "cuda", torch.float64), heads, da.double())
        elif name in ("inductor_ac", "cuda_ac"):
            leaf = qkvg.clone().requires_grad_()
            attn.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
                kept["a"] = (ccb.inductor_branch if name == "inductor_ac" else ccb.op_call)(attn, leaf, rope32)
            kept["a"].backward(da.to(kept["a"].dtype))
        elif name == "bitid":
            for _ in range(2):
                attn.zero_grad(set_to_none=True)
                ccb.op_call(attn, qkvg.clone().requires_grad_(), rope32).backward(da)
        elif name == "keep_graph":
            kept["a"] = ccb.op_call(attn, qkvg.clone().requires_grad_(), rope32)
        elif name == "del_a":
            kept.pop("a", None)
    xs = qkvg.clone().requires_grad_()

    def step():  # training_case's step
        xs.grad = None
        attn.zero_grad(set_to_none=True)
        (out := ccb.op_call(attn, xs, rope32)).backward(da)
        return out

    eager = [step().detach().clone(), xs.grad.clone()]
    before = len(seen)  # warnings until here: only the (once-only) stream mismatch is reported
    if mode == "sync_warn":
        torch.cuda.set_sync_debug_mode("warn")
    try:
        [step() for _ in range(2)]  # warm-up, as graph_us
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="global" if mode == "sync_warn" else mode):
            step()
        graph.replay()
        torch.cuda.synchronize()
        detail = "replay == eager" if (ok := torch.equal(xs.grad, eager[1])) else "replay != eager"
    except Exception as exc:  # noqa: BLE001
        ok, detail = False, f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
    notes = sorted({("before the warm-up: " if i < before else "") + str(x.message).splitlines()[0][:90]
                    for i, x in enumerate(seen) if i >= before or MISMATCH in str(x.message)})
    return ok, detail + "".join(f" [warned {m}]" for m in notes)


def run_child(steps, args, mode="global"):
    env = {k: v for k, v in os.environ.items() if k != "CUDA_LAUNCH_BLOCKING"}
    cmd = [sys.executable, os.path.abspath(__file__), "--child", label(steps), "--mode", mode]
    tag, t = label(steps) + ("" if mode == "global" else f" ({mode})"), time.time()
    try:
        p = subprocess.run(cmd, env=env, cwd=HERE, capture_output=True, text=True, timeout=TIMEOUT)
        out = p.stdout + p.stderr
        res = [ln[7:] for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        line = res[-1] if res else f"FAIL exit {p.returncode}: " + " | ".join(out.strip().splitlines()[-3:])[-300:]
    except subprocess.TimeoutExpired as exc:
        out, line = str(exc.stdout or ""), f"FAIL timeout after {TIMEOUT} s"
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
        open(os.path.join(args.log_dir, f"{label(steps)}.{mode}.log"), "w").write(out)
    status, _, detail = line.partition(" ")
    return status == "OK", f"{status:4s} {tag} {detail} ({time.time() - t:.0f} s)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the steps and prefixes (no CUDA, no torch)")
    ap.add_argument("--only", help="run this one prefix (e.g. cuda_ac+del_a) and its reruns if it fails")
    ap.add_argument("--jobs", type=int, default=3, help="children at a time on the GPU (default 3)")
    ap.add_argument("--log-dir", help="write each child's full output here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="global", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        ok, detail = run_steps([s for s in args.child.split("+") if s not in ("", "none")], args.mode)
        return print(f"RESULT {'OK' if ok else 'FAIL'} {detail}", flush=True)
    prefixes = [p.split("+") if p != "none" else [] for p in [args.only]] if args.only else PREFIXES
    if args.list:
        print("steps:\n" + "".join(f"  {k:12s} {v}\n" for k, v in STEPS.items()) + "prefixes:")
        return print("\n".join(f"  {label(p)}" for p in prefixes))
    print(f"{sys.executable}; CUDA_LAUNCH_BLOCKING here: {os.environ.get('CUDA_LAUNCH_BLOCKING')!r} (unset in "
          f"children); {len(prefixes)} prefixes, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda p: run_child(p, args), prefixes))
    print("\n".join(line for _, line in results), flush=True)
    failing = [p for p, (ok, _) in zip(prefixes, results) if not ok]
    if not failing:
        return print("no prefix fails")
    first = failing[0]  # cumulative prefixes come first: their first failure names the step that breaks capture
    print(f"first failing prefix: {label(first)} (last step {first[-1] if first else 'none'}); reruns:", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        reruns = list(pool.map(lambda m: run_child(first, args, m), ["thread_local", "relaxed", "sync_warn"]))
    print("\n".join(line for _, line in reruns), flush=True)


if __name__ == "__main__":
    main()
