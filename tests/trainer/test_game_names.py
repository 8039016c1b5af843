"""One name for one game: recipes, mettagrid presets, Gymnasium ids and `trainer.sim --env` agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from mettagrid import ENV_IDS, PRESETS, make_config, navigation, navigation_maze
from trainer.config import EnvConfig
from trainer.env import make_game_config
from trainer.recipes import RECIPES
from trainer.sim import _check_env


def test_every_recipe_game_and_gymnasium_id_is_a_preset() -> None:
    single = {name: fn() for name, fn in RECIPES.items() if fn().env.curriculum is None and fn().env.buckets is None}
    assert set(single) == {"navigation", "navigation_maze", "arena", "arena_combat"}
    for name, cfg in single.items():
        assert cfg.env.preset == name and cfg.env.game == {}, name  # the recipe's game is the preset of its name
        assert cfg.env.preset in PRESETS
    assert {spec.preset for spec in ENV_IDS.values()} <= set(PRESETS)
    assert all(spec.options == {} for spec in ENV_IDS.values())  # each id is a preset by name alone
    assert ENV_IDS["mettagrid/NavigationMaze-v0"].preset == "navigation_maze"
    assert ENV_IDS["mettagrid/Teams-v0"].preset == "teams"


def test_navigation_maze_is_the_maze_of_navigation() -> None:
    assert navigation_maze() == navigation(layout="maze")
    assert make_config("navigation_maze", size=11, max_steps=50) == navigation(layout="maze", size=11, max_steps=50)
    recipe = RECIPES["navigation_maze"]()
    assert make_game_config(recipe.env) == navigation(layout="maze").model_copy(update={"desync_episodes": True})


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_sim_env_accepts_every_preset(name: str) -> None:
    _check_env(name)
    make_game_config(EnvConfig(preset=name))


def test_sim_env_accepts_game_config_files(tmp_path: Path) -> None:
    path = tmp_path / "maze.json"
    path.write_text(navigation_maze(size=9).model_dump_json())
    _check_env(str(path))
    with pytest.raises(ValueError, match="--env navigation-maze: .*neither a preset"):
        _check_env("navigation-maze")
