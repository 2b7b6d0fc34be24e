"""The engine-vs-PyTorch table of kernels/bench/run_compare.sh: reads `nalasr bench` JSON and bench_infer.py JSON,
prints one markdown table per attention kind and writes OUT/table.md and OUT/compare.json.

  python3 models/compare_report.py --engine bench.json --torch torch.json [--gpu gpu.txt] --out OUT

Engine: "network ms" (CUDA events around the network, CUDA graphs) and the observed peak (device memory taken).
PyTorch: median CUDA-event time of the forward; peak = max_memory_allocated over what was allocated before the
forward (weights + input), absolute peak in parentheses. "engine speed-up": PyTorch ms / engine ms. "× floor": ms over
the roofline floor of docs/cuda_notes.md (1,871,232 FLOP per token at 790 TFLOP/s: 1.23 ms at 960×540, 0.17 ms
at 265×265; counted for NaLa, used for Pola too).
"""
import argparse
import json
import os

FLOP_PER_TOKEN = 1_871_232
TENSOR_FLOPS = 790e12
MIB = 2 ** 20
TARGETS = {(960, 540): (20.0, 700.0), (265, 265): (4.0, 120.0)}  # engine, NaLa: ms, MiB (issue 4)
ANCHORS = ("brief's anchors at 960×540 (H100, by others): PyTorch eager bf16 287 ms / 3.1 GiB; "
           "torch.compile 136 ms / 1.2 GiB")
LABELS = {"eager-fp32": "PyTorch eager fp32", "eager-bf16": "PyTorch eager bf16 autocast",
          "compile-fp32": "torch.compile fp32", "compile-bf16": "torch.compile bf16 autocast"}


def floor_ms(tokens):
    return tokens * FLOP_PER_TOKEN / TENSOR_FLOPS * 1e3


def load(path):
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


def engine_rows(bench, device):
    """{(kind, (w, h)): {"ms", "mib", "status"}} from `nalasr bench` JSON (points of `device` only)."""
    rows = {}
    for p in (bench or {}).get("points", []):
        if p["device"] != device:
            continue
        cell = {"status": "ok" if p["status"] == "measured" else p["status"], "message": p.get("message")}
        if p["status"] == "measured":
            cell.update(ms=p["network_seconds"] * 1e3, mib=p["observed_peak_bytes"] / MIB,
                        planned_mib=p["planned_peak_bytes"] / MIB, with_transfers_ms=p["median_seconds"] * 1e3)
        rows[(p["attention"], (p["width"], p["height"]))] = cell
    return rows


def torch_rows(results):
    """{(kind, variant, (w, h)): cell} from bench_infer.py JSON."""
    rows = {}
    for r in (results or {}).get("results", []):
        cell = {"status": r["status"], "message": r.get("message")}
        cell["scope"] = r.get("scope")
        if r["status"] == "ok":
            cell.update(ms=r["ms"], first_call_s=r["first_call_s"])
            if "peak_delta_bytes" in r:
                cell.update(mib=r["peak_delta_bytes"] / MIB, abs_mib=r["peak_abs_bytes"] / MIB)
        rows[(r["attention"], r["variant"], (r["width"], r["height"]))] = cell
    return rows


def cells(cell, engine_ms, tokens, is_engine):
    """-> (the four cells of one size: ms, peak MiB, engine speed-up, × floor; the same figures as a dict)."""
    if cell is None:
        return ["—", "", "", ""], {"status": "not run"}
    if cell["status"] != "ok":
        return [cell["status"], "", "", ""], {"status": cell["status"], "message": cell.get("message")}
    ms = cell["ms"]
    figures = {"status": "ok", "ms": ms, "peak_mib": cell.get("mib"), "x_floor": ms / floor_ms(tokens)}
    if is_engine:
        mib = f"{cell['mib']:.0f}"
        figures["planned_mib"] = cell["planned_mib"]
    else:
        mib = f"{cell['mib']:.0f} ({cell['abs_mib']:.0f})" if "mib" in cell else "n/a"
        figures["abs_peak_mib"] = cell.get("abs_mib")
        figures["engine_speedup"] = ms / engine_ms if engine_ms else None
    speedup = "—" if is_engine or not engine_ms else f"{ms / engine_ms:.1f}×"
    return [f"{ms:.2f}", mib, speedup, f"{ms / floor_ms(tokens):.0f}"], figures


