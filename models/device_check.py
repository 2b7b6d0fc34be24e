"""What the device check scripts (check_fused_attention.py, check_triton_dwconv.py) share: PASS/FAIL bookkeeping,
the relative error, and the bf16-autocast model comparison."""
import sys

import torch

FAILS = []


def report(name, ok, detail):
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)
    if not ok:
        FAILS.append(name)


def rel(a, b):
    """Relative L2 error of a against b, in float64."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


def bf16_variant_errors(model, img, hr, variants, use):
    """Forward + L1 backward of `model` once per (name, setting, bf16) in `variants` after `use(model, setting)`,
    under bf16 autocast when bf16. -> {name: [rel error of (output - 0.5), rel error of the parameter gradients]}
    against the first variant (the float32 reference), for every other variant."""
    import torch.nn.functional as F
    res = {}
    for name, setting, bf16 in variants:
        use(model, setting)
        model.zero_grad(set_to_none=True)
        with torch.autocast(torch.device(img.device).type, dtype=torch.bfloat16, enabled=bf16):
            out = model(img)
        F.l1_loss(out.float(), hr).backward()
        res[name] = (out.detach().float() - 0.5, torch.cat([p.grad.flatten() for p in model.parameters()]))
    reference = variants[0][0]
    return {name: [rel(a, b) for a, b in zip(res[name], res[reference])] for name, _, _ in variants[1:]}


def graphed_steps_check(name, make_model, img, hr):
    """What train.py runs: regional compilation + the whole training step in a CUDA graph. Builds the model with
    `make_model()`, runs 5 graphed steps and reports PASS when every loss is finite."""
    import argparse
    import time
    from graphed_step import GraphedStep
    from train import compile_blocks, make_optimizer, train_step
    try:
        torch._dynamo.reset()
        model = make_model()
        compile_blocks(model, "default")
        opt = make_optimizer(model, argparse.Namespace(lr=1e-3, weight_decay=1e-4, device="cuda", cuda_graph="on"))
        t = time.time()
        step = GraphedStep(train_step, model, opt, img, hr, 1.0)
        losses = [step(img, hr).item() for _ in range(5)]
        ok = all(v == v and abs(v) < 1e3 for v in losses)  # finite
        report(name, ok, f"losses {', '.join(f'{v:.4f}' for v in losses)} (set-up {time.time() - t:.1f} s)")
    except Exception as exc:  # noqa: BLE001
        report(name, False, f"{type(exc).__name__}: {str(exc)[:400]}")


def require_triton(available):
    """Prints the GPU and torch version; exits with a FAIL when the Triton kernels cannot be used here."""
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton available: {available}", flush=True)
    if not available:
        report("triton importable", False, "no triton / torch.library.custom_op")
        sys.exit(1)


def exit_with_status():
    """Exit 1 when any check failed, else 0."""
    sys.exit(1 if FAILS else 0)
