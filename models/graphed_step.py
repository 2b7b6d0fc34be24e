"""A whole training step (forward, backward, gradient clip, AdamW) captured once in a CUDA graph.

Why: with regional compilation the step issues ~1,000 small kernels and the GPU waits on the host (on an H100,
~47 ms of kernels in an ~80 ms step). Replaying a graph launches them all at once. Follows PyTorch's
whole-network capture recipe: warm-up steps on a side stream (compilation, cuDNN autotuning, optimiser
state), capture with static input tensors, then per step copy the batch in and replay. The optimiser must be
capturable with a tensor learning rate (see train.make_optimizer); autocast runs with its cache disabled.
"""
import torch

WARMUP_STEPS = 3


class GraphedStep:
    def __init__(self, step_fn, model, opt, lr_img, hr_img, clip):
        """Runs WARMUP_STEPS real optimisation steps on (lr_img, hr_img), then captures one."""
        self.lr_img, self.hr_img = lr_img.clone(), hr_img.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                step_fn(model, opt, self.lr_img, self.hr_img, clip)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)  # gradients are then allocated inside the graph's memory pool
        with torch.cuda.graph(self.graph):
            self.loss = step_fn(model, opt, self.lr_img, self.hr_img, clip)

    def __call__(self, lr_img, hr_img):
        """One optimisation step on the batch; returns its loss (a device tensor)."""
        self.lr_img.copy_(lr_img)
        self.hr_img.copy_(hr_img)
        self.graph.replay()
        return self.loss.clone()  # the captured tensor is overwritten by the next replay