def kind_table(kind, sizes, eng, tor, variants, compile_mode, engine_device, summary):
    """Markdown lines of one attention kind's table; appends its figures to `summary`."""
    head = ["implementation"]
    for w, h in sizes:
        head += [f"{w}×{h} ms", "peak MiB", "engine speed-up", "× floor"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    engine_ms = {s: (eng.get((kind, s)) or {}).get("ms") for s in sizes}
    rows = [(f"engine ({engine_device})", {s: eng.get((kind, s)) for s in sizes}, True)]
    for v in variants:
        if not any((kind, v, s) in tor for s in sizes):
            continue
        base, _, formulation = v.partition("+")
        label = LABELS.get(base, base) + (f", {formulation} attention" if formulation else "")
        if v.startswith("compile"):
            scopes = {tor[(kind, v, s)].get("scope") for s in sizes if (kind, v, s) in tor}
            scope = " / ".join({"model": "whole model", "blocks": "per block"}.get(x, str(x)) for x in sorted(scopes))
            label += f" (mode {compile_mode}, {scope})"
        rows.append((label, {s: tor.get((kind, v, s)) for s in sizes}, False))
    for label, by_size, is_engine in rows:
        row = [label]
        for s in sizes:
            text, figures = cells(by_size[s], engine_ms[s], s[0] * s[1], is_engine)
            row += text
            summary.append({"attention": kind, "implementation": label, "width": s[0], "height": s[1], **figures})
        lines.append("| " + " | ".join(row) + " |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", required=True, help="`nalasr bench --out DIR` JSON (DIR/bench.json)")
    ap.add_argument("--torch", required=True, help="bench_infer.py --json output")
    ap.add_argument("--gpu", default="", help="nvidia-smi --query-gpu=name,driver_version,... csv,noheader output")
    ap.add_argument("--engine-device", default="cuda", help="cpu for a local smoke test")
    ap.add_argument("--date", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    bench, results = load(args.engine), load(args.torch)
    eng, tor = engine_rows(bench, args.engine_device), torch_rows(results)
    env = (results or {}).get("env", {})
    sizes, kinds, variants, summary = [], [], [], []
    for key in list(tor) + [(k, None, s) for k, s in eng]:
        kind, variant, size = key
        for lst, item in ((sizes, size), (kinds, kind), (variants, variant)):
            if item is not None and item not in lst:
                lst.append(item)
    sizes.sort(key=lambda s: s[0] * s[1])

    gpu = open(args.gpu).read().strip() if args.gpu and os.path.exists(args.gpu) else env.get("gpu", "?")
    out = [f"GPU: {gpu}; torch {env.get('torch', '?')} (CUDA {env.get('cuda', '?')}, cuDNN {env.get('cudnn', '?')}); "
           f"engine {(bench or {}).get('nalasr_version', '?')}; date {args.date or env.get('created', '?')}",
           f"PyTorch twin: attention formulation `{env.get('formulation')}`, depthwise `{env.get('depthwise')}` "
           f"({env.get('depthwise_auto') if env.get('depthwise') == 'auto' else 'all variants'}), inference_mode, "
           f"cudnn.benchmark, TF32 flags at PyTorch's defaults ({env.get('tf32')}); median of "
           f"{env.get('repeats')} after {env.get('warmup')} warm-up; engine: median of its `nalasr bench` runs.",
           "Peak: engine = device memory observed; PyTorch = max_memory_allocated over weights+input (absolute "
           "peak in parentheses). engine speed-up = PyTorch ms / engine ms. × floor = ms / roofline floor "
           f"({floor_ms(518400):.2f} ms at 960×540, {floor_ms(70225):.2f} ms at 265×265; docs/cuda_notes.md).", ""]
    for kind in kinds:
        weights = "model file" if kind == "nala" else "random weights for the tensors the NaLa file lacks"
        out += [f"**{kind}** ×4 ({weights})", ""]
        out += kind_table(kind, sizes, eng, tor, variants, env.get('compile_mode'), args.engine_device, summary)
        compiled = [(s, tor[(kind, v, s)]) for v in variants if v.startswith("compile") for s in sizes
                    if tor.get((kind, v, s), {}).get("status") == "ok"]
        if compiled:
            out.append("")
            out.append("compile time (first call, compile + one forward): " +
                       ", ".join(f"{w}×{h} {c['first_call_s']:.0f} s" for (w, h), c in compiled))
        out.append("")

    targets = []
    for size, (ms_max, mib_max) in TARGETS.items():
        c = eng.get(("nala", size))
        if c and c["status"] == "ok":
            verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
            targets.append(f"{size[0]}×{size[1]} {c['ms']:.2f} ms (≤ {ms_max:g}: {verdict(c['ms'] <= ms_max)}), "
                           f"{c['mib']:.0f} MiB (≤ {mib_max:g}: {verdict(c['mib'] <= mib_max)})")
    if targets:
        out.append("Engine targets (NaLa): " + "; ".join(targets))
    for c in (results or {}).get("checks", []):
        if c["status"] == "ok":
            verdict = "PASS" if c["psnr_db"] >= 50 else "FAIL"
            bf16 = c.get("twin_bf16_vs_fp32_psnr_db")
            out.append(f"Correctness ({c['image']}, {c['lr_size'][0]}×{c['lr_size'][1]} → "
                       f"{c['sr_size'][0]}×{c['sr_size'][1]}): engine vs PyTorch fp32, 8-bit RGB PSNR "
                       f"{c['psnr_db']:.2f} dB (≥ 50: {verdict}), max |diff| {c['max_abs_diff']}"
                       + ("" if bf16 is None else f"; PyTorch bf16 vs fp32: {bf16:.2f} dB"))
        else:
            out.append(f"Correctness ({c['image']}): {c['status']}: {c.get('message')}")
    out.append(ANCHORS)
    text = "\n".join(out) + "\n"
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "table.md"), "w") as f:
            f.write(text)
        with open(os.path.join(args.out, "compare.json"), "w") as f:
            json.dump({"gpu": gpu, "date": args.date, "table": summary, "engine": bench, "torch": results}, f, indent=1)


if __name__ == "__main__":
    main()
