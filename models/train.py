"""Resumable training of NalaSR in wall-clock chunks (one device call = one chunk).

The learning-rate schedule (linear warm-up, cosine to --min-lr) spans --total-steps over all chunks, so a resumed
chunk continues it. Each chunk ends by writing to --out: checkpoint.pt (model, optimiser, step, RNG states,
history), the current weights as nalasr_<kind>_x<scale>.safetensors, and train_log.jsonl (one line per chunk:
steps, loss, speed, Set5/Set14 Y-PSNR/SSIM). A checkpoint is also written every --save-every minutes.

Hyper-parameters come from the command line: pass the same ones when resuming (the checkpoint keeps the
planned total steps and the schedule's re-plan anchor).

Example (first chunk, then a resumed one):
  python3 models/train.py --train .traindata/train --bench .traindata/benchmarks --minutes 8 --out $OUT
  python3 models/train.py ... --resume CHECKPOINT.pt --minutes 8 --out $OUT
"""
import argparse
import contextlib
import dataclasses
import datetime
import functools
import importlib
import json
import math
import os
import time

import torch
import torch.nn.functional as F

from data import PairBank
from eval import BT601, evaluate
from export import read_safetensors, save_model
from graphed_step import WARMUP_STEPS, GraphedStep
from nalasr_model import ModelConfig, NalaSR, parameter_count
from weight_average import WeightAverage


