"""Gymnasium ids under the ``mettagrid/`` namespace, registered when `mettagrid` is imported.

======================================  =========================================  ======  ===================
id                                      game                                       agents  gymnasium.make
======================================  =========================================  ======  ===================
``mettagrid/Navigation-v0``             ``navigation()``: find altars in a room       1    gymnasium.Env
``mettagrid/NavigationMaze-v0``         ``navigation_maze()``: find altars in a maze  1    gymnasium.Env
``mettagrid/Arena-v0``                  ``arena()``: 4 rooms, mine → battery → heart 24    make_vec only
``mettagrid/ArenaCombat-v0``            ``arena_combat()``: the arena with lasers    24    make_vec only
``mettagrid/Teams-v0``                  ``teams()``: red vs blue, shared rewards      8    make_vec only
======================================  =========================================  ======  ===================

Every id has a ``vector_entry_point``: ``gymnasium.make_vec(id, num_envs=N)`` gives a `MettaGridVectorEnv`
stepping N games in C++ with one sub-env per agent (N * agents sub-envs, `AutoresetMode.SAME_STEP`). The
single-agent ids also work with ``gymnasium.make`` (a `MettaGridGymEnv`). Keyword arguments of ``make`` and
``make_vec`` other than ``render_mode`` (and ``num_threads`` for ``make_vec``) go to the preset function, or set
GameConfig fields where the function has no such parameter (`mettagrid.resolve`), e.g.
``gymnasium.make("mettagrid/Navigation-v0", max_steps=100, size=11)``. ``gymnasium.make`` on a multi-agent id
raises an error that points to ``make_vec`` and ``mettagrid.parallel_env``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium

__all__ = ["ENV_IDS", "EnvId", "register_envs"]


@dataclass(frozen=True)
class EnvId:
    """One registered id: the preset it builds, with which options, and what it is."""

    preset: str
    agents: int
    description: str
    options: dict[str, Any] = field(default_factory=dict)


ENV_IDS: dict[str, EnvId] = {
    "mettagrid/Navigation-v0": EnvId("navigation", 1, "One agent finds altars (a heart each, reward 1) in a 15 x 15 "
                                     "room with walls; 200 steps."),
    "mettagrid/NavigationMaze-v0": EnvId("navigation_maze", 1, "One agent finds altars in a 15 x 15 maze; 200 steps."),
    "mettagrid/Arena-v0": EnvId("arena", 24, "24 agents in 4 rooms of 25 x 25: mine ore, make batteries, turn them "
                                "into hearts at altars; 1000 steps."),
    "mettagrid/ArenaCombat-v0": EnvId("arena_combat", 24, "The arena plus a lasery and an armory per room; attacks "
                                      "freeze and rob, armor blocks; 1000 steps."),
    "mettagrid/Teams-v0": EnvId("teams", 8, "Two teams of 4 (red, blue) in one room; each member shares half its "
                                "reward with its team; 1000 steps."),
}


def register_envs() -> None:
    """Registers every id in ENV_IDS with Gymnasium (ids already registered are left as they are)."""
    for env_id, spec in ENV_IDS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point="mettagrid.gym_env:MettaGridGymEnv",
            vector_entry_point="mettagrid.gym_env:MettaGridVectorEnv",
            kwargs={"config": spec.preset, **spec.options},
        )
