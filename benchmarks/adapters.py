"""Adapter overhead: steps/s of every interface against the native env on the same game, in one run.

    python benchmarks/adapters.py                 # default: 2,000 steps per measurement, best of 3
    python benchmarks/adapters.py --steps 50 --repeats 1 --no-puffer   # a quick smoke run

Each row plays the same game with pre-generated random actions (drawn before the clock starts) and reports
agent-steps per second (one agent acting once = one agent-step; an AEC turn is one agent-step) and the ratio to
the native `MettaGridEnv` stepping the same number of games. Ratios near 1.0 mean the adapter adds little. The
machine (CPU count, platform) and the git commit are printed with the table; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import mettagrid
from mettagrid import MettaGridEnv, MettaGridGymEnv, MettaGridVectorEnv, make_config

__all__ = ["Result", "main", "run_benchmarks"]


@dataclass
class Result:
    """One measurement: an interface on a game, its agent-steps/s and its ratio to the native env."""

    interface: str
    game: str
    games: int
    agent_steps_per_s: float
    ratio: float | None = None


def _best(fn: Callable[[], float], repeats: int) -> float:
    return max(fn() for _ in range(repeats))


def _native(config: object, games: int, steps: int, threads: int = 1) -> Callable[[], float]:
    env = MettaGridEnv(config, num_envs=games, num_threads=threads)
    actions = np.random.default_rng(0).integers(0, env.single_action_space.n, (steps, env.num_agents), dtype=np.int32)

    def run() -> float:
        env.reset(seed=0)
        start = time.perf_counter()
        for t in range(steps):
            env.step(actions[t])
        return steps * env.num_agents / (time.perf_counter() - start)

    return run


def _parallel(config: object, steps: int) -> Callable[[], float]:
    env = mettagrid.parallel_env(config, seed=0)
    rng = np.random.default_rng(0)
    n = env.action_space(env.possible_agents[0]).n
    plan = [dict(zip(env.possible_agents, row.tolist()))
            for row in rng.integers(0, n, (steps, len(env.possible_agents)))]

    def run() -> float:
        env.reset(seed=0)
        start = time.perf_counter()
        for t in range(steps):
            if not env.agents:
                env.reset()
            env.step(plan[t])
        return steps * len(env.possible_agents) / (time.perf_counter() - start)

    return run


def _aec(config: object, steps: int) -> Callable[[], float]:
    env = mettagrid.aec_env(config, seed=0)
    env.reset(seed=0)
    n_agents = len(env.possible_agents)
    actions = np.random.default_rng(0).integers(0, env.action_space(env.possible_agents[0]).n,
                                                steps * n_agents).tolist()

    def run() -> float:
        env.reset(seed=0)
        start = time.perf_counter()
        for turn in range(steps * n_agents):
            if not env.agents:
                env.reset()
            _, _, term, trunc, _ = env.last(observe=False)
            env.step(None if term or trunc else actions[turn])
        return steps * n_agents / (time.perf_counter() - start)

    return run


def _gym(config: object, steps: int) -> Callable[[], float]:
    env = MettaGridGymEnv(config)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, steps).tolist()

    def run() -> float:
        env.reset(seed=0)
        start = time.perf_counter()
        for t in range(steps):
            _, _, term, trunc, _ = env.step(actions[t])
            if term or trunc:
                env.reset()
        return steps / (time.perf_counter() - start)

    return run


def _vector(config: object, games: int, steps: int) -> Callable[[], float]:
    env = MettaGridVectorEnv(config, num_envs=games)
    actions = np.random.default_rng(0).integers(0, env.single_action_space.n, (steps, env.num_envs), dtype=np.int64)

    def run() -> float:
        env.reset(seed=0)
        start = time.perf_counter()
        for t in range(steps):
            env.step(actions[t])
        return steps * env.num_envs / (time.perf_counter() - start)

    return run


def _puffer(config: object, backend: str, workers: int, games_per_env: int, steps: int) -> Callable[[], float]:
    import pufferlib.vector  # imports torch: only when asked for

    kwargs = {"num_workers": workers, "overwork": True} if backend == "Multiprocessing" else {}
    env = pufferlib.vector.make(MettaGridEnv, backend=getattr(pufferlib.vector, backend), num_envs=workers,
                                env_kwargs={"config": config, "num_envs": games_per_env}, **kwargs)
    actions = np.random.default_rng(0).integers(0, env.single_action_space.n, (steps, env.num_agents), dtype=np.int32)

    started = []

    def run() -> float:
        # Reset once: pufferlib-core 3.0.23's Multiprocessing.reset deadlocks when the step before it returned
        # infos (it reads the already-read infos pipe again), so repeats continue the same episodes.
        if not started:
            env.reset(seed=0)
            started.append(True)
        start = time.perf_counter()
        for t in range(steps):
            env.step(actions[t])
        return steps * env.num_agents / (time.perf_counter() - start)

    run.close = env.close  # type: ignore[attr-defined]
    return run


def _print_row(r: Result) -> None:
    print(f"{r.interface:<40} {r.game:<11} {r.games:>5} {r.agent_steps_per_s:>14,.0f} {r.ratio:>9.2f}", flush=True)


def run_benchmarks(steps: int = 2000, repeats: int = 3, games: int = 8, puffer: bool = True,
                   report: Callable[[Result], None] = _print_row) -> list[Result]:
    """Measures every interface against the native env; reports each row as it is measured and returns them."""
    arena = make_config("arena")
    nav = make_config("navigation")
    results: list[Result] = []

    def keep(result: Result) -> None:
        results.append(result)
        report(result)

    def add(interface: str, game: str, n_games: int, fn: Callable[[], float], native: float) -> None:
        sps = _best(fn, repeats)
        keep(Result(interface, game, n_games, sps, sps / native))

    native_arena = _best(_native(arena, 1, steps), repeats)
    keep(Result("native MettaGridEnv", "arena", 1, native_arena, 1.0))
    add("PettingZoo ParallelEnv", "arena", 1, _parallel(arena, steps), native_arena)
    add("PettingZoo AEC (parallel_to_aec)", "arena", 1, _aec(arena, max(1, steps // 4)), native_arena)
    add("Gymnasium VectorEnv (make_vec)", "arena", 1, _vector(arena, 1, steps), native_arena)

    native_many = _best(_native(arena, games, steps), repeats)
    keep(Result("native MettaGridEnv", "arena", games, native_many, 1.0))
    add("Gymnasium VectorEnv (make_vec)", "arena", games, _vector(arena, games, steps), native_many)
    if puffer:
        add("PufferLib Serial (2 envs)", "arena", games, _puffer(arena, "Serial", 2, games // 2, steps), native_many)
        # PufferLib's workers and main process busy-wait: leave a core for the main process.
        free = max(1, (os.cpu_count() or 2) - 1)
        workers = max(w for w in range(1, games + 1) if games % w == 0 and w <= free)
        fn = _puffer(arena, "Multiprocessing", workers, games // workers, steps)
        try:
            add(f"PufferLib Multiprocessing ({workers} worker{'s' if workers > 1 else ''})", "arena", games, fn,
                native_many)
        finally:
            fn.close()  # type: ignore[attr-defined]

    native_nav = _best(_native(nav, 1, steps * 4), repeats)
    keep(Result("native MettaGridEnv", "navigation", 1, native_nav, 1.0))
    add("Gymnasium Env (make)", "navigation", 1, _gym(nav, steps * 4), native_nav)
    add("PettingZoo ParallelEnv", "navigation", 1, _parallel(nav, steps * 4), native_nav)
    return results


def _commit() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> list[Result]:
    """Runs the benchmark and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="env steps per measurement (navigation: 4x)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per row; the best is kept")
    parser.add_argument("--games", type=int, default=8, help="games for the many-games rows (even)")
    parser.add_argument("--no-puffer", action="store_true", help="skip the PufferLib rows (they import torch)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.games < 2 or args.games % 2:
        parser.error("--steps and --repeats must be >= 1 and --games an even number >= 2")
    puffer = not args.no_puffer
    if puffer:
        try:
            import pufferlib.vector  # noqa: F401
        except ImportError:
            print("pufferlib is not installed: skipping the PufferLib rows", file=sys.stderr)
            puffer = False

    print(f"# adapter overhead: commit {_commit()}, {platform.platform()}, python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {args.steps} steps, best of {args.repeats}")
    print(f"{'interface':<40} {'game':<11} {'games':>5} {'agent-steps/s':>14} {'vs native':>9}", flush=True)
    return run_benchmarks(args.steps, args.repeats, args.games, puffer)


if __name__ == "__main__":
    main()
