"""An exponential moving average of the model's parameters (EMA), updated inside the training step.

At the end of a chunk the cosine rate is small but the weights still jitter from batch to batch; their average
over the last ~1/(1 - decay) steps is usually a little better than the last weights. The average is a float32
copy of every parameter, updated with one foreach kernel after each optimiser step, so it can live inside the
step's CUDA graph; `swapped()` puts it into the model (in place: the graph's parameter addresses stay valid) for
evaluation and export.
"""
import contextlib

import torch


def _lerp_all(dst, src, weight):
    if hasattr(torch, "_foreach_lerp_"):
        torch._foreach_lerp_(dst, src, weight)
    else:  # torch < 2.0 (this machine's CPU torch 1.13)
        for d, s in zip(dst, src):
            d.lerp_(s, weight)


def _copy_all(dst, src):
    if hasattr(torch, "_foreach_copy_"):
        torch._foreach_copy_(dst, src)
    else:
        for d, s in zip(dst, src):
            d.copy_(s)


class WeightAverage:
    def __init__(self, model, decay):
        self.params = list(model.parameters())
        self.avg = [p.detach().clone() for p in self.params]
        self.decay = decay

    def update(self):
        _lerp_all(self.avg, [p.detach() for p in self.params], 1.0 - self.decay)

    @contextlib.contextmanager
    def swapped(self):
        """The averaged weights in the model for the duration of the block, then the trained ones again."""
        with torch.no_grad():
            trained = [p.detach().clone() for p in self.params]
            _copy_all(self.params, self.avg)
            try:
                yield
            finally:
                _copy_all(self.params, trained)

    def state_dict(self):
        return {"decay": self.decay, "avg": self.avg}

    def load_state_dict(self, state):
        with torch.no_grad():
            _copy_all(self.avg, state["avg"])
