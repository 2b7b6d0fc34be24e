"""Timing on the GPU with CUDA events, shared by the benchmark and check scripts."""
import statistics

import torch


def cuda_event_times_ms(fn, repeats):
    """Each of `repeats` calls of fn() in ms, timed by CUDA events around it on the current stream."""
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def cuda_time_ms(fn, repeats):
    """Median of `repeats` CUDA-event timings of fn()."""
    return statistics.median(cuda_event_times_ms(fn, repeats))