# The options that shape the training pairs, recorded in each chunk's log under their own names.
DATA_OPTIONS = ("scale_aug", "phase_aug", "rgb_perm", "mixup", "mixup_beta", "invert", "channel_mix", "rotate_aug",
                "rotate_max_factor")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", default="nala", choices=("nala", "pola", "softmax"))
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--scale-aug", default="", type=lambda v: tuple(float(f) for f in v.split(",") if f),
                    help="comma list of factors < 1: each training image also downscaled by them (e.g. 0.8,0.6)")
    ap.add_argument("--rotate-aug", default="", metavar="ANGLES",
                    type=lambda v: tuple(float(a) for a in v.split(",") if a),
                    help="comma list of angles in degrees, -45..45 (e.g. 15,30,45; 0 adds nothing): the versions of "
                         "the --scale-aug factors <= --rotate-max-factor are also made from each image rotated by "
                         "them (counter-clockwise, bicubic, cropped to the largest rectangle of image pixels)")
    ap.add_argument("--rotate-max-factor", type=float, default=0.8, metavar="MAXF",
                    help="--rotate-aug rotates only the versions downscaled by factors <= MAXF, so that the downscale "
                         "removes the rotation's softening near the original Nyquist frequency (1: the full-size "
                         "image too)")
    ap.add_argument("--phase-aug", type=int, default=1, metavar="K",
                    help="LR of every image version also made at K x K sampling phases (HR shifted by scale/K px)")
    ap.add_argument("--rgb-perm", action="store_true",
                    help="each crop with a random order of its colour channels (the same for LR and HR)")
    ap.add_argument("--mixup", type=float, default=0.0, metavar="P",
                    help="with probability P each crop pair becomes a * itself + (1 - a) * another pair of the batch "
                         "(LR and HR alike), a ~ Beta(--mixup-beta, --mixup-beta); 0: off")
    ap.add_argument("--mixup-beta", type=float, default=0.2,
                    help="both parameters of mixup's Beta distribution (0.2: a mostly near 0 or 1)")
    ap.add_argument("--channel-mix", type=float, default=0.0, metavar="P",
                    help="with probability P a crop's colours become a * themselves + (1 - a) * the same in another "
                         "channel order, a ~ U(0, 1) (LR and HR alike); 0: off")
    ap.add_argument("--invert", type=float, default=0.0, metavar="P",
                    help="with probability P each crop pair becomes its negative (1 - LR, 1 - HR), before mixup; 0: off")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="decay of an exponential moving average of the weights (e.g. 0.999), evaluated and "
                         "exported instead of the last weights; 0: off")
    ap.add_argument("--ffn-ratio", type=int, default=ModelConfig.ffn_ratio,
                    help="FFN hidden width / channels of a new model, or of one grown from --init-from's smaller one")
    ap.add_argument("--blocks", type=int, default=ModelConfig.blocks, help="blocks per residual group (new model or grown)")
    ap.add_argument("--minutes", type=float, required=True, help="wall-clock budget of the training loop")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--patch", type=int, default=64, help="LR patch size")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--warmup", type=int, default=500, help="warm-up steps")
    ap.add_argument("--total-steps", type=int, default=None,
                    help="planned steps over all chunks (default: the checkpoint's, else 40000)")
    ap.add_argument("--plan-minutes", type=float, default=None,
                    help="re-plan --total-steps so that the schedule ends this many loop minutes after the start "
                         "of this chunk's loop (this chunk and later ones), from the speed of its first 300 steps")
    ap.add_argument("--restart-lr", type=float, default=None,
                    help="when resuming a finished schedule: restart the cosine at this rate, from the resumed "
                         "step to --total-steps (or to the end found by --plan-minutes)")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (0: off)")
    ap.add_argument("--train", default=".traindata/train")
    ap.add_argument("--bench", default=".traindata/benchmarks")
    ap.add_argument("--eval-sets", default="Set5,Set14", type=lambda v: tuple(v.split(",")),
                    help="benchmark sets evaluated after the chunk (under --bench/<set>/x<scale>)")
    ap.add_argument("--eval-every", type=float, default=0,
                    help="minutes between Set5 evaluations during the chunk (the PSNR-vs-minutes curve; 0: off)")
    ap.add_argument("--resume", default="")
    ap.add_argument("--init-from", default="",
                    help="fresh run (new schedule, step 0) starting from the weights of a model file whose "
                         "tensors match by name and shape, e.g. the x4 model for a x2/x3 or Pola fine-tune")
    ap.add_argument("--out", default=os.environ.get("OUT", "out"))
    ap.add_argument("--save-every", type=float, default=3.0, help="minutes between safety checkpoints")
    ap.add_argument("--compile", default="regional", choices=("off", "regional"))
    ap.add_argument("--compile-mode", default="default")
    ap.add_argument("--depthwise", default="cuda", choices=("cudnn", "shift", "triton", "cuda"),
                    help="depthwise convs: cudnn, shift (shifted sums, compiled), triton (kernels of "
                         "triton_dwconv.py) or cuda (kernels of cuda_dwconv.py); triton and cuda are used only "
                         "if their self-check passes on this machine, else shift")
    ap.add_argument("--attention-impl", default="cuda", choices=("fast", "triton", "cuda"),
                    help="attention core: fast (PyTorch), triton (fused kernels of triton_attention.py) or cuda (NaLa "
                         "on the CUDA kernels of cuda_attention.py, Pola on Triton's); triton / cuda are used only if "
                         "their self-check passes on this machine, else fast")
    ap.add_argument("--attention-branch", default="cuda", choices=("inductor", "cuda"),
                    help="NaLa's branch between the qkvg and proj GEMMs: inductor (compiled LayerNorm / SiLU gate "
                         "around the attention op) or cuda (cuda_branch.py: the gate in CUDA, d(qkvg) written in "
                         "place; NaLa with --attention-impl cuda only, after its self-check passes, else inductor)")
    ap.add_argument("--cuda-graph", default="on", choices=("on", "off"),
                    help="capture the whole step in a CUDA graph (see graphed_step.py)")
    ap.add_argument("--loss", default="l1", choices=sorted(LOSSES),
                    help="l1, l2 (MSE: the metric PSNR measures; for a low-rate fine-tune after L1), or l1-ycbcr "
                         "(L1 in YCbCr, chroma at half weight)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda", help="cuda, or cpu for a smoke test")
    args = ap.parse_args(argv)
    if args.mixup and args.batch < 2:
        ap.error("--mixup needs --batch 2 or more (a crop is mixed with another crop of its batch)")
    if not all(math.isfinite(a) and -45 <= a <= 45 for a in args.rotate_aug):
        ap.error("--rotate-aug angles must lie in -45..45 degrees (an angle and the angle +- 90 give the same crops "
                 "up to the 8 flips/90-degree rotations)")
    args.rotate_aug = angles = tuple(a for a in args.rotate_aug if a != 0)  # 0 adds nothing
    if len({a % 90 for a in angles}) < len(angles):
        ap.error("--rotate-aug: an angle given twice (modulo 90 degrees: -45 and 45 are the same)")
    if not 0 < args.rotate_max_factor <= 1:
        ap.error("--rotate-max-factor must lie in (0, 1]")
    if angles and not any(f <= args.rotate_max_factor for f in (1.0, *args.scale_aug)):
        ap.error("--rotate-aug rotates only the versions of the --scale-aug factors <= --rotate-max-factor: none is")
    return args


