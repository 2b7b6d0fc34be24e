"""PyTorch twin of the NalaSR network pinned in docs/model.md (state_dict keys = the docs' tensor table).

Activations stay token-major (B, H, W, C) from the first conv to the last. A contiguous (B, H, W, C) tensor
permuted to (B, C, H, W) is an NCHW view in channels_last memory, which cuDNN convolves directly and returns
in channels_last, so permuting back is free: no transposes between blocks.
"""
import dataclasses
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

import attention_math as am
import cuda_attention
import cuda_branch
import triton_attention as tri

# "triton": the fused kernels of triton_attention.py (GPU, opt-in; softmax runs "fast" there); "cuda": NaLa on
# the CUDA kernels of cuda_attention.py, Pola on the Triton ones (no CUDA Pola), softmax "fast"
FORMULATIONS = ("plain", "fast", "quadratic", "triton", "cuda")
FUSED = ("triton", "cuda")
# Who computes NaLa's branch between the qkvg and proj GEMMs: "inductor" (the custom attention op + lepe conv +
# the compiled LayerNorm / SiLU gate) or "cuda" (cuda_branch.py: one custom op with the gate in CUDA and d(qkvg)
# written in place; NaLa with the "cuda" formulation only). Same math.
ATTENTION_BRANCHES = ("inductor", "cuda")


@dataclasses.dataclass
class ModelConfig:
    channels: int = 64
    heads: int = 4
    groups: int = 4
    blocks: int = 4
    ffn_ratio: int = 2
    scale: int = 4
    attention: str = "nala"

    @property
    def head_dim(self):
        return self.channels // self.heads

    def validate(self):
        if self.attention not in ("nala", "pola", "softmax"):
            raise ValueError(f"attention must be nala, pola or softmax, not {self.attention!r}")
        if self.channels % self.heads or self.head_dim % 4:
            raise ValueError(f"head width {self.channels}/{self.heads} must be an integer divisible by 4")
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, not {self.scale}")

    def to_json(self):
        d = {"arch": "nalasr", "format_version": 1}
        d.update(dataclasses.asdict(self))
        return json.dumps(d)

    @staticmethod
    def from_json(text):
        d = json.loads(text)
        if d.pop("arch", None) != "nalasr":
            raise ValueError("config arch is not 'nalasr'")
        if d.pop("format_version", None) != 1:
            raise ValueError("unsupported format_version")
        return ModelConfig(**d)


DEPTHWISE_IMPLS = ("cudnn", "shift", "triton", "cuda")
_triton_dwconv = None  # the triton_dwconv module, imported by set_depthwise("triton") only (CPU: no Triton)
_cuda_dwconv = None  # the cuda_dwconv module, imported by set_depthwise("cuda") only


def conv_tokens(conv, x):
    """Applies an NCHW conv module to token-major x (B, H, W, C) and returns token-major output."""
    return conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def depthwise_tokens(x, weight, bias, impl, residual=False):
    """Depthwise k x k conv (zero padding, same size) of token-major x (B, H, W, C); + x if residual.

    "cudnn": F.conv2d on the channels_last view. "shift": the sum of k^2 shifted, per-channel-weighted copies
    of x, accumulated in float32; inside torch.compile it becomes one fused elementwise kernel forward and a
    few fused kernels backward, which beats cuDNN's grouped-conv weight gradient on these shapes. "triton":
    one Triton kernel forward and one backward (triton_dwconv.py), with the residual fused in. "cuda": the
    same with hand-written CUDA kernels (cuda_dwconv.py).
    """
    if impl == "triton":
        return _triton_dwconv.dwconv_triton(x, weight, bias, residual)
    if impl == "cuda":
        return _cuda_dwconv.dwconv_cuda(x, weight, bias, residual)
    out = _depthwise_untiled(x, weight, bias, impl)
    return x + out if residual else out


