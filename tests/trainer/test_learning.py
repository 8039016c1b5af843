"""Evidence that PPO learns: navigation reward rises to >= 3x a random policy's on the same maps (slow test)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from trainer import eval_policy, eval_random, load_policy
from trainer.recipes import navigation
from trainer.train import train


def learn_navigation(train_dir: Path, total_timesteps: int, episodes: int = 64) -> dict[str, Any]:
    """Trains the navigation recipe on CPU, then evaluates it and a random policy on the same games."""
    cfg = navigation()
    cfg.train_dir, cfg.progress, cfg.device = str(train_dir), False, "cpu"
    cfg.total_timesteps = total_timesteps
    started = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - started
    policy = load_policy(result["policy_uri"])
    trained = eval_policy(policy, cfg.env, num_episodes=episodes, num_envs=16, seed=2024)
    random = eval_random(cfg.env, num_episodes=episodes, num_envs=16, seed=2024)
    return {"steps": result["agent_step"], "wall_s": wall, "sps": result["agent_step"] / wall,
            "random_reward": random["mean_return"], "trained_reward": trained["mean_return"]}


def test_learning_smoke(tmp_path: Path) -> None:
    batch = navigation().experience.batch_size
    figures = learn_navigation(tmp_path, total_timesteps=batch, episodes=16)
    assert figures["steps"] == batch and figures["trained_reward"] >= 0 and figures["random_reward"] >= 0


@pytest.mark.slow
def test_navigation_learns(tmp_path: Path) -> None:
    figures = learn_navigation(tmp_path, total_timesteps=500_000)
    print(f"\nnavigation learning: {figures}")
    assert figures["trained_reward"] >= 3.0 * figures["random_reward"], figures