def learning_rate(step, args):
    """Linear warm-up, then cosine from --lr to --min-lr at total_steps. After a re-plan (--plan-minutes) the
    cosine restarts from the rate it had reached (anchor_step, anchor_lr), so the rate never jumps."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    start, top = (args.anchor_step, args.anchor_lr) if args.anchor_step is not None else (args.warmup, args.lr)
    t = min(1.0, max(0, step - start) / max(1, args.total_steps - start))
    return args.min_lr + 0.5 * (top - args.min_lr) * (1 + math.cos(math.pi * t))


def replan(step, new_total, args):
    """Moves the end of the schedule to new_total, continuing from the current learning rate. During the warm-up
    the cosine still starts from the top rate when the warm-up ends (anchoring it at the warm-up's rate capped a
    fresh run at 6.1e-4 instead of 1e-3: session 3's 9-minute run)."""
    if step >= args.warmup:
        args.anchor_lr, args.anchor_step = learning_rate(step, args), step
    args.total_steps = new_total


def build_model(cfg, device, depthwise="shift"):
    model = NalaSR(cfg).to(device)
    model.set_depthwise(depthwise)
    return model.to(memory_format=torch.channels_last)  # 4-D conv weights in the layout of the activations


def use_attention_impl(model, impl, device):
    """Switches the attention core to `impl` (triton; cuda = NaLa on cuda_attention's kernels, Pola on Triton's)
    only after its self-check passes here (else fast)."""
    if impl == "fast" or model.cfg.attention == "softmax":
        return "fast"
    if impl == "cuda" and model.cfg.attention == "nala":
        import cuda_attention
        ok, message = (cuda_attention.self_check(device) if model.cfg.head_dim in cuda_attention.HEAD_DIMS else
                       (False, f"head width {model.cfg.head_dim} not in {cuda_attention.HEAD_DIMS}"))
    else:
        import triton_attention
        ok, message = triton_attention.self_check(device, model.cfg.attention)
    print(f"attention impl {impl}: self-check {'passed' if ok else 'FAILED, keeping fast'} ({message})")
    if ok:
        model.set_formulation(impl)
    return impl if ok else "fast"


def use_attention_branch(model, impl, device):
    """Switches NaLa's branch to cuda_branch.py's op after its self-check passes here (else inductor); only with
    the "cuda" attention formulation (Pola and softmax have no such branch and keep inductor)."""
    if impl != "cuda" or model.cfg.attention != "nala":
        return "inductor"
    if any(m.formulation != "cuda" for m in model.attention_modules()):
        print("attention branch cuda: needs NaLa with --attention-impl cuda, keeping inductor")
        return "inductor"
    import cuda_branch
    ok, message = cuda_branch.self_check(device)
    print(f"attention branch cuda: self-check {'passed' if ok else 'FAILED, keeping inductor'} ({message})")
    if ok:
        model.set_attention_branch("cuda")
    return "cuda" if ok else "inductor"


def use_depthwise(model, impl, device):
    """Switches the depthwise convs to `impl`; for triton / cuda only after the kernels' self-check passes here
    (else shift)."""
    if impl not in ("triton", "cuda"):
        model.set_depthwise(impl)
        return impl
    try:
        ok, message = importlib.import_module(f"{impl}_dwconv").self_check(device)
    except Exception as exc:  # noqa: BLE001 -- e.g. no Triton on this machine
        ok, message = False, f"{type(exc).__name__}: {exc}"
    print(f"depthwise {impl}: self-check {'passed' if ok else 'FAILED, keeping shift'} ({message})")
    model.set_depthwise(impl if ok else "shift")
    return impl if ok else "shift"


def compile_blocks(model, mode):
    """Regional compilation: every block shares one compiled graph (same code, parameters as inputs)."""
    for block in model.blocks():
        block.compile(dynamic=False, mode=mode)


def graphed(args):
    return args.device == "cuda" and args.cuda_graph == "on"


def make_optimizer(model, args):
    """Fused AdamW; for CUDA-graph capture it is capturable with the learning rate in a device tensor."""
    fused = {"fused": True} if args.device == "cuda" else {}  # (torch 1.13, this machine's CPU torch, has no `fused`)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=args.weight_decay, **fused)
    fit_optimizer(opt, args)
    return opt


def fit_optimizer(opt, args):
    """(Re)applies the capture settings, also after load_state_dict, which restores the saved ones."""
    for group in opt.param_groups:
        group["capturable"] = graphed(args)
        lr = float(group["lr"])
        group["lr"] = torch.tensor(lr, device=args.device) if graphed(args) else lr


def set_learning_rate(opt, value):
    for group in opt.param_groups:
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(value)  # in place: the captured graph reads this tensor
        else:
            group["lr"] = value


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


# BT.601 RGB -> YCbCr rows for [0, 1] values (the Y row is eval.py's, what PSNR is measured on), without the
# offsets; weights.
_YCBCR = (BT601, (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214))
_YCBCR_WEIGHTS = (1.0, 0.5, 0.5)


def l1_ycbcr(out, hr):
    """L1 of the error in YCbCr, chroma at half weight: PSNR is measured on Y alone, so the network's
    capacity is steered toward luma detail, while chroma stays trained. Images are channel-last. Python
    scalars only, so the loss can be captured in a CUDA graph."""
    d = out - hr
    r, g, b = d[..., 0], d[..., 1], d[..., 2]
    total = 0
    for (cr, cg, cb), w in zip(_YCBCR, _YCBCR_WEIGHTS):
        total = total + (r * (cr / 255) + g * (cg / 255) + b * (cb / 255)).abs().mean() * (w / 3)
    return total


LOSSES = {"l1": F.l1_loss, "l2": F.mse_loss, "l1-ycbcr": l1_ycbcr}


def train_step(model, opt, lr_img, hr_img, clip, loss="l1", average=None):
    """One optimisation step with the `loss` of LOSSES (+ the weight average's update); returns the loss as a
    device tensor (no host sync)."""
    on_gpu = lr_img.device.type == "cuda"  # bf16 autocast on the GPU; the CPU smoke test runs float32
    # No autocast weight cache: its casts must be part of a captured graph, not cached across replays.
    with torch.autocast(lr_img.device.type, dtype=torch.bfloat16, enabled=on_gpu, cache_enabled=False):
        out = model(lr_img)
    loss = LOSSES[loss](out.float(), hr_img)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)  # foreach kernels on CUDA by default
    opt.step()
    if average is not None:
        average.update()
    return loss.detach()


