"""The trainer's curriculum option: EnvConfig.curriculum, its wiring in make_environment, and the recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import trainer.train as tt
from tiny_run import tiny_config
from mettagrid.curriculum import LearningProgressCurriculum
from trainer.config import ConfigError, CurriculumTaskConfig, EnvConfig
from trainer.env import make_environment
from trainer.experience import summarize_episodes
from trainer.recipes import get_recipe


def test_env_config_curriculum_builds_tasks_with_their_overrides() -> None:
    cfg = get_recipe("navigation_curriculum").env.model_copy(update={"num_envs": 8})
    env = make_environment(cfg, seed=3)
    tasks = env.curriculum.tasks()
    assert sorted(tasks) == ["maze15", "room11", "room15", "room21"]
    assert tasks["room21"].map_builder.width == 21 and tasks["maze15"].map_builder.type == "maze"
    zeros = np.zeros(env.num_agents, dtype=np.int32)
    seen = set()
    for _ in range(2000):
        for info in env.step(zeros)[4]:
            seen.add(info["task"])
    assert seen == set(tasks)
    assert env.compile_count == 4


def test_bad_curriculum_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="weights"):
        EnvConfig(curriculum={"a": CurriculumTaskConfig(weight=0)})
    with pytest.raises(ConfigError, match="num_agents"):
        make_environment(EnvConfig(curriculum={"one": CurriculumTaskConfig(),
                                               "two": CurriculumTaskConfig(game={"num_agents": 2})}))
    with pytest.raises(ConfigError, match="bogus"):
        make_environment(EnvConfig(curriculum={"bogus": CurriculumTaskConfig(preset="no_such_preset")}))


def test_navigation_curriculum_recipe_trains(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, run="cur")
    cfg.env.curriculum = get_recipe("navigation_curriculum").env.curriculum
    cfg.env.game = {"max_steps": 16}
    cfg.env.desync_episodes = False  # every episode is 16 steps long (the first ones included)
    result = tt.train(cfg)
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if "policy_loss" in r]
    assert [r["epoch"] for r in train_records] == [1, 2]
    assert all(r["episodes"] > 0 and np.isfinite(r["policy_loss"]) for r in train_records)
    assert result["policy_uri"].endswith("cur:v2.safetensors")
    tasks = set(cfg.env.curriculum)
    for r in train_records:
        counts = {k.split("/")[1]: v for k, v in r.items() if k.startswith("task/") and k.endswith("/episodes")}
        assert set(counts) <= tasks and sum(counts.values()) == r["episodes"]
        for task in counts:
            assert r[f"task/{task}/episode_length"] == 16


def test_episode_summary_per_task() -> None:
    infos = [{"episode_return": 1.0, "episode_length": 10, "task": "a", "env": 0},
             {"episode_return": 3.0, "episode_length": 20, "task": "b", "env": 1},
             {"episode_return": 5.0, "episode_length": 30, "task": "a", "env": 2}]
    out = summarize_episodes(infos)
    assert out == {"episodes": 3, "episode_return": 3.0, "episode_length": 20.0,
                   "task/a/episodes": 2, "task/a/episode_return": 3.0, "task/a/episode_length": 20.0,
                   "task/b/episodes": 1, "task/b/episode_return": 3.0, "task/b/episode_length": 20.0}
    unnamed = summarize_episodes([{**i, "task": ""} for i in infos])
    assert not [k for k in unnamed if k.startswith("task/")]


def test_learning_progress_probabilities_by_hand() -> None:
    lp = LearningProgressCurriculum({"a": "navigation", "b": "navigation"}, fast=0.5, slow=0.25, explore=0.2,
                                    min_episodes=1)
    assert lp.probabilities() == {"a": 0.5, "b": 0.5}
    lp.update("a", 0.0)
    assert lp.probabilities() == {"a": 0.5, "b": 0.5}  # b has no episode yet
    lp.update("a", 1.0)  # scaled to 1: fast 0.5, slow 0.25
    lp.update("b", 5.0)
    lp.update("b", 5.0)  # no spread: no progress
    lp.update("nobody", 3.0)
    assert lp.probabilities() == pytest.approx({"a": 0.9, "b": 0.1})
    assert lp.counts.tolist() == [2, 2]
    rng = np.random.default_rng(0)
    draws = [lp.sample(rng).name for _ in range(4000)]
    assert abs(draws.count("a") / 4000 - 0.9) < 0.02
    for bad in ({"fast": 0.1, "slow": 0.2}, {"explore": 1.5}, {"min_episodes": 0}):
        with pytest.raises(ValueError, match="LearningProgressCurriculum"):
            LearningProgressCurriculum({"a": "navigation"}, **bad)


def test_learning_progress_in_the_env_and_the_trainer(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, run="lp")
    cfg.env.curriculum = get_recipe("navigation_curriculum").env.curriculum
    cfg.env.curriculum_algorithm = "learning_progress"
    cfg.env.game = {"max_steps": 16}

    def tasks_played(seed: int) -> tuple[list[str], list[int]]:
        env = make_environment(cfg.env, seed=seed)
        assert isinstance(env.curriculum, LearningProgressCurriculum)
        env.reset(seed)
        rng = np.random.default_rng(seed)
        played = []
        for _ in range(16 * 6):
            played += [i["task"] for i in env.step(rng.integers(0, 8, env.num_agents, dtype=np.int32))[4]]
        return played, env.curriculum.counts.tolist()

    played, counts = tasks_played(1)
    assert len(played) == 4 * 6 and sum(counts) == len(played)
    assert tasks_played(1) == (played, counts) and tasks_played(2)[0] != played

    tt.train(cfg)
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if "policy_loss" in r][-1]
    probs = {k: v for k, v in last.items() if k.startswith("curriculum/")}
    assert set(probs) == {f"curriculum/{t}" for t in cfg.env.curriculum} and sum(probs.values()) == pytest.approx(1)
