"""metta-gridworld: a fast C++ multi-agent grid world for reinforcement learning."""

from typing import Any

from mettagrid.config import GameConfig, load_config
from mettagrid.env import MettaGridEnv, feature_spec
from mettagrid.gym_env import MettaGridGymEnv, MettaGridVectorEnv
from mettagrid.presets import PRESETS, arena, arena_combat, make_config, navigation, navigation_maze, teams
from mettagrid.registration import ENV_IDS, register_envs

__all__ = [
    "ENV_IDS",
    "PRESETS",
    "GameConfig",
    "MettaGridEnv",
    "MettaGridGymEnv",
    "MettaGridParallelEnv",
    "MettaGridVectorEnv",
    "aec_env",
    "arena",
    "arena_combat",
    "feature_spec",
    "load_config",
    "make_config",
    "navigation",
    "navigation_maze",
    "parallel_env",
    "teams",
]
__version__ = "0.1.0"

register_envs()

# The PettingZoo interface needs the optional `pettingzoo` package, so it is imported on first use.
_LAZY = {"MettaGridParallelEnv": "mettagrid.pettingzoo_env", "aec_env": "mettagrid.pettingzoo_env",
         "parallel_env": "mettagrid.pettingzoo_env"}


def __getattr__(name: str) -> Any:
    """Imports the PettingZoo interface on first use of its names."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mettagrid' has no attribute {name!r}")
