"""The conversion of a config into the core's spec: done once per env, not during validation, and driven by the
core's own tables."""

from __future__ import annotations

from typing import Any

import gymnasium
import pytest

from mettagrid import MettaGridEnv, _core, make_config, spec_builder
from mettagrid.config import AsciiMapBuilder, GameConfig, MazeMapBuilder, RoomGridMapBuilder


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often configs are converted to a GameSpec and how often a spec is compiled, from here on."""
    seen = {"build_spec": 0, "CompiledSpec": 0}
    build, compiled = spec_builder.build_spec, _core.CompiledSpec

    def counting_build(cfg: GameConfig) -> Any:
        seen["build_spec"] += 1
        return build(cfg)

    def counting_compile(spec: Any) -> Any:
        seen["CompiledSpec"] += 1
        return compiled(spec)

    monkeypatch.setattr(spec_builder, "build_spec", counting_build)
    monkeypatch.setattr(_core, "CompiledSpec", counting_compile)
    return seen


@pytest.mark.parametrize("source", ["arena", "config", "dict"])
def test_building_an_env_converts_and_compiles_its_config_once(source: str, counts: dict[str, int]) -> None:
    config: Any = {"config": make_config("navigation"), "dict": make_config("teams").model_dump()}.get(source, source)
    counts.update(build_spec=0, CompiledSpec=0)  # making the config above converts nothing
    env = MettaGridEnv(config, num_envs=3)
    assert counts == {"build_spec": 1, "CompiledSpec": 1}
    env.reset(seed=1)
    env.set_game_config(1, env.config)  # the same config again: compiled already
    assert counts == {"build_spec": 1, "CompiledSpec": 1} and env.compile_count == 1


def test_validation_and_the_adapters_convert_nothing_more(counts: dict[str, int]) -> None:
    GameConfig(num_agents=2, map_builder=AsciiMapBuilder(map_data=["#####", "#@.@#", "#####"]))
    assert counts == {"build_spec": 0, "CompiledSpec": 0}
    gymnasium.make("mettagrid/Navigation-v0", max_steps=20)
    assert counts == {"build_spec": 1, "CompiledSpec": 1}


def test_the_spec_uses_the_core_tables() -> None:
    cfg = make_config("arena")
    cfg.actions.move_cardinal.enabled = True
    spec = cfg.to_spec()
    assert [a.kind for a in spec.actions] == [_core.ACTION_KINDS[family] for _, family, _ in cfg.actions.entries()]
    assert [n.kind for n in spec.map_nodes] == [_core.MAP_KINDS["room_grid"], _core.MAP_KINDS["random"]]
    assert spec.map_nodes[0].children == [1] and (spec.map_nodes[0].height, spec.map_nodes[0].width) == cfg.map_builder.size()
    maze = make_config("navigation_maze")
    maze.map_builder = MazeMapBuilder(width=9, height=9, algorithm="kruskal", objects={"altar": 1}, agents=1)
    node = maze.to_spec().map_nodes[0]
    assert (node.kind, node.algorithm) == (_core.MAP_KINDS["maze"], _core.MAZE_ALGORITHMS["kruskal"])


def test_ascii_cells_are_core_cell_codes() -> None:
    cfg = GameConfig(num_agents=2, groups={"red": {"id": 1}, "blue": {"id": 2}},
                     map_builder=RoomGridMapBuilder(rows=1, cols=1, border_width=0,
                                                    room=AsciiMapBuilder(map_data=["#1_", "2"])))
    room = cfg.to_spec().map_nodes[1]
    wall, altar = list(cfg.objects).index("wall"), list(cfg.objects).index("altar")
    assert (room.kind, room.height, room.width) == (_core.MAP_KINDS["ascii"], 2, 3)
    assert room.cells == [wall, _core.AGENT_CELL_BASE + 0, altar, _core.AGENT_CELL_BASE + 1, _core.EMPTY_CELL,
                          _core.EMPTY_CELL]