def force_eager():
    """Evaluation runs the compiled blocks eagerly (no recompilation for the benchmark image sizes); torch 1.13,
    this machine's CPU torch for the smoke test, has no torch.compiler and compiles nothing anyway."""
    return torch.compiler.set_stance("force_eager") if hasattr(torch, "compiler") else contextlib.nullcontext()


def rng_state(data_gen):
    state = {"cpu": torch.get_rng_state(), "data": data_gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def save_checkpoint(path, model, opt, step, args, cfg, data_gen, history, average=None):
    tmp = path + ".tmp"
    torch.save({"config": dataclasses.asdict(cfg), "model": model.state_dict(), "optimizer": opt.state_dict(),
                "step": step, "total_steps": args.total_steps, "args": vars(args), "rng": rng_state(data_gen),
                "history": history, "average": average.state_dict() if average else None}, tmp)
    os.replace(tmp, path)


def provenance(args, bank, step, history, results):
    extra = f"; also downscaled by {', '.join(map(str, args.scale_aug))}" if args.scale_aug else ""
    if args.rotate_aug:
        extra += (f"; the versions downscaled by factors <= {args.rotate_max_factor} also made from the image rotated "
                  f"by {', '.join(f'{a:g}' for a in args.rotate_aug)} degrees (bicubic, largest rectangle of image pixels)")
    if args.phase_aug > 1:
        extra += f"; LR at {args.phase_aug}x{args.phase_aug} sampling phases"
    if args.rgb_perm:
        extra += "; colour channels in random order"
    if args.channel_mix:
        extra += f"; with probability {args.channel_mix} a crop's colours blended with another channel order of them"
    if args.invert:
        extra += f"; with probability {args.invert} a crop pair inverted (negative)"
    if args.mixup:
        extra += (f"; mixup: with probability {args.mixup} a crop pair blended with another of its batch, "
                  f"weight ~ Beta({args.mixup_beta}, {args.mixup_beta})")
    if args.ema:
        extra += f"; weights averaged (EMA, decay {args.ema})"
    return {"trained_on": f"{bank.count} images of {args.train} (random {args.patch}px LR crops, flips, rotations; "
                          f"LR by MATLAB-compatible bicubic{extra})",
            "steps": step, "batch": args.batch, "lr_patch": args.patch, "loss": args.loss,
            "initialised_from": history[0].get("init_from", ""),
            "device_minutes": round(sum(h["chunk_minutes"] for h in history), 2),
            "device": history[-1]["device"],
            **{f"{k}_{name.lower()}": v[k] for name, v in results.items() for k in ("psnr", "ssim")},
            "created": datetime.date.today().isoformat(), "source": "models/train.py"}


# The last layer of each residual branch of a block: zeroed where they are new, the branch adds nothing.
_BRANCH_OUTPUTS = ("cpe1.weight", "cpe1.bias", "cpe2.weight", "cpe2.bias", "attn.proj.weight", "attn.proj.bias",
                   "ffn.fc2.weight", "ffn.fc2.bias")


def init_from(path, model):
    """Copies every tensor of a model file that matches one of `model` by name and shape; prints the rest.

    A larger model grows from a smaller one without changing its function: a tensor smaller in some dimension
    (a wider FFN's fc1, dwconv, fc2) is copied into its leading corner, the new columns of fc2 are zeroed, and
    the branch outputs of new blocks (more blocks per group) are zeroed, so the new parts start as no-ops."""
    tensors, _ = read_safetensors(path)
    own = model.state_dict()
    matched = {k: v for k, v in tensors.items() if k in own and own[k].shape == v.shape}
    grown, zeroed = [], []
    for k, v in tensors.items():
        dst = own.get(k)
        if k in matched or dst is None or dst.dim() != v.dim() or any(a < b for a, b in zip(dst.shape, v.shape)):
            continue
        t = dst.clone()
        if k.endswith(_BRANCH_OUTPUTS):
            t.zero_()
        t[tuple(slice(0, n) for n in v.shape)] = v
        matched[k] = t
        grown.append(k)
    for k in own:
        if k not in matched and k.endswith(_BRANCH_OUTPUTS) and ".blocks." in k:
            matched[k] = torch.zeros_like(own[k])
            zeroed.append(k)
    model.load_state_dict(matched, strict=False)
    fresh = [k for k in own if k not in matched]
    print(f"init from {path}: {len(matched) - len(grown) - len(zeroed)} of {len(own)} tensors copied; "
          f"grown: {_tensor_kinds(grown)}; new no-op branches: {len(zeroed)}; fresh: {_tensor_kinds(fresh)}")


def _tensor_kinds(names):
    """The tensors named once per kind (the part after the block index), not once per block."""
    kinds = sorted({k.split(".blocks.")[-1].split(".", 1)[-1] if ".blocks." in k else k for k in names})
    return ", ".join(kinds) or "none"


def resume(ckpt, model, opt, data_gen, args):
    """Restores weights, optimiser, RNGs and the schedule; -> (step, history)."""
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    fit_optimizer(opt, args)
    torch.set_rng_state(ckpt["rng"]["cpu"])
    if "cuda" in ckpt["rng"] and args.device == "cuda":
        torch.cuda.set_rng_state(ckpt["rng"]["cuda"])
    data_gen.set_state(ckpt["rng"]["data"])
    args.anchor_step = ckpt["args"].get("anchor_step")
    args.anchor_lr = ckpt["args"].get("anchor_lr")
    if args.total_steps is None:
        args.total_steps = ckpt["total_steps"]
    elif ckpt["total_steps"] != args.total_steps:
        print(f"note: planned total steps {ckpt['total_steps']} -> {args.total_steps}")
    return ckpt["step"], ckpt["history"]


class Chunk:
    """The training loop of one chunk: runs until its time budget is spent, tracks speed and loss."""

    def __init__(self, model, opt, bank, data_gen, args, save, evaluate_now, average=None):
        self.model, self.opt, self.bank, self.data_gen, self.args, self.save = model, opt, bank, data_gen, args, save
        self.average = average  # WeightAverage or None
        self.evaluate_now = evaluate_now  # -> {set: {"psnr", "ssim", ...}}, for the curve
        self.compile_s, self.losses, self.speed_t, self.speed_step = None, [], None, None
        self.curve = []  # {"step", "minutes" (since the process started), "psnr_<set>"} per --eval-every

    def run(self, step):
        """-> the step reached."""
        args, device = self.args, self.args.device
        loop_start = last_save = last_eval = time.time()
        loss_sum, loss_n, graph = None, 0, None
        while time.time() - loop_start < args.minutes * 60:
            set_learning_rate(self.opt, learning_rate(step, args))
            lr_img, hr_img = self.bank.batch(args.batch, self.data_gen)
            if graphed(args) and graph is None:
                graph = GraphedStep(functools.partial(train_step, loss=args.loss, average=self.average), self.model, self.opt,
                                    lr_img, hr_img, args.clip)
                step += WARMUP_STEPS  # the warm-up steps before capture are real updates
            if graph is not None:
                loss = graph(lr_img, hr_img)
            else:
                loss = train_step(self.model, self.opt, lr_img, hr_img, args.clip, args.loss, self.average)
            loss_sum = loss if loss_sum is None else loss_sum + loss
            loss_n += 1
            step += 1
            if self.compile_s is None:
                synchronize(device)
                self.compile_s = time.time() - loop_start
                stats = dict(torch._dynamo.utils.counters["stats"]) if args.compile != "off" else {}
                print(f"first step (compile + warm-up): {self.compile_s:.1f} s; dynamo stats {stats}")
                self.speed_t, self.speed_step = time.time(), step
            if args.plan_minutes and step == self.speed_step + 300:
                synchronize(device)
                rate = 300 / (time.time() - self.speed_t)
                left_s = args.plan_minutes * 60 - (time.time() - loop_start)
                replan(step, step + int(rate * left_s), args)
                top = args.anchor_lr if args.anchor_lr is not None else args.lr
                print(f"re-planned: {rate:.1f} steps/s -> schedule ends at step {args.total_steps}, "
                      f"cosine from lr {top:.2e}")
            if step % 500 == 0:
                mean_loss = (loss_sum / loss_n).item()  # the only host sync in the loop
                self.losses.append(mean_loss)
                print(f"step {step:6d}  loss {mean_loss:.5f}  lr {learning_rate(step, args):.2e}  "
                      f"{self.steps_per_s(step):.1f} steps/s", flush=True)
                loss_sum, loss_n = None, 0
                if not math.isfinite(mean_loss):
                    raise RuntimeError("loss is not finite")
            if time.time() - last_save > args.save_every * 60:
                self.save(step)
                last_save = time.time()
            if args.eval_every and time.time() - last_eval > args.eval_every * 60:
                self.add_curve_point(step)
                last_eval = time.time()
        synchronize(device)
        return step

    def add_curve_point(self, step):
        results = self.evaluate_now()
        self.model.train()
        point = {"step": step, "minutes": round((time.time() - self.args.start_time) / 60, 2),
                 **{f"psnr_{name}": v["psnr"] for name, v in results.items()}}
        self.curve.append(point)
        print(f"curve: {point}", flush=True)

    def steps_per_s(self, step):
        if self.speed_t is None:
            return 0.0
        return (step - self.speed_step) / max(1e-9, time.time() - self.speed_t)


def main():
    start = time.time()
    args = parse_args()
    args.start_time = start
    device = args.device
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    os.makedirs(args.out, exist_ok=True)

    args.anchor_step = args.anchor_lr = None
    ckpt = torch.load(args.resume, map_location="cpu", weights_only=False) if args.resume else None
    cfg = ModelConfig(**ckpt["config"]) if ckpt else ModelConfig(scale=args.scale, attention=args.kind,
                                                                ffn_ratio=args.ffn_ratio, blocks=args.blocks)
    torch.manual_seed(args.seed)
    bank = PairBank(args.train, cfg.scale, args.patch, device, args.scale_aug, args.phase_aug, args.rgb_perm,
                    args.mixup, args.mixup_beta, args.invert, args.rotate_aug, args.rotate_max_factor,
                    args.channel_mix)
    rotated = (f" ({bank.rotated_count} rotated, {bank.rotated_hr_pixels / 1e6:.1f} MPx)"
               if bank.rotated_count else "")
    print(f"data: {bank.count} images, {bank.hr_pixels / 1e6:.1f} MPx HR{rotated}, "
          f"ready at {time.time() - start:.1f} s")

    model = build_model(cfg, device, "shift")
    use_depthwise(model, args.depthwise, device)
    use_attention_impl(model, args.attention_impl, device)
    use_attention_branch(model, args.attention_branch, device)
    opt = make_optimizer(model, args)
    data_gen = torch.Generator(device=device)
    data_gen.manual_seed(args.seed)
    if args.init_from and ckpt:
        raise SystemExit("--init-from starts a fresh run; it cannot be combined with --resume")
    if args.init_from:
        init_from(args.init_from, model)
    step, history = resume(ckpt, model, opt, data_gen, args) if ckpt else (0, [])
    if args.total_steps is None:
        args.total_steps = 40000
    if args.restart_lr is not None:
        args.anchor_step, args.anchor_lr = step, args.restart_lr
        # The resumed schedule has ended (total_steps <= step): give the restarted cosine room to run until
        # --plan-minutes moves its end, or it would decay to --min-lr at once (chunk 4's mistake).
        args.total_steps = max(args.total_steps, step + 20 * args.warmup)
    average = WeightAverage(model, args.ema) if args.ema else None
    if average and ckpt and ckpt.get("average"):
        average.load_state_dict(ckpt["average"])
    averaged = average.swapped if average else contextlib.nullcontext
    print(f"model: {cfg.attention} x{cfg.scale}, {parameter_count(model)} parameters, resuming at step {step}")
    if args.compile == "regional":
        compile_blocks(model, args.compile_mode)
    model.train()

    ckpt_path = os.path.join(args.out, "checkpoint.pt")

    def save(at_step):
        save_checkpoint(ckpt_path, model, opt, at_step, args, cfg, data_gen, history, average)

    first_step, loop_start = step, time.time()
    def evaluate_set5():
        with force_eager(), averaged():
            return evaluate(model, args.bench, cfg.scale, device, args.eval_sets[:1])

    chunk = Chunk(model, opt, bank, data_gen, args, save, evaluate_set5, average)
    step = chunk.run(step)
    loop_s, steps_per_s = time.time() - loop_start, chunk.steps_per_s(step)

    with force_eager():
        eval_start = time.time()
        # with --ema, the last weights too, for the record of what averaging gained
        last = evaluate(model, args.bench, cfg.scale, device, args.eval_sets) if average else None
        with averaged():
            results = evaluate(model, args.bench, cfg.scale, device, args.eval_sets)
        eval_s = time.time() - eval_start
    history.append({
        "chunk": len(history) + 1, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "steps_start": first_step, "steps_end": step,
        "loop_minutes": round(loop_s / 60, 2), "chunk_minutes": round((time.time() - start) / 60, 2),
        "compile_s": round(chunk.compile_s or 0, 1), "steps_per_s": round(steps_per_s, 2),
        "loss_last": round(chunk.losses[-1], 5) if chunk.losses else None,
        "lr_end": learning_rate(step, args), "init_from": args.init_from, "batch": args.batch, "patch": args.patch,
        **{name: getattr(args, name) for name in DATA_OPTIONS},  # (tuples become JSON lists)
        "ema": args.ema,
        "last_weights_psnr": {name: v["psnr"] for name, v in last.items()} if last else None, "eval_s": round(eval_s, 1), "curve": chunk.curve,
        **{f"{k}_{name}": v[k] for name, v in results.items() for k in ("psnr", "ssim")}})
    save(step)
    weights = os.path.join(args.out, f"nalasr_{cfg.attention}_x{cfg.scale}.safetensors")
    with averaged():
        save_model(weights, model, provenance(args, bank, step, history, results))
    with open(os.path.join(args.out, "train_log.jsonl"), "w") as f:
        for h in history:
            f.write(json.dumps(h) + "\n")
    scores = ", ".join(f"{name} {v['psnr']:.2f} dB / {v['ssim']:.4f}" for name, v in results.items())
    if last:
        scores += " (weight average; last weights: " + ", ".join(f"{n} {v['psnr']:.3f}" for n, v in last.items()) + ")"
    print(f"chunk done: {step - first_step} steps in {loop_s:.0f} s, total {step}; {scores}; "
          f"whole chunk {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
