"""Small helpers shared by the mechanics tests: build a game from ascii rows and drive it by action name."""

from __future__ import annotations

from typing import Any

import numpy as np

from mettagrid.config import AsciiMapBuilder, GameConfig
from mettagrid.env import MettaGridEnv

ITEMS = ["ore_red", "ore_blue", "ore_green", "battery_red", "battery_blue", "battery_green", "heart", "armor",
         "laser", "blueprint"]
ITEM = {name: i for i, name in enumerate(ITEMS)}

# Feature ids, as in GAME.md's table.
F_TYPE, F_GROUP, F_FROZEN, F_ORIENT, F_COLOR, F_GLYPH, F_CONVERTING, F_SWAPPABLE = range(8)
F_COMPLETION, F_LAST_ACTION, F_LAST_REWARD = 8, 9, 10
F_INV = 16
GLOBAL_LOC = 0xFE
PAD = [0xFF, 0xFF, 0xFF]

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3


def config(rows: list[str], num_agents: int, **kw: Any) -> GameConfig:
    """A GameConfig on an inline ascii map; max_steps defaults to 1000."""
    kw.setdefault("max_steps", 1000)
    return GameConfig(num_agents=num_agents, map_builder=AsciiMapBuilder(map_data=rows), **kw)


class Sim:
    """A one-game env driven by action names; unspecified agents do noop."""

    def __init__(self, cfg: GameConfig, seed: int = 0) -> None:
        self.cfg = cfg
        self.env = MettaGridEnv(cfg)
        obs, _ = self.env.reset(seed=seed)
        self.obs = obs.copy()
        self.names = self.env.action_names()
        self.n = cfg.num_agents
        self.object_names = self.env.object_type_names

    def idx(self, name: str) -> int:
        return self.names.index(name)

    def step(self, acts: dict[int, str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list]:
        a = np.zeros(self.n, dtype=np.int32)
        for agent, name in (acts or {}).items():
            a[agent] = self.idx(name)
        obs, rew, term, trunc, infos = self.env.step(a)
        self.obs = obs.copy()
        return obs.copy(), rew.copy(), term.copy(), trunc.copy(), list(infos)

    # -- state views
    def g(self) -> dict[str, Any]:
        return self.env.grid_objects()

    def pos(self, agent: int) -> tuple[int, int]:
        g = self.g()
        return int(g["agent_row"][agent]), int(g["agent_col"][agent])

    def orient(self, agent: int) -> int:
        return int(self.g()["agent_orientation"][agent])

    def frozen(self, agent: int) -> int:
        return int(self.g()["agent_frozen"][agent])

    def inv(self, agent: int, item: str) -> int:
        return int(self.g()["agent_inventory"][agent, ITEM[item]])

    def inventory(self, agent: int) -> dict[str, int]:
        row = self.g()["agent_inventory"][agent]
        return {ITEMS[i]: int(v) for i, v in enumerate(row) if v}

    def obj_at(self, r: int, c: int) -> int | None:
        g = self.g()
        for o in range(len(g["object_type"])):
            if int(g["object_row"][o]) == r and int(g["object_col"][o]) == c:
                return o
        return None

    def obj_name_at(self, r: int, c: int) -> str | None:
        o = self.obj_at(r, c)
        return None if o is None else self.object_names[int(self.g()["object_type"][o])]

    def obj_inv(self, r: int, c: int, item: str) -> int:
        o = self.obj_at(r, c)
        assert o is not None, f"no object at ({r}, {c})"
        return int(self.g()["object_inventory"][o, ITEM[item]])

    def stat(self, name: str, agent: int) -> float:
        return float(self.env.episode_stats()["agent"][name][agent])

    def game_stat(self, name: str) -> float:
        return float(self.env.episode_stats()["game"][name])


def tokens(obs_row: np.ndarray) -> list[list[int]]:
    """The non-padding tokens of one agent's token observation."""
    out = []
    for t in obs_row.tolist():
        if t == PAD:
            continue
        out.append(t)
    return out


def cells_in_order(toks: list[list[int]]) -> list[tuple[int, list[list[int]]]]:
    """Groups consecutive tokens by location: [(location, sorted tokens of that run)]."""
    runs: list[tuple[int, list[list[int]]]] = []
    for t in toks:
        if runs and runs[-1][0] == t[0]:
            runs[-1][1].append(t)
        else:
            runs.append((t[0], [t]))
    return [(loc, sorted(ts)) for loc, ts in runs]
