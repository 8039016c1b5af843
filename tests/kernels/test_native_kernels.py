"""The trainer's native kernels on NumPy arrays against plain-Python references, without torch, so that the
sanitizer job (.ci/sanitize, which has no torch) runs them under AddressSanitizer and UBSan too."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from collections import deque
from types import ModuleType

import numpy as np
import pytest


def _load_kernels() -> ModuleType:
    """trainer._kernels loaded on its own (the trainer package's __init__ imports torch)."""
    package = importlib.util.find_spec("trainer")
    assert package is not None and package.submodule_search_locations, "the trainer package is not installed"
    spec = importlib.machinery.PathFinder.find_spec("_kernels", list(package.submodule_search_locations))
    assert spec is not None and spec.loader is not None, "trainer._kernels was not built"
    spec.name = "trainer._kernels"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kernels = _load_kernels()
FAR = 1 << 14


def _bfs_reference(goal: np.ndarray, free: np.ndarray, probes: list[tuple[int, int]]) -> np.ndarray:
    """Per grid, cell by cell: distances from the cells of `goal` that are free, through free cells (queues)."""
    k, h, w = goal.shape
    levels = np.full((k, len(probes)), FAR, dtype=np.int32)
    for g in range(k):
        dist = np.full((h, w), FAR)
        queue = deque()
        for r, c in zip(*np.nonzero(goal[g] & free[g])):
            dist[r, c] = 0
            queue.append((r, c))
        while queue:
            r, c = queue.popleft()
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w and free[g, rr, cc] and dist[rr, cc] == FAR:
                    dist[rr, cc] = dist[r, c] + 1
                    queue.append((rr, cc))
        levels[g] = [dist[r, c] for r, c in probes]
    return levels


def _bits(grid: np.ndarray) -> np.ndarray:
    return (grid * (1 << np.arange(grid.shape[2], dtype=np.uint32))).sum(axis=2, dtype=np.uint32)


def test_bfs_levels_are_breadth_first_distances() -> None:
    rng = np.random.default_rng(0)
    probes = [(6, 6), (5, 6), (7, 6), (6, 5), (6, 7), (0, 0), (12, 12)]
    rows, cols = np.array([p[0] for p in probes]), np.array([p[1] for p in probes])
    for _ in range(40):
        k = int(rng.integers(1, 12))
        free = rng.random((k, 13, 13)) < rng.uniform(0.3, 0.95)
        goal = rng.random((k, 13, 13)) < rng.uniform(0.0, 0.08)
        levels = np.zeros((k, len(probes)), dtype=np.int32)
        kernels.bfs_levels(_bits(goal), _bits(free), rows, cols, FAR, levels)
        expected = _bfs_reference(goal, free, probes)
        # The search stops once every grid's probe 0 is reached: the other probes are exact up to that level.
        done = expected[:, 0].max() if (expected[:, 0] < FAR).all() else FAR
        exact = expected <= done
        assert np.array_equal(levels[:, 0], expected[:, 0])
        assert np.array_equal(levels[exact], expected[exact]) and (levels[~exact] == FAR).all()


def test_bfs_levels_refuses_bad_input() -> None:
    goal = np.zeros((2, 13), dtype=np.uint32)
    with pytest.raises(IndexError, match="outside"):
        kernels.bfs_levels(goal, goal, np.array([13]), np.array([0]), FAR, np.zeros((2, 1), np.int32))
    with pytest.raises(ValueError, match="levels has shape"):
        kernels.bfs_levels(goal, goal, np.array([1]), np.array([0]), FAR, np.zeros((3, 1), np.int32))
    with pytest.raises(TypeError):  # int64 grids: no silent conversion
        kernels.bfs_levels(goal.astype(np.int64), goal, np.array([1]), np.array([0]), FAR, np.zeros((2, 1), np.int32))


def test_token_table_grad_accumulates_weighted_rows() -> None:
    rng = np.random.default_rng(1)
    rows, tokens, hidden, table_rows = 50, 9, 7, 30
    index = rng.integers(0, table_rows, (rows, tokens))
    weight = np.where(rng.random((rows, tokens)) < 0.3, 0.0, rng.normal(size=(rows, tokens))).astype(np.float32)
    index[weight == 0] = 10_000  # padding (weight 0) may hold any index
    grad_out = rng.normal(size=(rows, hidden)).astype(np.float32)
    table = np.ones((table_rows, hidden), dtype=np.float32)
    kernels.token_table_grad(index, weight, grad_out, table)
    expected = np.ones((table_rows, hidden))
    for n in range(rows):
        for k in range(tokens):
            if weight[n, k] != 0:
                expected[index[n, k]] += weight[n, k] * grad_out[n]
    assert np.allclose(table, expected, atol=1e-5)
    with pytest.raises(IndexError, match="outside the table's 30 rows"):
        kernels.token_table_grad(np.full((rows, tokens), 30), np.ones((rows, tokens), np.float32), grad_out, table)


def test_advantage_cpu_matches_the_recursion() -> None:
    rng = np.random.default_rng(2)
    shape = (9, 17)  # rows not a multiple of the kernel's interleave
    values, rewards = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
    dones = (rng.random(shape) < 0.1).astype(np.float32)
    importance = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    out = np.zeros(shape, dtype=np.float32)
    gamma, lam, rho_clip, c_clip = 0.99, 0.95, 1.0, 1.0
    kernels.advantage_cpu(values, rewards, dones, importance, out, gamma, lam, rho_clip, c_clip)
    expected = np.zeros(shape)
    for t in range(shape[1] - 2, -1, -1):
        rho, c = np.minimum(importance[:, t], rho_clip), np.minimum(importance[:, t], c_clip)
        nonterminal = 1.0 - dones[:, t + 1]
        delta = rho * (rewards[:, t + 1] + gamma * values[:, t + 1] * nonterminal - values[:, t])
        expected[:, t] = delta + gamma * lam * c * nonterminal * expected[:, t + 1]
    assert np.allclose(out, expected, atol=1e-5)
