"""Map builders (ascii file and legend, random, maze, room grid), presets, and desynchronised first episodes."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import mettagrid
from mettagrid import MettaGridEnv
from mettagrid.config import AsciiMapBuilder, GameConfig, GroupConfig, MazeMapBuilder, RandomMapBuilder


def layout(env: MettaGridEnv, game: int = 0) -> np.ndarray:
    """The map as an array of names: object type names, 'agent', or '' for empty."""
    snap = env.grid_objects(game)
    grid = np.full((snap["height"], snap["width"]), "", dtype=object)
    names = env.object_type_names
    for t, r, c in zip(snap["object_type"], snap["object_row"], snap["object_col"]):
        grid[r, c] = names[t]
    for r, c in zip(snap["agent_row"], snap["agent_col"]):
        grid[r, c] = "agent"
    return grid


def maze_config(algorithm: str, size: int = 21, agents: int = 2, altars: int = 3) -> GameConfig:
    return GameConfig(num_agents=agents, map_builder=MazeMapBuilder(width=size, height=size, algorithm=algorithm,
                                                                    objects={"altar": altars}, agents=agents))


@pytest.mark.parametrize("algorithm", ["prim", "kruskal"])
def test_maze_is_a_perfect_maze(algorithm: str) -> None:
    env = MettaGridEnv(maze_config(algorithm))
    for seed in range(3):
        env.reset(seed=seed)
        grid = layout(env)
        open_cells = {(r, c) for r, c in zip(*np.nonzero(grid != "wall"))}
        cells = ((21 - 1) // 2) ** 2
        assert len(open_cells) == 2 * cells - 1  # a spanning tree: every cell plus one passage per tree edge
        assert all(r % 2 == 1 or c % 2 == 1 for r, c in open_cells)
        assert (grid[0, :] == "wall").all() and (grid[:, 0] == "wall").all()
        start = next(iter(open_cells))
        seen, todo = {start}, deque([start])
        while todo:
            r, c = todo.popleft()
            for nb in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if nb in open_cells and nb not in seen:
                    seen.add(nb)
                    todo.append(nb)
        assert seen == open_cells  # connected
        assert (grid == "agent").sum() == 2 and (grid == "altar").sum() == 3


def test_maze_algorithms_differ_and_are_seeded() -> None:
    prim, kruskal = MettaGridEnv(maze_config("prim")), MettaGridEnv(maze_config("kruskal"))
    prim.reset(seed=4)
    kruskal.reset(seed=4)
    assert not np.array_equal(layout(prim) == "wall", layout(kruskal) == "wall")
    again = MettaGridEnv(maze_config("prim"))
    again.reset(seed=4)
    assert np.array_equal(layout(prim), layout(again))


def test_random_builder_places_exact_counts_inside_a_border() -> None:
    cfg = GameConfig(num_agents=5, map_builder=RandomMapBuilder(width=12, height=9, border_width=2,
                                                                 objects={"mine_red": 4, "block": 3}, agents=5))
    env = MettaGridEnv(cfg)
    env.reset(seed=0)
    grid = layout(env)
    assert grid.shape == (9, 12)
    ring = np.ones((9, 12), dtype=bool)
    ring[2:-2, 2:-2] = False
    assert (grid[ring] == "wall").all() and (grid[~ring] != "wall").all()
    assert (grid == "mine_red").sum() == 4 and (grid == "block").sum() == 3 and (grid == "agent").sum() == 5


def test_random_builder_rejects_objects_that_do_not_fit() -> None:
    with pytest.raises(ValidationError, match="do not fit"):
        GameConfig(num_agents=1, map_builder=RandomMapBuilder(width=4, height=4, objects={"altar": 4}, agents=1))


def test_arena_room_grid_layout() -> None:
    env = MettaGridEnv("arena")
    env.reset(seed=0)
    grid = layout(env)
    assert grid.shape == (53, 53)
    for line in (0, 26, 52):
        assert (grid[line, :] == "wall").all() and (grid[:, line] == "wall").all()
    rooms = [grid[1 + 26 * i:26 + 26 * i, 1 + 26 * j:26 + 26 * j] for i in range(2) for j in range(2)]
    for room in rooms:
        assert room.shape == (25, 25)
        counts = {name: int((room == name).sum()) for name in ("agent", "mine_red", "generator_red", "altar", "block",
                                                               "wall")}
        assert counts == {"agent": 6, "mine_red": 10, "generator_red": 5, "altar": 5, "block": 20, "wall": 20}
    assert not np.array_equal(rooms[0], rooms[1])  # every room has its own seed


def test_ascii_map_from_a_file_with_a_legend(tmp_path: Path) -> None:
    path = tmp_path / "map.txt"
    path.write_text("xxxxx\nx@.2x\nx.m.x\nxxxxx\n")
    cfg = GameConfig(
        num_agents=2,
        groups={"red": GroupConfig(id=0), "blue": GroupConfig(id=5)},
        map_builder=AsciiMapBuilder(map_file=str(path), legend={"x": "wall", "2": "agent.blue"}),
    )
    env = MettaGridEnv(cfg)
    env.reset(seed=0)
    grid = layout(env)
    assert grid.shape == (4, 5)
    assert (grid[0] == "wall").all() and grid[2, 2] == "mine_red"
    snap = env.grid_objects()
    assert list(zip(snap["agent_row"], snap["agent_col"], snap["agent_group"])) == [(1, 1, 0), (1, 3, 1)]
    # The observer sees the other agent's group id (5), two cells to its right.
    tokens = env.observations[0]
    loc = (5 << 4) | 7
    assert [int(v) for l, f, v in tokens if l == loc and f == 1] == [5]


def test_ascii_legend_errors_name_the_problem() -> None:
    with pytest.raises(ValidationError, match="unknown map char 'q' at row 1, col 2"):
        GameConfig(num_agents=1, map_builder=AsciiMapBuilder(map_data=["###", "#@q"]))
    with pytest.raises(ValidationError, match="unknown object 'lava'"):
        GameConfig(num_agents=1, map_builder=AsciiMapBuilder(map_data=["#@z"], legend={"z": "lava"}))
    with pytest.raises(ValidationError, match="exactly one of map_data and map_file"):
        GameConfig(num_agents=1, map_builder=AsciiMapBuilder())


def test_desync_gives_first_episodes_random_lengths() -> None:
    cfg = mettagrid.navigation(max_steps=50)
    cfg.desync_episodes = True
    env = MettaGridEnv(cfg, num_envs=8)
    env.reset(seed=0)
    firsts = [env.episode_max_steps(i) for i in range(8)]
    assert all(1 <= n <= 50 for n in firsts) and len(set(firsts)) > 3
    lengths: dict[int, list[int]] = {i: [] for i in range(8)}
    for _ in range(max(firsts) + 50):
        *_, infos = env.step(np.zeros(env.num_agents, dtype=np.int32))
        for info in infos:
            lengths[info["env"]].append(info["episode_length"])
    for i in range(8):
        assert lengths[i][0] == firsts[i] and lengths[i][1] == 50  # later episodes have the full length
    env.reset(seed=0)
    assert [env.episode_max_steps(i) for i in range(8)] == firsts  # seeded


def test_teams_preset_shares_rewards_and_reports_group_returns() -> None:
    cfg = mettagrid.teams(agents_per_team=2, max_steps=3)
    env = MettaGridEnv(cfg)
    env.reset(seed=0)
    assert sorted(env.grid_objects()["agent_group"].tolist()) == [0, 0, 1, 1]
    *_, infos = env.step(np.zeros(4, dtype=np.int32))
    for _ in range(2):
        *_, infos = env.step(np.zeros(4, dtype=np.int32))
    assert infos and "group/red/episode_return" in infos[0] and "group/blue/episode_return" in infos[0]


@pytest.mark.parametrize("name", sorted(mettagrid.PRESETS))
def test_presets_build_and_step(name: str) -> None:
    env = MettaGridEnv(name, num_envs=2)
    env.reset(seed=0)
    acts = np.random.default_rng(0).integers(0, env.single_action_space.n, size=(20, env.num_agents), dtype=np.int32)
    for a in acts:
        env.step(a)
    assert env.current_step(1) == 20
