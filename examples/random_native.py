"""Random agents on the native vectorized env: many games stepped in one C++ call, buffers owned by Python."""

import argparse
import time

import numpy as np

from mettagrid import MettaGridEnv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--games", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    env = MettaGridEnv("arena", num_envs=args.games, num_threads=args.threads)
    observations, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, env.single_action_space.n, (args.steps, env.num_agents), dtype=np.int32)
    start = time.perf_counter()
    finished = 0
    for t in range(args.steps):
        observations, rewards, terminals, truncations, infos = env.step(actions[t])
        finished += len(infos)
    elapsed = time.perf_counter() - start
    print(f"native: {args.games} games x {env.agents_per_env} agents, {args.steps} steps, "
          f"{args.steps * env.num_agents / elapsed:,.0f} agent-steps/s, {finished} episodes finished")


if __name__ == "__main__":
    main()
