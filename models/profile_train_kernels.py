"""Runs each CUDA training kernel (depthwise convs, NaLa attention stages) a few times at the training size
(batch 32 x 64^2 tokens, C 64, 4 heads, bf16), outside any graph, so that Nsight Compute can profile them one by one:

  ncu --set full --import-source no -k "regex:nala_|fwd_kernel|bwd_kernel" --launch-skip 10 --launch-count 10 \\
      python3 models/profile_train_kernels.py

Ten matching launches a round (3 depthwise forwards and backwards, 4 attention stages): the skip passes the
first (warm-up) round. The shapes are those of one block of the network (docs/model.md).
"""
import torch

import check_cuda_attention as cca
import check_fused_attention as cfa
import cuda_attention as ca
from cuda_dwconv import dwconv_cuda

ROUNDS = 3
DWCONV_SHAPES = ((64, 3), (128, 3), (64, 5))  # (channels, kernel): cpe / FFN convs and lepe


def dwconv_round(gen):
    for c, k in DWCONV_SHAPES:
        x = torch.randn(32, 64, 64, c, device="cuda", generator=gen).bfloat16().requires_grad_()
        w = torch.randn(c, 1, k, k, device="cuda", generator=gen).div_(k).requires_grad_()
        b = torch.randn(c, device="cuda", generator=gen).requires_grad_()
        dwconv_cuda(x, w, b, residual=True).float().square().mean().backward()


def main():
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v, go = cca.training_inputs()
    for _ in range(ROUNDS):
        dwconv_round(gen)
        cfa.nala_stage_calls(ca.STAGES, q, k, v, go, cca.SIZE["heads"], cca.SIZE["hw"])
    torch.cuda.synchronize()
    print("done:", ROUNDS, "rounds")


if __name__ == "__main__":
    main()
