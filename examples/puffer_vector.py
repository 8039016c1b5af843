"""PufferLib vectorization: worker processes each step many games of the native env in shared memory.

Needs pufferlib-core (pip install --no-deps pufferlib-core psutil; it imports torch)."""

import argparse
import os
import time

import numpy as np
import pufferlib.vector

from mettagrid import MettaGridEnv, make_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    # PufferLib's workers and main process busy-wait, so use fewer workers than cores (one on a 2-core machine).
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--games-per-worker", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=200, help="episode length, so that episodes finish")
    args = parser.parse_args()

    # MettaGridEnv is a native PufferEnv once pufferlib is imported: each worker process builds one, stepping
    # `games_per_worker` games in C++ straight into the shared-memory buffers PufferLib hands it.
    vecenv = pufferlib.vector.make(
        MettaGridEnv,
        backend=pufferlib.vector.Multiprocessing,
        num_envs=args.workers,
        num_workers=args.workers,
        overwork=True,  # allow more workers than physical cores on small machines
        env_kwargs={"config": make_config("arena", max_steps=args.max_steps), "num_envs": args.games_per_worker},
    )
    observations, infos = vecenv.reset(seed=0)
    print(f"puffer: {args.workers} workers x {args.games_per_worker} games x 24 agents = {vecenv.num_agents} rows, "
          f"observations {observations.shape}")
    rng = np.random.default_rng(0)
    n_actions = vecenv.single_action_space.n
    actions = rng.integers(0, n_actions, (args.steps, vecenv.num_agents), dtype=np.int32)
    episodes, returns = 0, []
    start = time.perf_counter()
    for t in range(args.steps):
        observations, rewards, terminals, truncations, infos = vecenv.step(actions[t])
        for info in infos:
            episodes += 1
            returns.append(info["episode_return"])
    elapsed = time.perf_counter() - start
    vecenv.close()
    mean = f"{np.mean(returns):.3f}" if returns else "n/a"
    print(f"puffer: {args.steps} steps, {args.steps * observations.shape[0] / elapsed:,.0f} agent-steps/s, "
          f"{episodes} episodes finished, mean episode return {mean}")


if __name__ == "__main__":
    main()
