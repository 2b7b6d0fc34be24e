"""What triton_attention.py's kernels need on top of tl_emulator (tests only; check_attention_cpu.py).

A separate module so that tl_emulator.py (shared with the depthwise-conv checks) stays as it is: install()
calls tl_emulator.install() and adds tl.dot (float32 inputs rounded to TF32 for input_precision "tf32", as
the tensor cores read them, so the CPU check can estimate that mode's error; "tf32x3" and "ieee" as float32
products), tl.trans, tl.exp / log / sqrt / abs / maximum, tl.num_programs (the launch grid is recorded) and a
tl.where that also takes two Python scalars.
"""
import torch

import tl_emulator

_GRID = [1, 1, 1]


class _GridKernel(tl_emulator._Kernel):
    """tl_emulator's kernel that also records the launch grid, for tl.num_programs."""

    def __getitem__(self, grid):
        launch = super().__getitem__(grid)

        def run(*args, **kwargs):
            _GRID[:len(grid)] = grid
            launch(*args, **kwargs)
        return run


def _num_programs(axis):
    return torch.tensor(_GRID[axis], dtype=torch.int32)


def tf32(x):
    """float32 x rounded to TF32 (10 mantissa bits, to nearest, ties away: cvt.rna.tf32.f32)."""
    bits = x.contiguous().view(torch.int32)
    return ((bits + 0x1000) & -0x2000).view(torch.float32)


def _dot(a, b, input_precision=None):
    if a.dtype != b.dtype or a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        raise TypeError(f"tl.dot of {a.dtype} {tuple(a.shape)} and {b.dtype} {tuple(b.shape)}")
    if a.dtype == torch.float64:
        raise TypeError("tl.dot of float64 (the kernels use broadcast sums there)")
    if min(a.shape[0], a.shape[1], b.shape[1]) < 16:
        raise ValueError(f"tl.dot needs every dimension >= 16, got {tuple(a.shape)} @ {tuple(b.shape)}")
    if input_precision in (None, "tf32"):  # Triton's default for float32 is tf32
        a, b = tf32(a), tf32(b)
    elif input_precision not in ("tf32x3", "ieee"):
        raise ValueError(f"input_precision {input_precision!r}")
    return a @ b


def _scalar_like(x, ref):
    return x if torch.is_tensor(x) else torch.tensor(x, dtype=ref.dtype if torch.is_tensor(ref) else torch.float32)


def _where(cond, a, b):
    a = _scalar_like(a, b)
    return torch.where(cond, a, _scalar_like(b, a))


def _maximum(a, b):
    a = _scalar_like(a, b)
    return torch.maximum(a, _scalar_like(b, a))


def install():
    """tl_emulator.install() + the above; returns the emulated triton module."""
    triton = tl_emulator.install()
    tl = triton.language
    triton.jit = _GridKernel
    tl.num_programs = _num_programs
    tl.dot, tl.trans = _dot, torch.t
    tl.exp, tl.log, tl.sqrt, tl.abs, tl.maximum = torch.exp, torch.log, torch.sqrt, torch.abs, _maximum
    tl.where = _where
    return triton
