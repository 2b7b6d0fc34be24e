"""A CPU emulator of the small triton / triton.language subset that triton_dwconv.py uses (tests only).

This machine has no GPU and no Triton, so check_dwconv_cpu.py installs this module as `triton` before importing
triton_dwconv and runs the @triton.jit kernel bodies as ordinary Python on torch CPU tensors, one program after
another: the index arithmetic, masks, strides, tap order, partial-sum layout and launch grids are exercised
for real. Stricter than a GPU where that helps: a masked-in load or store outside its tensor raises, and every
store is counted so a test can ask that each output element was written exactly once (torch.empty garbage
would otherwise go unnoticed). Not emulated: compilation, layouts, register limits, int32 overflow of
Triton's scalar arguments, performance.
"""
import itertools
import sys
import types

import torch


class _Ptr:
    """A pointer block: a flat view of a tensor's memory + an integer offset tensor (any shape)."""

    def __init__(self, base, offs, tag):
        self.base, self.offs, self.tag = base, offs, tag

    def __add__(self, other):
        return _Ptr(self.base, self.offs + other, self.tag)

    __radd__ = __add__

    @property
    def dtype(self):
        return types.SimpleNamespace(element_ty=self.base.dtype)


WRITES = {}  # tag -> (flat base, int64 counts): stores per element during the last launches


def _as_ptr(t):
    extent = 1 + sum((s - 1) * st for s, st in zip(t.shape, t.stride())) if t.numel() else 0
    tag = (t.data_ptr(), extent, t.dtype)
    return _Ptr(t.as_strided((extent,), (1,)), torch.zeros((), dtype=torch.int32), tag)


def _select(ptr, mask):
    offs = ptr.offs if mask is None else torch.broadcast_tensors(ptr.offs, mask)[0]
    mask = torch.ones(offs.shape, dtype=torch.bool) if mask is None else torch.broadcast_to(mask, offs.shape)
    sel = offs[mask].long()
    if sel.numel() and (sel.min() < 0 or sel.max() >= ptr.base.numel()):
        raise IndexError(f"masked-in access outside the tensor: offsets {sel.min()}..{sel.max()}, "
                         f"{ptr.base.numel()} elements")
    return offs, mask, sel


def _load(ptr, mask=None, other=None):
    offs, mask, sel = _select(ptr, mask)
    out = torch.full(offs.shape, 0 if other is None else other, dtype=ptr.base.dtype)
    out[mask] = ptr.base[sel]
    return out


def _store(ptr, value, mask=None):
    offs, mask, sel = _select(ptr, mask)
    if not torch.is_tensor(value):
        value = torch.tensor(value)
    if value.dtype != ptr.base.dtype:
        raise TypeError(f"store of {value.dtype} into {ptr.base.dtype} (Triton needs an explicit .to)")
    value = torch.broadcast_to(value, offs.shape)
    if sel.unique().numel() != sel.numel():
        raise RuntimeError("two lanes of one store write the same element (a race on the GPU)")
    ptr.base[sel] = value[mask]
    counts = WRITES.setdefault(ptr.tag, (ptr.base, torch.zeros(ptr.base.numel(), dtype=torch.int64)))[1]
    counts[sel] += 1


def _where(cond, a, b):
    ref = a if torch.is_tensor(a) else b
    a = a if torch.is_tensor(a) else torch.tensor(a, dtype=ref.dtype)
    b = b if torch.is_tensor(b) else torch.tensor(b, dtype=ref.dtype)
    return torch.where(cond, a, b)


_PIDS = [0, 0, 0]


class _Kernel:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):  # a @jit function called from a kernel
        return self.fn(*args, **kwargs)

    def __getitem__(self, grid):
        def launch(*args, num_warps=None, num_stages=None, **meta):
            args = [_as_ptr(a) if torch.is_tensor(a) else a for a in args]
            for a in args:
                if isinstance(a, int) and not isinstance(a, bool):
                    assert -2 ** 31 <= a < 2 ** 31, "scalar argument outside int32 (Triton would make it int64)"
            for pid in itertools.product(*(range(g) for g in grid)):
                _PIDS[:len(pid)] = pid
                self.fn(*args, **meta)
        return launch


def _program_id(axis):
    return torch.tensor(_PIDS[axis], dtype=torch.int32)


class _Constexpr:
    def __new__(cls, value=None):
        return value


def install():
    """Puts the emulator in sys.modules as `triton` and `triton.language`."""
    tl = types.ModuleType("triton.language")
    tl.constexpr = _Constexpr
    tl.float32, tl.float64, tl.float16, tl.bfloat16 = torch.float32, torch.float64, torch.float16, torch.bfloat16
    tl.int32, tl.int64 = torch.int32, torch.int64
    tl.program_id = _program_id
    tl.arange = lambda start, end: torch.arange(start, end, dtype=torch.int32)
    tl.zeros = lambda shape, dtype: torch.zeros(tuple(shape), dtype=dtype)
    tl.load, tl.store, tl.where = _load, _store, _where
    tl.sum = lambda x, axis: x.sum(axis)
    tl.static_range = range
    triton = types.ModuleType("triton")
    triton.language = tl
    triton.jit = _Kernel
    triton.cdiv = lambda a, b: -(-a // b)
    triton.next_power_of_2 = lambda n: 1 << max(0, n - 1).bit_length()
    triton.EMULATED = True
    sys.modules["triton"], sys.modules["triton.language"] = triton, tl
    return triton