def enable_triton_depthwise():
    """Imports triton_dwconv for depthwise_tokens(..., "triton"); raises where Triton or custom ops are missing."""
    global _triton_dwconv
    import triton_dwconv
    if not triton_dwconv.AVAILABLE:
        raise RuntimeError("depthwise 'triton' needs Triton and torch.library.custom_op (PyTorch >= 2.4)")
    _triton_dwconv = triton_dwconv


def enable_cuda_depthwise():
    """Imports cuda_dwconv for depthwise_tokens(..., "cuda"); raises without a GPU or torch.library.custom_op
    (the kernels themselves are compiled on first use)."""
    global _cuda_dwconv
    import cuda_dwconv
    if not cuda_dwconv.AVAILABLE:
        raise RuntimeError("depthwise 'cuda' needs a CUDA device and torch.library.custom_op (PyTorch >= 2.4)")
    _cuda_dwconv = cuda_dwconv


def _depthwise_untiled(x, weight, bias, impl):
    k = weight.shape[-1]
    if impl == "cudnn":
        out = F.conv2d(x.permute(0, 3, 1, 2), weight, bias, padding=k // 2, groups=x.shape[-1])
        return out.permute(0, 2, 3, 1)
    _, h, w, _ = x.shape
    r = k // 2
    padded = F.pad(x, (0, 0, r, r, r, r))
    taps = weight.reshape(-1, k, k)
    acc = bias.to(torch.promote_types(x.dtype, torch.float32))
    for dy in range(k):
        for dx in range(k):
            acc = acc + padded[:, dy:dy + h, dx:dx + w, :] * taps[:, dy, dx]
    return acc.to(x.dtype)


class DepthwiseConv(nn.Conv2d):
    """Depthwise k x k conv on token-major (B, H, W, C) input; `impl` picks the implementation."""

    def __init__(self, channels, kernel):
        super().__init__(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.impl = "cudnn"

    def forward(self, x):
        return depthwise_tokens(x, self.weight, self.bias, self.impl)

    def plus_input(self, x):
        """x + self(x), in one kernel with the "triton" and "cuda" implementations."""
        return depthwise_tokens(x, self.weight, self.bias, self.impl, residual=True)


def depthwise(channels, kernel):
    return DepthwiseConv(channels, kernel)


def float32_region(x):
    """Attention arithmetic is float32 in every implementation: leave autocast for its duration."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def _as_float(t):
    return t if t.dtype == torch.float64 else t.float()


class NalaAttention(nn.Module):
    """NaLa (attention = "nala"); with attention = "softmax" the same tensors run global softmax attention."""

    def __init__(self, cfg):
        super().__init__()
        c = cfg.channels
        self.heads = cfg.heads
        self.softmax = cfg.attention == "softmax"
        self.formulation = "fast"
        self.branch = "inductor"
        self.qkvg = nn.Linear(c, 4 * c)
        self.lepe = depthwise(c, 5)
        self.norm = nn.LayerNorm(c, eps=1e-5)
        self.proj = nn.Linear(c, c)

    def _core(self, q, k, v, hw, rope):
        h, w = hw
        if self.softmax:
            if self.formulation in ("fast",) + FUSED:
                return am.softmax_fast(q, k, v, self.heads)
            return am.softmax_plain(q, k, v, self.heads)
        if self.formulation == "fast":
            return am.nala_fast(q, k, v, self.heads, *rope)
        if self.formulation == "triton":
            return tri.nala_triton(q, k, v, self.heads, *rope)
        if self.formulation == "cuda":
            return cuda_attention.nala_cuda(q, k, v, self.heads, *rope)
        if self.formulation == "plain":
            return am.nala_plain(q, k, v, self.heads, h, w)
        return am.nala_quadratic(q, k, v, self.heads, h, w)

    def forward(self, x, rope):
        b, h, w, c = x.shape
        if self.branch == "cuda" and self.formulation == "cuda" and not self.softmax:
            return self.proj(cuda_branch.nala_branch(self.qkvg(x), self, *rope))
        q, k, v, g = self.qkvg(x).chunk(4, dim=-1)
        lepe = self.lepe(v)
        with float32_region(x):
            # the kernels read bf16 q, k, v and do float32 math in registers: no float copies
            cast = (lambda t: t) if self.formulation in FUSED and not self.softmax else _as_float
            flat = [cast(t).reshape(b, h * w, c) for t in (q, k, v)]
            o = self._core(*flat, (h, w), rope).reshape(b, h, w, c)
        return self.proj(self.norm(o + lepe) * F.silu(g))


class PolaAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, d = cfg.channels, cfg.head_dim
        self.heads = cfg.heads
        self.formulation = "fast"
        self.qkvg = nn.Linear(c, 4 * c)
        self.kpos = depthwise(c, 3)
        self.lepe = depthwise(d, 5)  # shared by all heads
        self.scale = nn.Parameter(torch.zeros(c))
        self.power = nn.Parameter(torch.zeros(cfg.heads, d))
        self.proj = nn.Linear(c, c)

    def _lepe_all_heads(self, v):
        weight = self.lepe.weight.repeat(self.heads, 1, 1, 1)
        return depthwise_tokens(v, weight, self.lepe.bias.repeat(self.heads), self.lepe.impl)

    def forward(self, x, rope):
        b, h, w, c = x.shape
        q, k, v, g = self.qkvg(x).chunk(4, dim=-1)
        k = self.kpos.plus_input(k)
        lepe = self._lepe_all_heads(v)
        with float32_region(x):
            sigma = F.softplus(_as_float(self.scale))
            q, k = [_as_float(t).reshape(b, h * w, c) for t in (q, k)]
            # the kernels read v in its own dtype, math float32 in registers: no float32 copy (q, k are divided)
            v = (v if self.formulation in FUSED else _as_float(v)).reshape(b, h * w, c)
            q, k = q / sigma, k / sigma
            power = _as_float(self.power)
            if self.formulation == "fast":
                o = am.pola_fast(q, k, v, self.heads, power)
            elif self.formulation in FUSED:
                o = tri.pola_triton(q, k, v, self.heads, power)
            elif self.formulation == "plain":
                o = am.pola_plain(q, k, v, self.heads, power)
            else:
                o = am.pola_quadratic(q, k, v, self.heads, power)
        return self.proj((o.reshape(b, h, w, c) + lepe) * g)


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, hidden = cfg.channels, cfg.ffn_ratio * cfg.channels
        self.fc1 = nn.Linear(c, hidden)
        self.dwconv = depthwise(hidden, 3)
        self.fc2 = nn.Linear(hidden, c)

    def forward(self, u):
        t = F.gelu(self.fc1(u))
        return self.fc2(self.dwconv.plus_input(t))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg.channels
        self.cpe1 = depthwise(c, 3)
        self.norm1 = nn.LayerNorm(c, eps=1e-5)
        self.attn = PolaAttention(cfg) if cfg.attention == "pola" else NalaAttention(cfg)
        self.cpe2 = depthwise(c, 3)
        self.norm2 = nn.LayerNorm(c, eps=1e-5)
        self.ffn = FeedForward(cfg)

    def forward(self, x, rope):
        x = self.cpe1.plus_input(x)
        x = x + self.attn(self.norm1(x), rope)
        x = self.cpe2.plus_input(x)
        return x + self.ffn(self.norm2(x))


class ResidualGroup(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.blocks))
        self.conv = nn.Conv2d(cfg.channels, cfg.channels, 3, padding=1)

    def forward(self, y, rope):
        z = y
        for block in self.blocks:
            z = block(z, rope)
        return conv_tokens(self.conv, z) + y


class Upsample(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.scale = cfg.scale
        self.conv = nn.Conv2d(cfg.channels, 3 * cfg.scale ** 2, 3, padding=1)

    def forward(self, y):
        return F.pixel_shuffle(self.conv(y.permute(0, 3, 1, 2)), self.scale).permute(0, 2, 3, 1)


class NalaSR(nn.Module):
    """forward: images (B, H, W, 3) RGB in [0, 1] -> (B, sH, sW, 3), unclamped."""

    def __init__(self, cfg):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        c = cfg.channels
        self.conv_first = nn.Conv2d(3, c, 3, padding=1)
        self.groups = nn.ModuleList(ResidualGroup(cfg) for _ in range(cfg.groups))
        self.conv_after = nn.Conv2d(c, c, 3, padding=1)
        self.upsample = Upsample(cfg)
        self._rope_cache = {}
        self.apply(_init_weights)

    def attention_modules(self):
        return [m for m in self.modules() if isinstance(m, (NalaAttention, PolaAttention))]

    def blocks(self):
        return [m for m in self.modules() if isinstance(m, Block)]

    def set_formulation(self, formulation):
        if formulation not in FORMULATIONS:
            raise ValueError(f"formulation must be one of {FORMULATIONS}")
        if formulation == "triton" and not tri.AVAILABLE:
            raise RuntimeError("formulation 'triton' needs Triton and torch.library.custom_op (PyTorch >= 2.4)")
        if formulation == "cuda":
            if not cuda_attention.AVAILABLE or (self.cfg.attention == "pola" and not tri.AVAILABLE):
                raise RuntimeError("formulation 'cuda' needs CUDA and torch.library.custom_op (PyTorch >= 2.4); "
                                   "Pola also Triton")
            if self.cfg.head_dim not in cuda_attention.HEAD_DIMS:
                raise ValueError(f"formulation 'cuda': head width {self.cfg.head_dim} not in "
                                 f"{cuda_attention.HEAD_DIMS}")
        for m in self.attention_modules():
            m.formulation = formulation

    def set_attention_branch(self, impl):
        """ATTENTION_BRANCHES; "cuda" needs NaLa, CUDA and custom ops, and applies with the "cuda" formulation."""
        if impl not in ATTENTION_BRANCHES:
            raise ValueError(f"attention branch must be one of {ATTENTION_BRANCHES}")
        if impl == "cuda":
            if self.cfg.attention != "nala" or not cuda_branch.AVAILABLE:
                raise RuntimeError("attention branch 'cuda' needs NaLa, CUDA and torch.library.custom_op")
            if self.cfg.channels not in cuda_branch.GATE_CHANNELS:
                raise ValueError(f"attention branch 'cuda': C {self.cfg.channels} not in {cuda_branch.GATE_CHANNELS}")
        for m in self.attention_modules():
            m.branch = impl

    def set_depthwise(self, impl):
        if impl not in DEPTHWISE_IMPLS:
            raise ValueError(f"depthwise implementation must be one of {DEPTHWISE_IMPLS}")
        if impl == "triton":
            enable_triton_depthwise()
        elif impl == "cuda":
            enable_cuda_depthwise()
        for m in self.modules():
            if isinstance(m, DepthwiseConv):
                m.impl = impl

    def rope_tables(self, height, width, device, dtype):
        """cos/sin tables for an H x W token grid, computed once per (H, W, device, dtype)."""
        key = (height, width, device, dtype)
        if key not in self._rope_cache:
            self._rope_cache[key] = am.rope_angles(height, width, self.cfg.head_dim, device, dtype)
        return self._rope_cache[key]

    def forward(self, img):
        _, h, w, _ = img.shape
        table_dtype = torch.float64 if img.dtype == torch.float64 else torch.float32
        rope = self.rope_tables(h, w, img.device, table_dtype)
        feat = conv_tokens(self.conv_first, img - 0.5)
        y = feat
        for group in self.groups:
            y = group(y, rope)
        y = conv_tokens(self.conv_after, y) + feat
        return self.upsample(y) + 0.5


def _init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())
