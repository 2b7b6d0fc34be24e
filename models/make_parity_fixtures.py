"""Parity fixtures for the C++ engine, plus the twin's self-checks.

For each attention kind: a small model with every parameter randomised (nothing at its init value), a random
input image, and the output of a float64 CPU forward pass run on the float32-rounded weights and input:
  tests/fixtures/parity/<kind>_model.safetensors   a normal model file (float32 weights)
  tests/fixtures/parity/<kind>_io.safetensors      float32 `input` (H, W, 3) and `output` (2H, 2W, 3)
Checks printed (float64, relative error): plain vs fast attention (values and gradients), NaLa/Pola vs their
O(N^2) forms, softmax fast vs plain, and the whole model in each formulation.

Usage: python3 models/make_parity_fixtures.py [--verify]
  --verify  recompute the outputs from the stored files and compare instead of writing new files.
"""
import datetime
import os
import sys

import torch

import attention_math as am
from export import load_model, read_safetensors, save_model, write_safetensors
from nalasr_model import ModelConfig, NalaSR

KINDS = ("nala", "pola", "softmax")
HEIGHT, WIDTH = 11, 13
FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "parity")
TOLERANCE = 1e-10  # float64 formulations of the same math


def fixture_config(kind):
    return ModelConfig(channels=16, heads=2, groups=2, blocks=1, ffn_ratio=2, scale=2, attention=kind)


def rel_err(a, b):
    return ((a - b).norm() / b.norm()).item()


def randomise(model, gen):
    """Every parameter gets a random value away from its initialisation (float32-representable)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("norm1.weight", "norm2.weight", "norm.weight")):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias") or name.endswith(("attn.scale", "attn.power")):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)


def check(label, err, failures, tolerance=TOLERANCE):
    print(f"  {label:<48s} rel err {err:.3e}")
    if not err < tolerance:
        failures.append(label)


def check_attention(kind, gen, failures):
    """Attention cores alone on random q, k, v: every formulation, values and gradients."""
    heads, c = 2, 16
    q, k, v = (torch.randn(2, HEIGHT * WIDTH, c, generator=gen, dtype=torch.float64) for _ in range(3))
    power = torch.randn(heads, c // heads, generator=gen, dtype=torch.float64)
    cos, sin = am.rope_angles(HEIGHT, WIDTH, c // heads, "cpu", torch.float64)
    forms = {
        "nala": {"fast": lambda q, k, v: am.nala_fast(q, k, v, heads, cos, sin),
                 "plain": lambda q, k, v: am.nala_plain(q, k, v, heads, HEIGHT, WIDTH),
                 "quadratic": lambda q, k, v: am.nala_quadratic(q, k, v, heads, HEIGHT, WIDTH)},
        "pola": {"fast": lambda q, k, v: am.pola_fast(q, k, v, heads, power),
                 "plain": lambda q, k, v: am.pola_plain(q, k, v, heads, power),
                 "quadratic": lambda q, k, v: am.pola_quadratic(q, k, v, heads, power)},
        "softmax": {"fast": lambda q, k, v: am.softmax_fast(q, k, v, heads),
                    "plain": lambda q, k, v: am.softmax_plain(q, k, v, heads)},
    }[kind]
    weight = torch.randn(2, HEIGHT * WIDTH, c, generator=gen, dtype=torch.float64)
    results = {}
    for name, fn in forms.items():
        leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
        out = fn(*leaves)
        grads = torch.autograd.grad((out * weight).sum(), leaves)
        results[name] = (out.detach(), torch.cat([g.flatten() for g in grads]))
    ref_out, ref_grad = results["plain"]
    for name, (out, grad) in results.items():
        if name != "plain":
            check(f"{kind} attention {name} vs plain", rel_err(out, ref_out), failures)
            check(f"{kind} attention {name} vs plain, gradients", rel_err(grad, ref_grad), failures)


def forward64(model, image):
    """Float64 forward of the float32 model on a (H, W, 3) image.

    -> (plain output (sH, sW, 3) float64, {other formulation: rel err of its output vs plain}).
    The plain output uses cuDNN-style depthwise convs (F.conv2d).
    """
    m64 = NalaSR(model.cfg).double()
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    others = ("fast", "quadratic") if model.cfg.attention != "softmax" else ("fast",)
    with torch.no_grad():
        m64.set_formulation("plain")
        out = m64(image.double()[None])[0]
        errors = {}
        for name in others:
            m64.set_formulation(name)
            errors[name] = rel_err(m64(image.double()[None])[0], out)
        m64.set_formulation("fast")
        m64.set_depthwise("shift")  # the training path: fast attention, shifted-sum depthwise convs
        errors["fast + shift depthwise"] = rel_err(m64(image.double()[None])[0], out)
    return out, errors


def generate(kind, seed, failures):
    gen = torch.Generator().manual_seed(seed)
    model = NalaSR(fixture_config(kind))
    randomise(model, gen)
    image = torch.rand(HEIGHT, WIDTH, 3, generator=gen)  # float32, values in [0, 1)
    out, errors = forward64(model, image)
    for name, err in errors.items():
        check(f"{kind} model {name} vs plain", err, failures)
    provenance = {"trained_on": "none (random parity fixture)", "steps": 0, "seed": seed,
                  "created": datetime.date.today().isoformat(), "source": "models/make_parity_fixtures.py"}
    save_model(os.path.join(FIXTURE_DIR, f"{kind}_model.safetensors"), model, provenance)
    write_safetensors(os.path.join(FIXTURE_DIR, f"{kind}_io.safetensors"),
                      {"input": image, "output": out.float()},
                      {"kind": kind, "reference": "float64 CPU forward, torch " + torch.__version__})
    print(f"  {kind}: wrote fixtures, output range [{out.min():.3f}, {out.max():.3f}], std {out.std():.3f}")


def verify(kind, failures):
    model, _ = load_model(os.path.join(FIXTURE_DIR, f"{kind}_model.safetensors"))
    io, _ = read_safetensors(os.path.join(FIXTURE_DIR, f"{kind}_io.safetensors"))
    out, _ = forward64(model, io["input"])
    # The stored output is float32: its rounding alone gives ~3e-8.
    check(f"{kind} stored output vs recomputed", rel_err(io["output"].double(), out), failures, 1e-6)


def main(argv):
    verify_only = "--verify" in argv
    torch.set_default_dtype(torch.float32)
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    failures = []
    gen = torch.Generator().manual_seed(1234)
    print(f"torch {torch.__version__}")
    for i, kind in enumerate(KINDS):
        check_attention(kind, gen, failures)
        if verify_only:
            verify(kind, failures)
        else:
            generate(kind, 100 + i, failures)
    print("FAILED: " + ", ".join(failures) if failures else "all parity checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
