"""Random agents on a preset: prints the map and the steps per second.

    python -m mettagrid.demo [preset] [--envs N] [--threads T] [--seconds S]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mettagrid.env import MettaGridEnv
from mettagrid.presets import PRESETS

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Runs random agents and reports agent-steps per second."""
    parser = argparse.ArgumentParser(prog="python -m mettagrid.demo", description=__doc__.splitlines()[0])
    parser.add_argument("preset", nargs="?", default="arena", choices=sorted(PRESETS))
    parser.add_argument("--envs", type=int, default=16, help="games stepped per call")
    parser.add_argument("--threads", type=int, default=1, help="C++ threads")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    env = MettaGridEnv(args.preset, num_envs=args.envs, num_threads=args.threads, seed=args.seed, render_mode="ansi")
    env.reset(seed=args.seed)
    print(env.render())
    print(f"\n{args.preset}: {env.num_envs} games x {env.agents_per_env} agents, actions: {env.action_names()}")
    actions = np.random.default_rng(args.seed).integers(0, env.single_action_space.n, size=(256, env.num_agents),
                                                        dtype=np.int32)
    steps, episodes, returns = 0, 0, []
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        for a in actions:
            *_, infos = env.step(a)
            episodes += len(infos)
            returns += [i["episode_return"] for i in infos]
        steps += len(actions)
    elapsed = time.perf_counter() - start
    print(env.render())
    mean_return = f"{np.mean(returns):.3f}" if returns else "n/a"
    print(f"\n{steps * env.num_agents / elapsed:,.0f} agent-steps/s ({steps / elapsed:,.0f} env steps/s, "
          f"{args.threads} thread(s)); {episodes} episodes finished, mean return {mean_return}")


if __name__ == "__main__":
    main()
