"""GAME.md: the first episode of each game gets a random length in [1, max_steps], on by default for training."""

from __future__ import annotations

import numpy as np

from trainer import EnvConfig, eval_random, make_environment


def _first_ends(env_config: EnvConfig) -> list[int]:
    env = make_environment(env_config, seed=3)
    env.reset(seed=3)
    first: dict[int, int] = {}
    actions = np.zeros(env.num_agents, dtype=np.int32)
    for t in range(1, 51):
        for info in env.step(actions)[4]:
            first.setdefault(info["env"], t)
    return [first.get(g, -1) for g in range(env.num_envs)]


def test_training_envs_desync_first_episodes_by_default() -> None:
    config = EnvConfig(preset="navigation", game={"max_steps": 50}, num_envs=16)
    assert config.desync_episodes
    ends = _first_ends(config)
    assert all(1 <= t <= 50 for t in ends) and len(set(ends)) > 8  # random lengths in [1, max_steps]
    assert _first_ends(config) == ends  # seeded
    assert _first_ends(config.model_copy(update={"desync_episodes": False})) == [50] * 16


def test_desync_reaches_curriculum_tasks_and_spares_evaluations() -> None:
    config = EnvConfig(preset="navigation", game={"max_steps": 40}, num_envs=8,
                       curriculum={"a": {"game": {"size": 11}}, "b": {"game": {"size": 15}}})
    assert len(set(_first_ends(config))) > 3
    report = eval_random(EnvConfig(preset="navigation", game={"max_steps": 40}, num_envs=8), num_episodes=8, seed=1)
    assert report["episode_lengths"] == [40] * 8  # evaluations play whole episodes
