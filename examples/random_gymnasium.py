"""Random agents through the Gymnasium interfaces: a single-agent id with gymnasium.make, a multi-agent id
with gymnasium.make_vec (one sub-env per agent)."""

import argparse

import gymnasium
import numpy as np

import mettagrid  # noqa: F401  (registers the mettagrid/ ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000, help="steps for each env")
    args = parser.parse_args()

    env = gymnasium.make("mettagrid/Navigation-v0")
    observation, info = env.reset(seed=0)
    episodes, total = 0, 0.0
    for _ in range(args.steps):
        observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
        total += reward
        if terminated or truncated:
            episodes += 1
            print(f"Navigation-v0: episode return {info['episode_return']:.2f}, length {info['episode_length']}")
            observation, info = env.reset()
    print(f"Navigation-v0: {args.steps} steps, {episodes} episodes, reward {total:.2f}")
    env.close()

    envs = gymnasium.make_vec("mettagrid/Arena-v0", num_envs=2, max_steps=max(1, args.steps // 2))
    observations, infos = envs.reset(seed=0)
    print(f"Arena-v0 vector: {envs.num_envs} sub-envs (2 games x 24 agents), observations {observations.shape}")
    for _ in range(args.steps):
        observations, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
        if "final_info" in infos:
            done = infos["_final_info"]
            print(f"Arena-v0 vector: {int(done.sum())} sub-envs finished, mean return "
                  f"{np.mean(infos['final_info']['episode_return'][done]):.3f}")
    envs.close()


if __name__ == "__main__":
    main()
