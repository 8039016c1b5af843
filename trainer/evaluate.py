"""Evaluation: run a policy (or uniformly random actions) for a number of episodes and report their returns and stats."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from mettagrid import MettaGridEnv
from mettagrid.config import GameConfig
from trainer.config import EnvConfig
from trainer.env import make_environment
from trainer.experience import summarize_episodes, unwrap

__all__ = ["eval_policy", "eval_random"]


def _as_env(env: MettaGridEnv | EnvConfig | GameConfig | str, num_episodes: int, num_envs: int | None,
            seed: int) -> MettaGridEnv:
    if isinstance(env, MettaGridEnv):
        return env
    n = num_envs or min(num_episodes, 16)
    if isinstance(env, EnvConfig):
        return make_environment(env, seed=seed, num_envs=n)
    if isinstance(env, (GameConfig, str)):
        return MettaGridEnv(env, num_envs=n, seed=seed)
    raise TypeError(f"env must be a MettaGridEnv, EnvConfig, GameConfig or preset name, got {type(env).__name__}")


def _report(infos: list[dict[str, Any]], num_episodes: int) -> dict[str, Any]:
    infos = infos[:num_episodes]
    returns = [float(i["episode_return"]) for i in infos]
    lengths = [int(i["episode_length"]) for i in infos]
    return {
        "episode_returns": returns,
        "episode_lengths": lengths,
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "mean_length": float(np.mean(lengths)),
        "stats": summarize_episodes(infos),
    }


@torch.no_grad()
def eval_policy(policy: nn.Module, env: MettaGridEnv | EnvConfig | GameConfig | str, num_episodes: int = 10,
                device: torch.device | str | None = None, deterministic: bool = False, seed: int = 12345,
                num_envs: int | None = None) -> dict[str, Any]:
    """Runs `num_episodes` episodes (returns are per-game means over agents); returns them, their lengths and mean stats.

    `env` may be a MettaGridEnv (reset here) or a config / preset name to build one from. Actions are sampled
    unless `deterministic` (argmax).
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes = {num_episodes}, expected >= 1")
    policy = unwrap(policy)
    device = torch.device(device) if device is not None else next(policy.parameters()).device
    env = _as_env(env, num_episodes, num_envs, seed)
    obs, _ = env.reset(seed)
    state = policy.initial_state(env.num_agents, device)
    dones = torch.ones(env.num_agents, 1, device=device)
    infos: list[dict[str, Any]] = []
    while len(infos) < num_episodes:
        out = policy(torch.from_numpy(obs).to(device).unsqueeze(1), state, dones)
        state = out.state
        logits = out.logits[:, 0]
        actions = logits.argmax(-1) if deterministic else torch.distributions.Categorical(logits=logits).sample()
        obs, _, terminals, truncations, step_infos = env.step(actions.to(torch.int32).cpu().numpy())
        dones = torch.from_numpy(terminals | truncations).to(device=device, dtype=torch.float32).unsqueeze(1)
        infos.extend(step_infos)
    return _report(infos, num_episodes)


def eval_random(env: MettaGridEnv | EnvConfig | GameConfig | str, num_episodes: int = 10, seed: int = 12345,
                num_envs: int | None = None) -> dict[str, Any]:
    """The same report as eval_policy for uniformly random actions (the baseline a trained policy must beat)."""
    env = _as_env(env, num_episodes, num_envs, seed)
    env.reset(seed)
    rng = np.random.default_rng(seed)
    infos: list[dict[str, Any]] = []
    while len(infos) < num_episodes:
        actions = rng.integers(0, env.single_action_space.n, env.num_agents, dtype=np.int32)
        infos.extend(env.step(actions)[4])
    return _report(infos, num_episodes)
