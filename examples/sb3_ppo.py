"""Stable-Baselines3 PPO on a Gymnasium id: trains until it has learned (300k steps by default, one or two CPU
minutes), then compares the trained policy with uniformly random actions on the same seeded episodes.

The training env is SB3's own VecEnv over `gymnasium.make(env_id)` (`make_vec_env`, 8 envs). Observations are
200 uint8 tokens `[location, feature id, value]` (docs/GAME.md), which an MLP over the flattened array learns
poorly from, so the policy gets a short features extractor: each token becomes
ReLU(where[location, feature] + what[feature, value]) and the tokens are summed (the same bag of tokens as
examples/cleanrl_ppo.py). Needs stable-baselines3 (pip install stable-baselines3; it uses torch)."""

import argparse
import warnings

import gymnasium
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

import mettagrid  # noqa: F401  (registers the mettagrid/ ids)
from mettagrid.env import PADDING_LOCATION as PADDING  # the location byte of padding tokens

MAX_FEATURES = 32  # feature ids are below 32 in these games


class TokenBag(BaseFeaturesExtractor):
    """(B, tokens, 3) tokens -> (B, features_dim): each token embedded, through a ReLU, summed over tokens."""

    def __init__(self, observation_space: gymnasium.spaces.Box, features_dim: int = 64) -> None:
        super().__init__(observation_space, features_dim)
        self.where = nn.Embedding(256 * MAX_FEATURES, features_dim)  # (location, feature id)
        self.what = nn.Embedding(MAX_FEATURES * 256, features_dim)  # (feature id, value)
        for table in (self.where, self.what):
            nn.init.normal_(table.weight, std=0.1)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        used = max(1, int((observations[:, :, 0] != PADDING).sum(1).max()))  # padding only follows real tokens
        location, feature, value = observations[:, :used].long().unbind(-1)  # SB3 hands over floats 0..255
        feature = feature.clamp(max=MAX_FEATURES - 1)
        tokens = torch.relu(self.where(location * MAX_FEATURES + feature) + self.what(feature * 256 + value))
        return (tokens * (location != PADDING).unsqueeze(-1)).sum(1)


def mean_return(env: gymnasium.Env, act, episodes: int, seed: int) -> float:
    """Mean return of `episodes` episodes, episode i reset with seed + i."""
    env.action_space.seed(seed)
    torch.manual_seed(seed)  # SB3 samples actions with torch's global generator
    returns = []
    for episode in range(episodes):
        observation, info = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            observation, reward, terminated, truncated, info = env.step(act(observation))
            total += reward
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300_000, help="training steps (all envs together)")
    parser.add_argument("--envs", type=int, default=8, help="envs in SB3's DummyVecEnv")
    parser.add_argument("--episodes", type=int, default=32, help="seeded evaluation episodes per policy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-id", default="mettagrid/Navigation-v0")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (small batches gain little from more and lose a lot on busy cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with warnings.catch_warnings():  # it advises flattening the (200, 3) tokens or a custom policy: TokenBag is one
        warnings.filterwarnings("ignore", message="Your observation.*unconventional shape")
        check_env(gymnasium.make(args.env_id))  # SB3's own checker agrees with the env's spaces and return types
    venv = make_vec_env(args.env_id, n_envs=args.envs, seed=args.seed)  # DummyVecEnv of Monitor(gymnasium.make(id))
    n_steps = min(256, max(16, args.steps // args.envs))
    model = PPO("MlpPolicy", venv, learning_rate=1e-3, n_steps=n_steps, batch_size=min(512, n_steps * args.envs),
                n_epochs=4, ent_coef=0.01, policy_kwargs={"features_extractor_class": TokenBag, "net_arch": [128]},
                seed=args.seed, verbose=0, device="cpu")
    model.set_logger(Logger(folder=None, output_formats=[]))  # SB3's default logger makes a folder in /tmp per run
    print(f"sb3 ppo: training {args.steps} steps on {args.env_id} ...", flush=True)
    model.learn(total_timesteps=args.steps)
    venv.close()

    env = gymnasium.make(args.env_id)
    seed = args.seed + 10_000  # evaluation maps differ from the training ones
    random_return = mean_return(env, lambda obs: env.action_space.sample(), args.episodes, seed)
    deterministic_return = mean_return(env, lambda obs: model.predict(obs, deterministic=True)[0], args.episodes,
                                       seed)
    trained_return = mean_return(env, lambda obs: model.predict(obs, deterministic=False)[0], args.episodes, seed)
    env.close()
    print(f"sb3 ppo: trained {model.num_timesteps} steps with {args.envs} envs")
    note = ""
    if deterministic_return < trained_return / 2:
        note = " (argmax actions can get stuck, e.g. turning in place or facing a wall; PPO trains the sampled policy)"
    print(f"deterministic (argmax) return {deterministic_return:.2f}{note}")
    print(f"random return {random_return:.2f} -> trained return {trained_return:.2f} over {args.episodes} episodes")


if __name__ == "__main__":
    main()
