"""PASS/FAIL bookkeeping shared by the device check scripts (check_fused_attention.py, check_triton_dwconv.py)."""
import sys

import torch

FAILS = []


def report(name, ok, detail):
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)
    if not ok:
        FAILS.append(name)


def require_triton(available):
    """Prints the GPU and torch version; exits with a FAIL when the Triton kernels cannot be used here."""
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton available: {available}", flush=True)
    if not available:
        report("triton importable", False, "no triton / torch.library.custom_op")
        sys.exit(1)


def exit_with_status():
    """Exit 1 when any check failed, else 0."""
    sys.exit(1 if FAILS else 0)
