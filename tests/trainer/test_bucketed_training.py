"""The trainer's bucketed curriculum: EnvConfig.buckets, its wiring, the navigation_bucketed recipe, the metrics."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import trainer.train as tt
from tiny_run import tiny_config
from mettagrid.curriculum import BucketedCurriculum, LearningProgressCurriculum, RandomCurriculum
from mettagrid.presets import navigation
from trainer.config import BucketRangeConfig, ConfigError, CurriculumTaskConfig, EnvConfig, apply_overrides
from trainer.env import make_curriculum, make_environment
from trainer.metrics import MetricsLogger
from trainer.recipes import RECIPES, get_recipe

RECIPE_TASKS = [f"size={s},num_altars={a},layout={lay}"
                for s, a, lay in itertools.product([11, 15, 21], [1, 2, 4], ["room", "maze"])]


def test_env_buckets_build_a_bucketed_curriculum_with_env_game_applied() -> None:
    cfg = EnvConfig(num_envs=4, game={"max_steps": 30}, buckets={
        "size": [11, 15], "num_altars": BucketRangeConfig(range=(1, 4), bins=2)})
    curriculum = make_curriculum(cfg)
    assert isinstance(curriculum, BucketedCurriculum) and isinstance(curriculum.curriculum, RandomCurriculum)
    assert list(curriculum.tasks()) == ["size=11,num_altars=1..2", "size=11,num_altars=3..4",
                                        "size=15,num_altars=1..2", "size=15,num_altars=3..4"]
    expected = navigation(size=15, num_altars=3, max_steps=30).model_copy(update={"desync_episodes": True})
    assert curriculum.tasks()["size=15,num_altars=3..4"] == expected
    assert not make_curriculum(cfg.model_copy(update={"desync_episodes": False})).tasks()[
        "size=11,num_altars=1..2"].desync_episodes
    lp = make_curriculum(cfg.model_copy(update={"curriculum_algorithm": "learning_progress"}))
    assert isinstance(lp.curriculum, LearningProgressCurriculum)
    env = make_environment(cfg, seed=1)
    assert env.curriculum.tasks().keys() == curriculum.tasks().keys()


def test_buckets_from_the_command_line_and_yaml() -> None:
    cfg = apply_overrides(get_recipe("navigation"), ["env.buckets.size=[11, 15]",
                                                     "env.buckets.num_altars={range: [1, 4], bins: 2}",
                                                     "env.curriculum_algorithm=learning_progress", "env.num_envs=4"])
    assert cfg.env.buckets == {"size": [11, 15], "num_altars": BucketRangeConfig(range=(1, 4), bins=2)}
    assert list(make_curriculum(cfg.env).tasks())[1] == "size=11,num_altars=3..4"
    again = type(cfg).model_validate(__import__("yaml").safe_load(cfg.to_yaml()))
    assert again.env.buckets == cfg.env.buckets


def test_bad_buckets_are_config_errors_naming_the_bucket() -> None:
    with pytest.raises(ConfigError, match=r"env.buckets: BucketedCurriculum: bucket 'altars': unknown option"):
        make_environment(EnvConfig(num_envs=2, buckets={"altars": [1, 2]}))
    with pytest.raises(ConfigError, match=r"env.buckets: .*bucket 'num_agents' = 2 .*num_agents = 2"):
        make_environment(EnvConfig(num_envs=2, buckets={"num_agents": [1, 2]}))
    with pytest.raises(ConfigError, match=r"env.buckets: .*bucket 'size': range = \[20, 10\]"):
        make_environment(EnvConfig(num_envs=2, buckets={"size": {"range": [20, 10], "bins": 2}}))
    with pytest.raises(ValueError, match="buckets is empty"):
        EnvConfig(buckets={})
    with pytest.raises(ValueError, match="curriculum and buckets are both set"):
        EnvConfig(buckets={"size": [11]}, curriculum={"a": CurriculumTaskConfig()})
    with pytest.raises(ValueError, match="bins"):
        EnvConfig(buckets={"size": {"range": [10, 20], "bins": 0}})
    with pytest.raises(ValueError, match="extra"):
        EnvConfig(buckets={"size": {"range": [10, 20], "bins": 2, "step": 1}})


def test_navigation_bucketed_recipe() -> None:
    assert RECIPES["navigation_bucketed"] is not None
    cfg = get_recipe("navigation_bucketed")
    assert cfg.run == "navigation_bucketed" and cfg.env.curriculum_algorithm == "learning_progress"
    curriculum = make_curriculum(cfg.env)
    assert list(curriculum.tasks()) == RECIPE_TASKS
    assert isinstance(curriculum.curriculum, LearningProgressCurriculum)


def test_navigation_bucketed_trains_with_per_bucket_metrics(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, run="bucketed")
    cfg.env.buckets = get_recipe("navigation_bucketed").env.buckets
    cfg.env.curriculum_algorithm = "learning_progress"
    cfg.env.game = {"max_steps": 16}
    cfg.env.desync_episodes = False  # every episode is 16 steps long
    result = tt.train(cfg)
    assert result["policy_uri"].endswith("bucketed:v2.safetensors")
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if "policy_loss" in r]
    assert [r["epoch"] for r in train_records] == [1, 2]
    for r in train_records:
        assert r["episodes"] > 0 and np.isfinite(r["policy_loss"])
        counts = {k[5:-len("/episodes")]: v for k, v in r.items() if k.startswith("task/") and k.endswith("/episodes")}
        assert counts and set(counts) <= set(RECIPE_TASKS) and sum(counts.values()) == r["episodes"]
        for task in counts:
            assert r[f"task/{task}/episode_length"] == 16 and np.isfinite(r[f"task/{task}/episode_return"])
        probs = {k[len("curriculum/"):]: v for k, v in r.items() if k.startswith("curriculum/")}
        assert list(probs) == RECIPE_TASKS and sum(probs.values()) == pytest.approx(1)


def _render(logger: MetricsLogger) -> str:
    console = Console(record=True, width=140)
    console.print(logger._render())
    return console.export_text()


def test_display_shows_every_bucket_when_few(tmp_path: Path) -> None:
    logger = MetricsLogger(tiny_config(tmp_path))
    logger.log({"epoch": 1, "agent_step": 128, "task/b/episodes": 2, "task/b/episode_return": 0.5,
                "task/a/episodes": 3, "task/a/episode_return": 1.25, "curriculum/a": 0.4, "curriculum/b": 0.6})
    assert logger.task_rows() == [("a", "3", "1.250", "0.400"), ("b", "2", "0.500", "0.600")]
    text = _render(logger)
    assert "p(draw)" in text and "1.250" in text and "0.600" in text
    assert "tasks 2 best a 1.250 worst b 0.500" in logger._line()
    logger.close()


def test_display_shows_best_and_worst_buckets_when_many(tmp_path: Path) -> None:
    logger = MetricsLogger(tiny_config(tmp_path))
    record = {"epoch": 1, "agent_step": 128}
    for i, name in enumerate(RECIPE_TASKS):
        record[f"task/{name}/episodes"] = i + 1
        record[f"task/{name}/episode_return"] = i / 10
        record[f"curriculum/{name}"] = 1 / 18
    record.pop(f"task/{RECIPE_TASKS[5]}/episode_return")  # a bucket without a return is not ranked
    logger.log(record)
    rows = logger.task_rows(limit=8)
    assert [r[0] for r in rows] == [RECIPE_TASKS[17], RECIPE_TASKS[16], RECIPE_TASKS[15], RECIPE_TASKS[14],
                                    "... 10 more", RECIPE_TASKS[3], RECIPE_TASKS[2], RECIPE_TASKS[1], RECIPE_TASKS[0]]
    assert rows[0][1:] == ("18", "1.700", "0.056")
    text = _render(logger)
    assert RECIPE_TASKS[17] in text and RECIPE_TASKS[8] not in text and "... 10 more" in text
    assert len(text.splitlines()) < 30  # the table does not flood the screen
    logger.close()


def test_task_names_are_never_markup(tmp_path: Path) -> None:
    logger = MetricsLogger(tiny_config(tmp_path))
    logger.log({"epoch": 1, "agent_step": 128, "task/[red]x[/red]/episodes": 1, "task/[red]x[/red]/episode_return": 2.0,
                "task/[b]y/episodes": 1, "task/[b]y/episode_return": 1.0})
    assert "[red]x[/red]" in _render(logger)
    console = Console(record=True, width=300)
    console.print(logger._line(), highlight=False)
    assert "best [red]x[/red] 2.000 worst [b]y 1.000" in console.export_text()
    logger.close()
