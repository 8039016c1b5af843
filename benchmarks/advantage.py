"""Benchmark of the advantage kernels: C++ (and CUDA when available) vs the PyTorch reference.

Run: python benchmarks/advantage.py [--segments 1024] [--horizon 64] [--repeats 200]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from trainer.advantage import compute_advantage, cpp_kernel_available, cuda_kernel_available

__all__ = ["benchmark", "main", "make_batch"]

GAMMA, GAE_LAMBDA, RHO_CLIP, C_CLIP = 0.99, 0.95, 1.0, 1.0


def make_batch(segments: int, horizon: int, device: str = "cpu", seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random (values, rewards, dones, importance) float32 tensors of shape (segments, horizon)."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(segments, horizon, generator=gen)
    rewards = torch.randn(segments, horizon, generator=gen)
    dones = (torch.rand(segments, horizon, generator=gen) < 0.02).float()
    importance = torch.exp(0.2 * torch.randn(segments, horizon, generator=gen))
    return tuple(t.to(device) for t in (values, rewards, dones, importance))


def _time(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    """Median seconds per call of fn over `repeats` calls after a warm-up."""
    for _ in range(5):
        fn()
    sync()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2]


def benchmark(segments: int = 1024, horizon: int = 64, repeats: int = 200) -> dict[str, float]:
    """Median seconds per call of each available backend on a (segments, horizon) batch; prints a summary."""
    results: dict[str, float] = {}
    devices = ["cpu"] + (["cuda"] if cuda_kernel_available() else [])
    for device in devices:
        batch = make_batch(segments, horizon, device)
        out = torch.empty_like(batch[0])
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        native = "cpp" if device == "cpu" else "cuda"
        backends = ([native] if device == "cuda" or cpp_kernel_available() else []) + ["torch"]
        for backend in backends:
            call = lambda b=backend: compute_advantage(  # noqa: E731
                *batch, GAMMA, GAE_LAMBDA, RHO_CLIP, C_CLIP, advantages=out, backend=b
            )
            results[f"{backend}@{device}"] = _time(call, repeats, sync)
    print(f"advantage ({segments}, {horizon}), torch threads={torch.get_num_threads()}, median of {repeats}:")
    for name, seconds in results.items():
        print(f"  {name:12s} {seconds * 1e6:10.1f} us")
    for device, native in (("cpu", "cpp"), ("cuda", "cuda")):
        if f"{native}@{device}" in results:
            ratio = results[f"torch@{device}"] / results[f"{native}@{device}"]
            print(f"  {native} kernel is {ratio:.1f}x faster than the torch reference on {device}")
    return results


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1024)
    parser.add_argument("--horizon", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    benchmark(args.segments, args.horizon, args.repeats)


if __name__ == "__main__":
    main()
