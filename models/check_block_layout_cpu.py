"""CPU check of the training-speed block options (NalaSR.set_block_options): same outputs, same gradients.

Two float64 models built from one state_dict with randomised parameters, the current path (options off) and the
options on, forward + backward on random images: every output and every parameter gradient must agree to 1e-12
relative (the options change where the bias enters a GEMM, not the math). NaLa and Pola in the fast formulation
(softmax in plain: this torch may lack scaled_dot_product_attention), x2 / x3 / x4, square and non-square images.
Then the stored C++ parity fixtures (tests/fixtures/parity) are recomputed with the options on.
Float64 makes attention_out_low_precision a no-op (it rounds to lepe's dtype): only its wiring is checked here.

Usage: /usr/bin/python3 models/check_block_layout_cpu.py
"""
import os
import sys

import torch

from export import load_model, read_safetensors
from make_parity_fixtures import FIXTURE_DIR, randomise, rel_err
from nalasr_model import ModelConfig, NalaSR

TOLERANCE = 1e-12
OPTIONS = dict(bias_column=True, attention_out_low_precision=True)
CASES = [  # (kind, formulation, scale, batch, height, width, channels, heads, ffn_ratio)
    ("nala", "fast", 4, 2, 8, 8, 16, 2, 2),
    ("nala", "fast", 2, 1, 9, 13, 16, 4, 2),
    ("nala", "fast", 3, 2, 12, 7, 32, 4, 3),
    ("pola", "fast", 4, 1, 10, 6, 16, 2, 2),
    ("pola", "fast", 3, 2, 7, 11, 24, 2, 2),
    ("pola", "fast", 2, 1, 16, 16, 32, 4, 2),
    ("softmax", "plain", 2, 1, 6, 9, 16, 2, 2),
]


def run(model, images, weight):
    """-> output and {parameter name: gradient} of sum(out * weight)."""
    model.zero_grad(set_to_none=True)
    out = model(images)
    (out * weight).sum().backward()
    return out.detach(), {n: p.grad if p.grad is not None else torch.zeros_like(p) for n, p in model.named_parameters()}


def check_case(case, seed, failures):
    kind, formulation, scale, batch, h, w, c, heads, ratio = case
    cfg = ModelConfig(channels=c, heads=heads, groups=2, blocks=2, ffn_ratio=ratio, scale=scale, attention=kind)
    gen = torch.Generator().manual_seed(seed)
    ref = NalaSR(cfg).double()
    randomise(ref, gen)
    new = NalaSR(cfg).double()
    new.load_state_dict(ref.state_dict())
    new.set_block_options(**OPTIONS)
    for m in (ref, new):
        m.set_formulation(formulation)
    images = torch.rand(batch, h, w, 3, generator=gen, dtype=torch.float64)
    weight = torch.randn(batch, scale * h, scale * w, 3, generator=gen, dtype=torch.float64)
    out_ref, grads_ref = run(ref, images, weight)
    out_new, grads_new = run(new, images, weight)
    errors = {"output": rel_err(out_new, out_ref)}
    errors.update({n: rel_err(grads_new[n], g) for n, g in grads_ref.items()})  # a missing gradient: error 1
    name, worst = max(errors.items(), key=lambda kv: kv[1])
    ok = worst <= TOLERANCE
    label = f"{kind} {formulation} x{scale} B{batch} {h}x{w} C{c} h{heads} r{ratio}"
    print(f"  {'PASS' if ok else 'FAIL'} {label:<40s} output {errors['output']:.2e}, "
          f"{len(errors) - 1} gradients, worst {worst:.2e} ({name})")
    if not ok:
        failures.append(label)


def check_fixture(kind, failures):
    """The stored float32 parity output, recomputed in float64 with the options on (as make_parity_fixtures)."""
    model, _ = load_model(os.path.join(FIXTURE_DIR, f"{kind}_model.safetensors"))
    io, _ = read_safetensors(os.path.join(FIXTURE_DIR, f"{kind}_io.safetensors"))
    m64 = NalaSR(model.cfg).double()
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    m64.set_block_options(**OPTIONS)
    m64.set_formulation("plain")
    with torch.no_grad():
        out = m64(io["input"].double()[None])[0]
    err = rel_err(io["output"].double(), out)
    ok = err < 1e-6  # the stored output is float32: its rounding alone gives ~3e-8
    print(f"  {'PASS' if ok else 'FAIL'} parity fixture {kind}, options on, stored vs recomputed {err:.2e}")
    if not ok:
        failures.append(f"fixture {kind}")


def main():
    torch.set_default_dtype(torch.float64)
    print(f"torch {torch.__version__}; options {OPTIONS}; tolerance {TOLERANCE:g}")
    failures = []
    for i, case in enumerate(CASES):
        check_case(case, 10 + i, failures)
    for kind in ("nala", "pola", "softmax"):
        check_fixture(kind, failures)
    print("FAILED: " + ", ".join(failures) if failures else "all block-layout checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
