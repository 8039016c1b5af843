"""Stable-Baselines3 PPO on a Gymnasium id: a few thousand steps of training, then one evaluation episode.

Needs stable-baselines3 (pip install stable-baselines3; it uses torch)."""

import argparse

import gymnasium
from gymnasium.wrappers import FlattenObservation
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env

import mettagrid  # noqa: F401  (registers the mettagrid/ ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4096, help="training steps")
    parser.add_argument("--env-id", default="mettagrid/Navigation-v0")
    args = parser.parse_args()

    # Token observations are (tokens, 3) uint8; SB3's MLP policy wants a flat vector.
    env = FlattenObservation(gymnasium.make(args.env_id))
    check_env(env)  # SB3's own checker agrees with the env's spaces and return types
    n_steps = min(512, max(64, args.steps // 4))
    model = PPO("MlpPolicy", env, n_steps=n_steps, batch_size=64, n_epochs=4, seed=0, verbose=0, device="cpu")
    model.learn(total_timesteps=args.steps)

    observation, info = env.reset(seed=123)
    total, done = 0.0, False
    while not done:
        action, _ = model.predict(observation, deterministic=True)
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
        done = terminated or truncated
    print(f"sb3 ppo: trained {model.num_timesteps} steps on {args.env_id}; evaluation episode return {total:.2f}, "
          f"length {info['episode_length']}")
    env.close()


if __name__ == "__main__":
    main()
