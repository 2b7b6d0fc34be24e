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


def graph_us(fn, repeats=50):
    """Median µs of fn() replayed from a CUDA graph: the kernels alone, without Python or launch overhead, as in
    train.py's graphed step. fn runs twice eagerly first (compilation, autotuning, allocations)."""
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    us = 1000 * cuda_time_ms(graph.replay, repeats)
    del graph
    return us
