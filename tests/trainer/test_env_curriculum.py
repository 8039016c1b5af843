"""The trainer's curriculum option: EnvConfig.curriculum, its wiring in make_environment, and the recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import trainer.train as tt
from tiny_run import tiny_config
from trainer.config import ConfigError, CurriculumTaskConfig, EnvConfig
from trainer.env import make_environment
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
    result = tt.train(cfg)
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if "policy_loss" in r]
    assert [r["epoch"] for r in train_records] == [1, 2]
    assert all(r["episodes"] > 0 and np.isfinite(r["policy_loss"]) for r in train_records)
    assert result["policy_uri"].endswith("cur:v2.safetensors")
